"""Recordings: a run captured to HDF5, written in SWMR mode by a writer thread.

Layout (format ``nca-world-recording``, version 1)::

    /                attrs: format, format_version, software (JSON of versions), seed, scenario (TOML
                     text), height, width, channels (JSON list of recorded state channels), dtype,
                     every, complete (False until the run ends normally)
    /models/<name>   each species' model file, embedded (see `agents.modelfile`)
    /frames          (N, H, W, len(channels)) uint8 (0..255 for 0..1) or float16, one frame a chunk,
                     compressed with LZ4 (HDF5 filter 32004; `import hdf5plugin` to read), gzip, lzf
                     or not at all
    /owner           (N, H, W) uint16, one frame a chunk, compressed the same way
    /step            (N,) int64: the step of each frame; written at each flush after the frames it
                     counts, so its length is the number of complete frames (frames and owner grow
                     ahead of it while a run is being written)
    /events          (E,) JSON records (fixed-width bytes), every applied event with its step
    /metrics         (M, 10) float64 rows of `sim.metrics.COLUMNS`, every step and organism
    /keyframes/state (K, H, W, C) float32, /keyframes/owner (K, H, W), /keyframes/step (K,),
    /keyframes/organisms (K,) JSON of the organism table, /keyframes/events_before (K,) how many
                     events were logged before it: enough to resume bit-exactly

All datasets exist before SWMR starts; afterwards the writer only appends. A reader can follow a
growing file, and a killed run leaves every frame up to the last flush.
"""

from __future__ import annotations

import json
import queue
import struct
import threading
import zlib
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # registers the LZ4 filter with HDF5 (readers need it too)
import lz4.block
import numba
import numpy as np

from agents.errors import RecordingError
from agents.modelfile import read_rule, write_rule
from agents.spec import Rule
from sim.core import PAD, RING
from sim.metrics import COLUMNS, metric_rows
from sim.world import Organism, World

FORMAT = "nca-world-recording"
VERSION = 1
EVENT_BYTES = 1024
OWNER_DTYPE = np.uint16  # organism numbers in frames (keyframes keep int32)
GZIP_LEVEL = 1


def recorded_channels(setting: str | list[int], world: World) -> list[int]:
    """The state channels a `record.channels` setting selects."""
    if isinstance(setting, list):
        return [int(c) for c in setting]
    if setting == "all":
        return list(range(world.channels))
    identity = max((rule.spec.identity_channels for rule in world.rules.values()), default=0)
    extra = list(range(world.channels - identity, world.channels)) if setting == "rgba+identity" else []
    return [0, 1, 2, 3, *extra]


def chunk_shape(height: int, width: int, channels: int | None = None) -> tuple[int, ...]:
    """One frame a chunk: a frame is read or written whole, and seeking costs one chunk."""
    return (1, height, width) if channels is None else (1, height, width, channels)


@numba.njit(cache=True, nogil=True, fastmath=True)
def encode_uint8(buffer, channels, height, width):
    """The chosen channels of a padded state buffer (`sim.core` layout) as an ``(H, W, n)``
    uint8 frame, ``round(clip(v, 0, 1) * 255)``: one channel row at a time (vectorised), then
    interleaved unless the row is empty."""
    n = len(channels)
    out = np.empty((height, width, n), np.uint8)
    row = np.empty((n, width), np.uint8)
    for y in range(height):
        any_set = 0
        for i in range(n):
            source = buffer[channels[i], RING + y]
            for x in range(width):
                v = min(max(source[PAD + x], np.float32(0.0)), np.float32(1.0))
                q = np.int32(v * np.float32(255.0) + np.float32(0.5))
                row[i, x] = q
                any_set |= q
        if any_set == 0:  # an empty row (most of a sparse world)
            out[y] = 0
            continue
        for x in range(width):
            for i in range(n):
                out[y, x, i] = row[i, x]
    return out


def encode_frame(buffer: np.ndarray, channels: np.ndarray, height: int, width: int, dtype: str) -> np.ndarray:
    """A frame as stored, ``(H, W, n)``: uint8 (0..255 for 0..1) or float16."""
    if dtype == "uint8":
        return encode_uint8(buffer, channels, height, width)
    interior = buffer[channels, RING : RING + height, PAD : PAD + width]
    return np.ascontiguousarray(interior.transpose(1, 2, 0), dtype=np.float16)


def lz4_chunk(data: np.ndarray) -> bytes:
    """`data` compressed as the HDF5 LZ4 filter (id 32004) stores a chunk: the total size
    (big-endian uint64), the block size (uint32), then one block: its size (uint32) and bytes."""
    raw = memoryview(np.ascontiguousarray(data)).cast("B")
    packed = lz4.block.compress(raw, store_size=False)
    if len(packed) >= len(raw):  # the filter stores an incompressible block as it is
        packed = raw.tobytes()
    return struct.pack(">QII", len(raw), len(raw), len(packed)) + packed


CODECS = {"lz4": hdf5plugin.LZ4(), "gzip": {"compression": "gzip", "compression_opts": GZIP_LEVEL},
          "lzf": {"compression": "lzf"}, "none": {}}
CHUNK_ENCODERS = {"lz4": lz4_chunk, "gzip": lambda data: zlib.compress(np.ascontiguousarray(data), GZIP_LEVEL)}


class Recorder:
    """Writes one recording; use as a context manager (an exception leaves ``complete`` False)."""

    def __init__(self, path: Path, world: World, *, scenario_text: str, channels: list[int],
                 dtype: str = "uint8", compression: str = "lz4", every: int = 1,
                 keyframe_every: int = 250, flush_every: int = 50,
                 prefix: tuple[Recording, int] | None = None) -> None:
        self.path, self.world, self.channels = path, world, channels
        self.dtype, self.compression, self.every = dtype, compression, every
        self.keyframe_every, self.flush_every = keyframe_every, flush_every
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = h5py.File(path, "w", libver="latest")
        self._create(scenario_text)
        self.frames = 0
        self.events_logged = 0
        if prefix is not None:
            self._copy_prefix(*prefix)
        self.file.swmr_mode = True
        self._datasets = {name: self.file[name] for name in ("frames", "owner")}
        self._allocated = self.frames  # frames and owner grow ahead, by `flush_every` frames
        self._steps: list[int] = []  # written at each flush, after the frames they count
        self._rows: list[np.ndarray] = []
        self._channel_index = np.array(channels, np.int64)
        self._reading: np.ndarray | None = None  # the state buffer the writer has yet to read
        self._read = threading.Event()
        self._read.set()
        self._queue: queue.Queue = queue.Queue(maxsize=64)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, name="nca-world-recorder", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ layout

    def _create(self, scenario_text: str) -> None:
        f, world = self.file, self.world
        h, w = world.height, world.width
        f.attrs.update({
            "format": FORMAT, "format_version": VERSION, "seed": world.seed, "scenario": scenario_text,
            "height": h, "width": w, "channels": json.dumps(self.channels), "dtype": self.dtype,
            "every": self.every, "complete": False,
            "software": json.dumps({p: version(p) for p in ("nca-world", "numpy", "numba", "h5py", "torch")}),
        })
        for name, rule in world.rules.items():
            write_rule(f.create_group(f"models/{name}"), rule)
        store = np.uint8 if self.dtype == "uint8" else np.float16
        codec = CODECS[self.compression]
        n = len(self.channels)
        f.create_dataset("frames", (0, h, w, n), store, maxshape=(None, h, w, n), chunks=chunk_shape(h, w, n), **codec)
        f.create_dataset("owner", (0, h, w), OWNER_DTYPE, maxshape=(None, h, w), chunks=chunk_shape(h, w), **codec)
        f.create_dataset("step", (0,), np.int64, maxshape=(None,), chunks=(1024,))
        f.create_dataset("events", (0,), f"S{EVENT_BYTES}", maxshape=(None,), chunks=(256,))
        f.create_dataset("metrics", (0, len(COLUMNS)), np.float64, maxshape=(None, len(COLUMNS)),
                         chunks=(4096, len(COLUMNS)))
        c = world.channels
        f.create_dataset("keyframes/state", (0, h, w, c), np.float32, maxshape=(None, h, w, c),
                         chunks=chunk_shape(h, w, c), **codec)
        f.create_dataset("keyframes/owner", (0, h, w), np.int32, maxshape=(None, h, w), chunks=chunk_shape(h, w),
                         **codec)
        f.create_dataset("keyframes/step", (0,), np.int64, maxshape=(None,), chunks=(256,))
        f.create_dataset("keyframes/events_before", (0,), np.int64, maxshape=(None,), chunks=(256,))
        f.create_dataset("keyframes/organisms", (0,), h5py.string_dtype(), maxshape=(None,), chunks=(256,))

    def _copy_prefix(self, original: Recording, at: int) -> None:
        """Start with everything `original` recorded up to step `at` (a fork)."""
        if original.channels != self.channels or original.dtype != self.dtype:
            raise RecordingError(f"{self.path}: a fork must record the same channels and dtype as {original.path}")
        f, source = self.file, original.file
        f.attrs["forked_from"] = json.dumps({"recording": str(original.path), "step": at})
        frames = int(np.searchsorted(original.steps, at, side="right"))
        for name in ("frames", "owner", "step"):
            f[name].resize(frames, axis=0)
            for i in range(frames):
                f[name][i] = source[name][i]
        self.frames = frames
        metrics = source["metrics"][()]
        metrics = metrics[metrics[:, 0] <= at]
        f["metrics"].resize(len(metrics), axis=0)
        f["metrics"][:] = metrics
        events = [raw for raw in source["events"][()] if json.loads(raw.rstrip(b"\0"))["step"] <= at]
        f["events"].resize(len(events), axis=0)
        if events:
            f["events"][:] = events
        self.events_logged = len(events)
        keyed = int(np.searchsorted(original.keyframe_steps, at, side="right"))
        for name in ("state", "owner", "step", "organisms", "events_before"):
            dataset = f[f"keyframes/{name}"]
            dataset.resize(keyed, axis=0)
            for i in range(keyed):
                dataset[i] = source[f"keyframes/{name}"][i]

    # ------------------------------------------------------------------ what the run calls

    def observe(self, world: World, *, in_place: bool = False) -> None:
        """Record the world at its current step: metrics always, a frame and a keyframe when due.

        The writer thread reads a copy of the recorded channels, or with `in_place` the state
        buffer itself while the world takes its next step into the other one: then the caller
        must call `before_change` before changing the world (`sim.runner.Run` does).
        """
        self._read.wait()
        step = world.step_count
        current, _ = world.padded()
        if in_place:
            source, channels, alpha = current, self._channel_index, 3
            self._reading = current
        else:
            needed = sorted({*self.channels, 3})
            source = current[needed]
            channels = np.array([needed.index(c) for c in self.channels], np.int64)
            alpha = needed.index(3)
        self._read.clear()
        self._put(("observe", step, source, channels, alpha, world.owner.astype(OWNER_DTYPE),
                   len(world.organisms), step % self.every == 0))
        if step % self.keyframe_every == 0:
            self.keyframe(world)

    def before_change(self, buffer: np.ndarray) -> None:
        """Wait until the writer has read `buffer`, if it was handed over by `observe` and is
        still unread: call before writing to a state buffer (a step, an event)."""
        if self._reading is buffer:
            self._read.wait()

    def keyframe(self, world: World) -> None:
        """A full-precision copy of the world, from which a run resumes bit-exactly."""
        organisms = json.dumps([asdict(o) for o in world.organisms])
        self._put(("keyframe", world.step_count, world.state_view().copy(), world.owner.copy(), organisms,
                   self.events_logged))

    def event(self, record: dict[str, Any]) -> None:
        """Log one applied event."""
        text = json.dumps(record).encode()
        if len(text) > EVENT_BYTES:
            raise RecordingError(f"{self.path}: event record longer than {EVENT_BYTES} bytes: {text[:80]!r}")
        self._put(("event", text))
        self.events_logged += 1

    def close(self, complete: bool) -> None:
        """Finish writing; `complete` marks a run that ended normally. Safe to call twice."""
        if self.file is None:
            return
        self._queue.put(None)
        self._thread.join()
        self.file.close()
        self.file = None  # type: ignore[assignment]
        if complete and self._error is None:
            with h5py.File(self.path, "r+") as f:
                f.attrs["complete"] = True
        if self._error is not None:
            raise RecordingError(f"{self.path}: writing failed: {self._error}") from self._error

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        self.close(complete=kind is None)

    # ------------------------------------------------------------------ the writer thread

    def _put(self, item: tuple) -> None:
        if self._error is not None:
            raise RecordingError(f"{self.path}: writing failed: {self._error}") from self._error
        self._queue.put(item)

    def _write_loop(self) -> None:
        try:
            done = False
            while not done:
                batch = [self._queue.get()]
                while len(batch) < 64 and not self._queue.empty():  # take what has piled up
                    batch.append(self._queue.get())
                done = batch[-1] is None
                self._write_batch([item for item in batch if item is not None])
            self._flush()
            self._trim()
        except BaseException as error:
            self._error = error
            self._read.set()  # never leave the run waiting
            while self._queue.get() is not None:  # drain so the run never blocks
                pass

    def _write_batch(self, batch: list[tuple]) -> None:
        """Write queued items in order: observations, events and keyframes."""
        for item in batch:
            if item[0] == "observe":
                self._write_observation(*item[1:])
            elif item[0] == "event":
                self._extend("events", np.array([item[1]], dtype=f"S{EVENT_BYTES}"))
            elif item[0] == "keyframe":
                self._write_keyframe(*item[1:])

    def _extend(self, name: str, rows: np.ndarray) -> None:
        dataset = self.file[name]
        n = dataset.shape[0]
        dataset.resize(n + len(rows), axis=0)
        dataset[n:] = rows

    def _write_observation(self, step: int, buffer: np.ndarray, channels: np.ndarray, alpha: int,
                           owner: np.ndarray, n_organisms: int, frame_due: bool) -> None:
        """Read the handed-over state (metrics, the frame), release it, then compress and write."""
        height, width = owner.shape
        alpha_plane = buffer[alpha, RING : RING + height, PAD : PAD + width]
        self._rows.append(metric_rows(step, owner, alpha_plane, n_organisms))
        frame = encode_frame(buffer, channels, height, width, self.dtype) if frame_due else None
        self._reading = None
        self._read.set()
        if frame is not None:
            self._write_frame(step, frame, owner)

    def _write_frame(self, step: int, frame: np.ndarray, owner: np.ndarray) -> None:
        index = self.frames
        if index >= self._allocated:
            self._allocated += self.flush_every
            for name in ("frames", "owner"):
                self._datasets[name].resize(self._allocated, axis=0)
        encoder = CHUNK_ENCODERS.get(self.compression)
        for name, data in (("frames", frame), ("owner", owner)):
            dataset = self._datasets[name]
            if encoder is not None:  # compress here (the codecs release the GIL), write the chunk as is
                dataset.id.write_direct_chunk((index,) + (0,) * data.ndim, encoder(data))
            else:
                dataset[index] = data
        self.frames += 1
        self._steps.append(step)
        if self.frames % self.flush_every == 0:
            self._flush()

    def _flush(self) -> None:
        """Append the pending metrics and frame steps (``step`` last: it counts complete frames)."""
        if self._rows:
            self._extend("metrics", np.concatenate(self._rows))
            self._rows = []
        if self._steps:
            self._extend("step", np.array(self._steps, np.int64))
            self._steps = []
        self.file.flush()

    def _trim(self) -> None:
        """Drop the frames allocated ahead but never written."""
        for name in ("frames", "owner"):
            self._datasets[name].resize(self.frames, axis=0)

    def _write_keyframe(self, step: int, state: np.ndarray, owner: np.ndarray, organisms: str,
                        events_before: int) -> None:
        self._extend("keyframes/events_before", np.array([events_before], np.int64))
        self._extend("keyframes/state", state[None])
        self._extend("keyframes/owner", owner[None])
        self._extend("keyframes/organisms", np.array([organisms], dtype=object))
        self._extend("keyframes/step", np.array([step], np.int64))
        self._flush()


@dataclass(frozen=True)
class Keyframe:
    """A full-precision snapshot: the world at `step` after that step's first `events_before` events."""

    step: int
    state: np.ndarray
    owner: np.ndarray
    organisms: list[Organism]
    events_before: int


class Recording:
    """A recording opened for reading (see `open_recording`); frames are read lazily."""

    def __init__(self, path: Path, file: h5py.File) -> None:
        self.path, self.file = path, file
        attrs = file.attrs
        self.seed = int(attrs["seed"])
        self.scenario_text = str(attrs["scenario"])
        self.channels: list[int] = json.loads(attrs["channels"])
        self.dtype = str(attrs["dtype"])
        self.height, self.width = int(attrs["height"]), int(attrs["width"])

    @property
    def complete(self) -> bool:
        """Whether the run ended normally."""
        return bool(self.file.attrs["complete"])

    def refresh(self) -> None:
        """See what a writer appended since (SWMR)."""
        for name in ("frames", "owner", "step", "events", "metrics", "keyframes/step"):
            self.file[name].refresh()

    def __len__(self) -> int:
        return int(self.file["step"].shape[0])

    @property
    def steps(self) -> np.ndarray:
        """Step of each complete frame."""
        return self.file["step"][: len(self)]

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as float32 ``(H, W, len(channels))`` in [0, 1] units."""
        if not 0 <= index < len(self):
            raise RecordingError(f"{self.path}: frame {index} out of range 0..{len(self) - 1}")
        raw = self.file["frames"][index]
        return raw.astype(np.float32) / 255.0 if self.dtype == "uint8" else raw.astype(np.float32)

    def owner(self, index: int) -> np.ndarray:
        """Owner map of frame `index`."""
        return self.file["owner"][index]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every applied event, in order."""
        return [json.loads(raw.rstrip(b"\0")) for raw in self.file["events"][()]]

    @property
    def metrics(self) -> np.ndarray:
        """All metric rows, columns as in `sim.metrics.COLUMNS`."""
        return self.file["metrics"][()]

    def metrics_frame(self):
        """The metrics as a pandas DataFrame with organism names."""
        import pandas as pd

        table = pd.DataFrame(self.metrics, columns=COLUMNS).astype({"step": int, "organism": int, "alive": int})
        names = {o["index"]: o["name"] for o in self.organisms_at_end()}
        table.insert(2, "name", table["organism"].map(names))
        return table

    def organisms_at_end(self) -> list[dict[str, Any]]:
        """The organism table of the last keyframe plus organisms spawned after it."""
        keyed = json.loads(self.file["keyframes/organisms"][-1]) if len(self.keyframe_steps) else []
        known = {o["name"] for o in keyed}
        spawned = [{"index": r["effect"]["index"], "name": r["event"]["name"], "species": r["event"]["species"]}
                   for r in self.events if r["event"]["kind"] == "spawn" and r["event"]["name"] not in known]
        return keyed + spawned

    @property
    def models(self) -> dict[str, Rule]:
        """The embedded rules of every species."""
        return {name: read_rule(group, f"{self.path}:/models/{name}") for name, group in self.file["models"].items()}

    @property
    def keyframe_steps(self) -> np.ndarray:
        """Steps that have a keyframe."""
        return self.file["keyframes/step"][()]

    def keyframe(self, index: int) -> Keyframe:
        """Keyframe `index`."""
        organisms = [Organism(**{**o, "identity": tuple(o["identity"]), "seed_cell": tuple(o["seed_cell"])})
                     for o in json.loads(self.file["keyframes/organisms"][index])]
        return Keyframe(int(self.file["keyframes/step"][index]), self.file["keyframes/state"][index],
                        self.file["keyframes/owner"][index], organisms,
                        int(self.file["keyframes/events_before"][index]))

    def close(self) -> None:
        """Close the file."""
        self.file.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


REQUIRED = ("frames", "owner", "step", "events", "metrics", "keyframes/state", "keyframes/step",
            "keyframes/events_before", "models")


def open_recording(path: str | Path) -> Recording:
    """Open a recording (also one still being written); a missing, foreign, newer or damaged
    file raises `RecordingError` with the reason."""
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such recording")
    try:
        try:
            file = h5py.File(path, "r", libver="latest", swmr=True)
        except OSError:
            file = h5py.File(path, "r")
    except OSError as error:
        raise RecordingError(f"{path}: not a readable HDF5 recording ({error})") from error
    try:
        form = file.attrs.get("format")
        if form != FORMAT:
            raise RecordingError(f"{path}: format: expected {FORMAT!r}, got {form!r}")
        version_found = file.attrs.get("format_version")
        if not isinstance(version_found, int | np.integer) or version_found > VERSION:
            raise RecordingError(f"{path}: format_version {version_found} is newer than this nca-world "
                                 f"reads ({VERSION}); upgrade nca-world")
        missing = [name for name in REQUIRED if name not in file]
        if missing:
            raise RecordingError(f"{path}: missing {', '.join(missing)} (truncated or damaged recording)")
        return Recording(path, file)
    except RecordingError:
        file.close()
        raise
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as error:
        file.close()
        raise RecordingError(f"{path}: damaged recording ({error})") from error

"""Recordings: a run captured to HDF5, written in SWMR mode as it goes.

Layout (format ``nca-world-recording``, version 2)::

    /                attrs: format, format_version, software (JSON of versions), seed, scenario (TOML
                     text), height, width, channels (JSON list of recorded state channels), dtype,
                     every, complete (False until the run ends normally)
    /models/<name>   each species' model file, embedded (see `agents.modelfile`)
    /frames          (N, len(channels), H, W) uint8 (0..255 for 0..1) or float16, one frame a chunk,
                     compressed with LZ4 (HDF5 filter 32004; `import hdf5plugin` to read), gzip, lzf
                     or not at all
    /owner           (N, H, W) uint16, one frame a chunk, compressed the same way
    /step            (N,) int64: the step of each frame; written at each flush after the frames it
                     counts, so its length is the number of complete frames (frames and owner grow
                     ahead of it while a run is being written)
    /events          (E,) JSON records (fixed-width bytes), every applied event with its step
    /metrics         (M, 10) float64 rows of `sim.metrics.COLUMNS`, every step and organism
    /keyframes/state (K, C, H, W) float32, /keyframes/owner (K, H, W) int32 (both byte-shuffled, then
                     compressed like the frames), /keyframes/step (K,),
    /keyframes/organisms (K,) JSON of the organism table, /keyframes/events_before (K,) how many
                     events were logged before it: enough to resume bit-exactly

All datasets exist before SWMR starts; afterwards the writer only appends. A reader can follow a
growing file, and a killed run leaves every frame up to the last flush. LZ4 chunks (the default)
are compressed in blocks of 32 KiB (`sim.chunks`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # registers the LZ4 filter with HDF5 (readers need it too)
import numpy as np

from agents.errors import RecordingError
from agents.modelfile import read_rule, write_rule
from agents.spec import Rule
from sim.chunks import Lz4Chunks, byte_shuffle
from sim.frames import take
from sim.metrics import COLUMNS
from sim.world import Organism, World

FORMAT = "nca-world-recording"
VERSION = 2  # 2: channel-planar frames and keyframes
EVENT_BYTES = 1024
DATASETS = ("frames", "owner", "step", "events", "metrics", "keyframes/state", "keyframes/owner", "keyframes/step",
            "keyframes/events_before", "keyframes/organisms")
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
    return (1, height, width) if channels is None else (1, channels, height, width)


CODECS = {"lz4": hdf5plugin.LZ4(), "gzip": {"compression": "gzip", "compression_opts": GZIP_LEVEL},
          "lzf": {"compression": "lzf"}, "none": {}}


def gzip_chunk(data: np.ndarray) -> np.ndarray:
    """`data` as a chunk of HDF5's deflate filter."""
    return np.frombuffer(zlib.compress(data, GZIP_LEVEL), np.uint8)


CHUNK_ENCODERS = {"lz4": Lz4Chunks, "gzip": lambda: lambda *arrays: [gzip_chunk(a) for a in arrays]}


class Recorder:
    """Writes one recording as the run goes; use as a context manager (an exception leaves
    ``complete`` False).

    Everything is written on the caller's thread, between steps. The step keeps every core busy,
    so a writer thread could only take its time from the step (measured: no faster than this);
    instead the work of each step (metrics, quantising, compressing) runs in parallel numba
    kernels (`sim.frames`, `sim.chunks`) over the rows the organisms occupy.
    """

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
        self._datasets = {name: self.file[name] for name in DATASETS}  # looked up once: h5py's lookups are slow
        # where a dataset's chunks start, after the index along its growing axis
        self._chunk_rest = {name: (0,) * (len(d.shape) - 1) for name, d in self._datasets.items()}
        # frames (step, frame and owner payloads) and metric rows wait for the next flush: a frame only
        # counts once its step is written, and HDF5 takes a batch of chunks in a third of the time
        self._pending: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._rows: list[np.ndarray] = []
        self._encode = CHUNK_ENCODERS[compression]() if compression in CHUNK_ENCODERS else None  # for direct writes
        self._channel_index = np.array(channels, np.int64)
        self._frame = np.zeros((len(channels), world.height, world.width), np.uint8)
        self._owner = np.zeros((world.height, world.width), OWNER_DTYPE)
        self._written = np.zeros(world.height, np.uint8)  # rows of `_frame` and `_owner` not zero

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
        f.create_dataset("frames", (0, n, h, w), store, maxshape=(None, n, h, w), chunks=chunk_shape(h, w, n), **codec)
        f.create_dataset("owner", (0, h, w), OWNER_DTYPE, maxshape=(None, h, w), chunks=chunk_shape(h, w), **codec)
        f.create_dataset("step", (0,), np.int64, maxshape=(None,), chunks=(1024,))
        f.create_dataset("events", (0,), f"S{EVENT_BYTES}", maxshape=(None,), chunks=(256,))
        f.create_dataset("metrics", (0, len(COLUMNS)), np.float64, maxshape=(None, len(COLUMNS)),
                         chunks=(4096, len(COLUMNS)))
        c = world.channels
        keyed = {**codec, "shuffle": self.compression != "none"}  # bytes regrouped before compression
        f.create_dataset("keyframes/state", (0, c, h, w), np.float32, maxshape=(None, c, h, w),
                         chunks=chunk_shape(h, w, c), **keyed)
        f.create_dataset("keyframes/owner", (0, h, w), np.int32, maxshape=(None, h, w), chunks=chunk_shape(h, w),
                         **keyed)
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

    def observe(self, world: World) -> None:
        """Record the world at its current step: metrics always, a frame and a keyframe when due."""
        step = world.step_count
        frame_due = step % self.every == 0
        with self._writing():
            self._rows.append(take(step, world.padded(), self._channel_index, world.rows_in_use(), world.owner,
                                   len(world.organisms), frame_due, self.dtype == "uint8", self._frame,
                                   self._owner, self._written))
            if frame_due:
                frame = self._frame if self.dtype == "uint8" else world.planes()[self.channels].astype(np.float16)
                frame_payload, owner_payload = self._payloads(frame, self._owner)
                self._pending.append((step, frame_payload.copy(), owner_payload.copy()))
            if len(self._rows) >= self.flush_every:
                self._flush()
        if step % self.keyframe_every == 0:
            self.keyframe(world)

    def keyframe(self, world: World) -> None:
        """A full-precision copy of the world, from which a run resumes bit-exactly."""
        organisms = json.dumps([asdict(o) for o in world.organisms])
        with self._writing():
            self._extend("keyframes/events_before", np.array([self.events_logged], np.int64))
            state, owner = np.ascontiguousarray(world.planes()), world.owner
            if self._encode is not None:  # a direct chunk write applies the shuffle filter here
                state, owner = byte_shuffle(state), byte_shuffle(owner)
            state, owner = self._payloads(state, owner)
            self._append_chunk("keyframes/state", state)
            self._append_chunk("keyframes/owner", owner)
            self._extend("keyframes/organisms", np.array([organisms], dtype=object))
            self._extend("keyframes/step", np.array([world.step_count], np.int64))
            self._flush()

    def event(self, record: dict[str, Any]) -> None:
        """Log one applied event."""
        text = json.dumps(record).encode()
        if len(text) > EVENT_BYTES:
            raise RecordingError(f"{self.path}: event record longer than {EVENT_BYTES} bytes: {text[:80]!r}")
        with self._writing():
            self._extend("events", np.array([text], dtype=f"S{EVENT_BYTES}"))
        self.events_logged += 1

    def close(self, complete: bool) -> None:
        """Finish writing; `complete` marks a run that ended normally. Safe to call twice."""
        if self.file is None:
            return
        with self._writing():
            try:
                self._flush()
            finally:
                self.file.close()
                self.file = None  # type: ignore[assignment]
            if complete:
                with h5py.File(self.path, "r+") as f:  # SWMR writers cannot change attributes
                    f.attrs["complete"] = True

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        self.close(complete=kind is None)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """HDF5 failures (a full disk, a file removed under us) as `RecordingError`."""
        try:
            yield
        except OSError as error:
            raise RecordingError(f"{self.path}: writing failed: {error}") from error

    def _extend(self, name: str, rows: np.ndarray) -> None:
        """Append `rows` to dataset `name`: low-level calls for plain arrays (h5py's slicing
        costs ~0.1-0.3 ms a call), h5py's for strings."""
        dataset = self._datasets[name]
        n = dataset.id.shape[0]
        dataset.id.set_extent((n + len(rows), *rows.shape[1:]))
        if rows.dtype == object:
            dataset[n:] = rows
            return
        file_space = dataset.id.get_space()
        file_space.select_hyperslab((n,) + (0,) * (rows.ndim - 1), rows.shape)
        dataset.id.write(h5py.h5s.create_simple(rows.shape), file_space, np.ascontiguousarray(rows))

    def _payloads(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """What `_write_chunk` writes for each array: its compressed chunk when the codec allows a
        direct chunk write (compressed here, in parallel for LZ4), else the array."""
        return self._encode(*arrays) if self._encode is not None else list(arrays)

    def _write_chunk(self, name: str, index: int, payload: np.ndarray) -> None:
        """``dataset[index]`` = the data of `payload` (see `_payloads`)."""
        if self._encode is not None:
            self._datasets[name].id.write_direct_chunk((index, *self._chunk_rest[name]), payload)
        else:
            self._datasets[name][index] = payload

    def _append_chunk(self, name: str, payload: np.ndarray) -> None:
        dataset = self._datasets[name]
        index = dataset.shape[0]
        dataset.resize(index + 1, axis=0)
        self._write_chunk(name, index, payload)

    def _flush(self) -> None:
        """Write the pending frames, metrics and, last, the frames' steps (the length of ``step``
        counts complete frames)."""
        total = self.frames + len(self._pending)
        for dataset in (self._datasets["frames"], self._datasets["owner"]):
            dataset.resize(total, axis=0)
        for index, (_, frame, owner) in enumerate(self._pending, start=self.frames):
            self._write_chunk("frames", index, frame)
            self._write_chunk("owner", index, owner)
        if self._rows:
            self._extend("metrics", np.concatenate(self._rows))
            self._rows = []
        if self._pending:
            self._extend("step", np.array([step for step, _, _ in self._pending], np.int64))
            self._pending = []
        self.frames = total
        self.file.flush()


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

    def stored_frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` as stored (uint8 or float16), viewed as ``(n, H, W, len(channels))``."""
        return self.file["frames"][start:stop].transpose(0, 2, 3, 1)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as float32 ``(H, W, len(channels))`` in [0, 1] units."""
        if not 0 <= index < len(self):
            raise RecordingError(f"{self.path}: frame {index} out of range 0..{len(self) - 1}")
        raw = self.stored_frames(index, index + 1)[0]
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
        return Keyframe(int(self.file["keyframes/step"][index]), self.file["keyframes/state"][index].transpose(1, 2, 0),
                        self.file["keyframes/owner"][index], organisms,
                        int(self.file["keyframes/events_before"][index]))

    def close(self) -> None:
        """Close the file."""
        self.file.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


REQUIRED = (*DATASETS, "models")


def _open_hdf5(path: Path) -> h5py.File:
    """The file, in SWMR mode if its run may still be writing it.

    A plain open checks the file's size against its superblock; a SWMR open skips that check
    and then retries every read of a truncated file for minutes. So a file is opened plainly
    first: that fails at once for a truncated file, and for one that a SWMR writer holds or
    left open (a killed run), which is then opened in SWMR mode.
    """
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        if "truncated" in str(error):
            raise
        return h5py.File(path, "r", libver="latest", swmr=True)
    if file.attrs.get("complete", True):
        return file
    file.close()  # written in this process, still running: follow it
    return h5py.File(path, "r", libver="latest", swmr=True)


def open_recording(path: str | Path) -> Recording:
    """Open a recording (also one still being written); a missing, foreign, newer or damaged
    file raises `RecordingError` with the reason."""
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such recording")
    try:
        file = _open_hdf5(path)
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
        if version_found < VERSION:
            raise RecordingError(f"{path}: format_version {version_found} is older than this nca-world "
                                 f"reads ({VERSION}: channel-planar frames); run its scenario again")
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

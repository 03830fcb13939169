"""Recordings: a run captured to HDF5, written in SWMR mode as it goes.

Layout (format ``nca-world-recording``, version 2)::

    /                attrs: format, format_version, software (JSON of versions), seed, scenario (TOML
                     text), height, width, channels (JSON list of recorded state channels), dtype,
                     every, complete (False until the run ends normally)
    /models/<name>   each species' model file, embedded (see `agents.modelfile`)
    /added_models/   the models of species added during the run (see `sim.added_models`)
    /walls           (H, W) uint8, only in a world with walls: the wall map when the file was
                     created (a fork's: its source's); wall events in /events change it
    /frames          (N, len(channels), H, W) uint8 (0..255 for 0..1) or float16, one frame a chunk
                     (in a world wider or taller than 512 cells, a tile of about 256 x 256 cells of
                     every channel a chunk: `frame_tile`), compressed with LZ4 (HDF5 filter 32004;
                     `import hdf5plugin` to read), gzip, lzf or not at all
    /owner           (N, H, W) uint16, chunked like the frames, compressed the same way
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

A writer holds ``<path>.lock`` (`WriteLock`), replaces nothing but a recording (`check_output`,
both in `sim.recorder_output`), and refuses a write that the file-size limit or the free disk
space would cut short, so a file never ends in the middle of a write of its own; a reader checks
every dataset's dtype and shape against the root attributes (`_check_layout`) and still opens a
file cut short elsewhere (`_salvage`).
"""

from __future__ import annotations

import json
import resource
import shutil
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # registers the LZ4 filter with HDF5 (readers need it too)
import numpy as np

from nca_world.agents.errors import RecordingError
from nca_world.agents.modelfile import write_rule
from nca_world.agents.spec import Rule
from nca_world.sim import added_models
from nca_world.sim.chunks import Lz4Chunks, byte_shuffle, tile_grid, tiles_of
from nca_world.sim.frames import take
from nca_world.sim.metrics import COLUMNS
from nca_world.sim.recorder_output import WriteLock, check_output
from nca_world.sim.recording import DATASETS, EVENT_BYTES, FORMAT, OWNER_DTYPE, VERSION, Recording
from nca_world.sim.world import World

GZIP_LEVEL = 1
WRITE_MARGIN = 64 << 10  # bytes kept in hand for the metadata HDF5 writes at a flush and at close
TILE = 256  # cells a side of a frame's tiles in a big world (`frame_tile`)


def chunk_shape(height: int, width: int, channels: int | None = None) -> tuple[int, ...]:
    """One frame a chunk (keyframes): a keyframe is read or written whole, and seeking costs one chunk."""
    return (1, height, width) if channels is None else (1, channels, height, width)


def frame_tile(height: int, width: int, tile: int | None = None) -> tuple[int, int]:
    """The ``(rows, columns)`` of a frame that one chunk of ``/frames`` and ``/owner`` holds (of
    every recorded channel): the whole frame while neither side is longer than ``2 * tile``
    (`TILE` by default), so a small world's frame is one chunk as before; else tiles of at most
    `tile` a side, sized to cover the frame evenly (2048 -> 8 x 256, 600 -> 3 x 200), so that
    a reader of a region decompresses only the tiles it touches (HDF5 stores a frame's edge
    tiles whole, zero-padded)."""
    tile = TILE if tile is None else tile
    if height <= 2 * tile and width <= 2 * tile:
        return height, width
    return -(-height // -(-height // tile)), -(-width // -(-width // tile))


CODECS = {"lz4": hdf5plugin.LZ4(), "gzip": {"compression": "gzip", "compression_opts": GZIP_LEVEL},
          "lzf": {"compression": "lzf"}, "none": {}}


def gzip_chunk(data: np.ndarray) -> np.ndarray:
    """`data` as a chunk of HDF5's deflate filter."""
    return np.frombuffer(zlib.compress(data, GZIP_LEVEL), np.uint8)


class GzipChunks:
    """Chunks of HDF5's deflate filter, like `Lz4Chunks`: one per array, or one per tile."""

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        return [gzip_chunk(a) for a in arrays]

    def tiles(self, *arrays: np.ndarray, tile: tuple[int, int]) -> list[list[np.ndarray]]:
        return [[gzip_chunk(piece) for piece in tiles_of(a, tile)] for a in arrays]


CHUNK_ENCODERS = {"lz4": Lz4Chunks, "gzip": GzipChunks}


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
                 prefix: tuple[Recording, int] | None = None, overwrite: str = "any", tile: int | None = None) -> None:
        """Create the recording at `path` (see `check_output`: only an existing recording is ever
        replaced, as `overwrite` allows); `prefix` = (recording, step) starts a fork; `tile`: the
        side of a frame's tiles (`frame_tile`)."""
        self.path, self.world, self.channels = path, world, channels
        self.tile = frame_tile(world.height, world.width, tile)
        self.dtype, self.compression, self.every = dtype, compression, every
        self.keyframe_every, self.flush_every = keyframe_every, flush_every
        self.file: h5py.File | None = None
        self.failed = False  # a write failed or was refused: nothing more is written
        if prefix is not None and (prefix[0].channels != channels or prefix[0].dtype != dtype):
            raise RecordingError(f"{path}: record.channels, record.dtype: expected those of {prefix[0].path} "
                                 f"({prefix[0].channels}, {prefix[0].dtype}) in a fork, got {channels}, {dtype}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RecordingError(f"{path}: record.path: expected a folder that exists or can be made, "
                                 f"got {error.strerror}") from error
        self._lock = WriteLock(path)
        try:
            check_output(path, overwrite=overwrite, source=None if prefix is None else prefix[0].path)
            try:
                # a recording replaced is unlinked first, not truncated: HDF5 truncates before it finds
                # that a reader holds the file, and a reader keeps reading the old one to its end
                path.unlink(missing_ok=True)
                self.file = h5py.File(path, "w", libver="latest")
            except OSError as error:  # e.g. a read-only folder
                said = " ".join(str(error).split())
                raise RecordingError(f"{path}: record.path: expected a file that can be created, got {said}") \
                    from error
            with self._writing():
                self._create(scenario_text)
                self.frames = 0
                self.events_logged = 0
                if prefix is not None:
                    self._copy_prefix(*prefix)
                self.file.swmr_mode = True
        except BaseException:
            self._abandon(remove=self.file is not None)
            raise
        self._datasets = {name: self.file[name] for name in DATASETS}  # looked up once: h5py's lookups are slow
        # where a dataset's chunks start, after the index along its growing axis
        self._chunk_rest = {name: (0,) * (len(d.shape) - 1) for name, d in self._datasets.items()}
        # frames (step, frame and owner payloads) and metric rows wait for the next flush: a frame only
        # counts once its step is written, and HDF5 takes a batch of chunks in a third of the time
        self._pending: list[tuple[int, Any, Any]] = []
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
            "height": h, "width": w, "boundary": world.boundary, "channels": json.dumps(self.channels),
            "dtype": self.dtype,
            "every": self.every, "complete": False,
            "software": json.dumps({p: version(p) for p in ("nca-world", "numpy", "numba", "h5py", "torch")}),
        })
        for name, rule in world.rules.items():
            write_rule(f.create_group(f"models/{name}"), rule)
        store = np.uint8 if self.dtype == "uint8" else np.float16
        codec = CODECS[self.compression]
        n = len(self.channels)
        f.create_dataset("frames", (0, n, h, w), store, maxshape=(None, n, h, w), chunks=(1, n, *self.tile), **codec)
        f.create_dataset("owner", (0, h, w), OWNER_DTYPE, maxshape=(None, h, w), chunks=(1, *self.tile), **codec)
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
        added_models.create(f)
        if world.walls.any():
            f.create_dataset("walls", data=world.walls.astype(np.uint8), compression="gzip")

    def _copy_prefix(self, original: Recording, at: int) -> None:
        """Start with everything `original` recorded up to step `at` (a fork)."""
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
        if "walls" in f:
            del f["walls"]
        if "walls" in source:  # the walls its copied events start from
            f.create_dataset("walls", data=source["walls"][()], compression="gzip")
        keyed = int(np.searchsorted(original.keyframe_steps, at, side="right"))
        for name in ("state", "owner", "step", "organisms", "events_before"):
            dataset = f[f"keyframes/{name}"]
            dataset.resize(keyed, axis=0)
            for i in range(keyed):
                dataset[i] = source[f"keyframes/{name}"][i]

    # ------------------------------------------------------------------ what the run calls

    def observe(self, world: World) -> None:
        """Record the world at its current step: metrics always, a frame and a keyframe when due."""
        if self.failed:
            return
        step = world.step_count
        frame_due = step % self.every == 0
        with self._writing():
            self._rows.append(take(step, world.padded(), self._channel_index, world.rows_in_use(), world.owner,
                                   len(world.organisms), frame_due, self.dtype == "uint8", self._frame,
                                   self._owner, self._written, world.boundary == "wrap"))
            if frame_due:
                frame = self._frame if self.dtype == "uint8" else world.planes()[self.channels].astype(np.float16)
                self._pending.append((step, *self._frame_payloads(frame, self._owner)))
            if len(self._rows) >= self.flush_every:
                self._flush()
        if step % self.keyframe_every == 0:
            self.keyframe(world)

    def keyframe(self, world: World) -> None:
        """A full-precision copy of the world, from which a run resumes bit-exactly."""
        if self.failed:
            return
        organisms = json.dumps([asdict(o) for o in world.organisms])
        with self._writing():
            state, owner = np.ascontiguousarray(world.planes()), world.owner
            if self._encode is not None:  # a direct chunk write applies the shuffle filter here
                state, owner = byte_shuffle(state), byte_shuffle(owner)
            state, owner = self._payloads(state, owner)
            small = sum(self._grown(f"keyframes/{name}", 1) for name in ("events_before", "organisms", "step"))
            self._reserve(state.nbytes + owner.nbytes + small + len(organisms.encode()))
            self._extend("keyframes/events_before", np.array([self.events_logged], np.int64))
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
        if self.failed:
            return
        with self._writing():
            self._reserve(self._grown("events", 1))
            self._extend("events", np.array([text], dtype=f"S{EVENT_BYTES}"))
        self.events_logged += 1

    def embed(self, species: str, rule: Rule) -> None:
        """Embed the model of a species added during the run (`sim.added_models`), unless the file
        holds it already (a species the world had when the file was created, or embedded before)."""
        if self.failed or added_models.holds(self.file, species):
            return
        with self._writing():
            self._reserve(added_models.nbytes(rule))
            added_models.append(self.file, species, rule)

    def close(self, complete: bool) -> None:
        """Finish writing; `complete` marks a run that ended normally. Safe to call twice.

        After a failed write nothing more is written (the file keeps what was flushed before)
        and no second error is raised: the first one tells what happened."""
        if self.file is None:
            return
        try:
            with self._writing():
                if not self.failed:
                    self._flush()
        finally:
            self._abandon(remove=False)
        if complete and not self.failed:
            with self._writing(), h5py.File(self.path, "r+") as f:  # SWMR writers cannot change attributes
                f.attrs["complete"] = True

    def _abandon(self, *, remove: bool) -> None:
        """Close the file (an error closing it marks the recorder failed) and release the lock;
        `remove`: the file was created here and holds nothing of worth (a failed creation)."""
        try:
            if self.file is not None:
                file, self.file = self.file, None
                try:
                    file.close()
                except (OSError, RuntimeError) as error:
                    if not self.failed:
                        self.failed = True
                        said = " ".join(str(error).split())
                        raise RecordingError(f"{self.path}: writing failed at close ({said})") from error
            if remove:
                self.path.unlink(missing_ok=True)
        finally:
            self._lock.release()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        self.close(complete=kind is None)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """HDF5 failures (a full disk, a file-size limit, a file removed under us) as
        `RecordingError` naming the file; any failure stops further writing."""
        try:
            yield
        except RecordingError:
            self.failed = True
            raise
        except (OSError, RuntimeError) as error:
            self.failed = True
            said = " ".join(str(error).split())  # HDF5's messages run over several lines
            raise RecordingError(f"{self.path}: writing failed ({said}); {self._kept()}") from error

    def _kept(self) -> str:
        """What a reader finds in the file, in words."""
        if self.file is None or "step" not in self.file:
            return "the file may be incomplete"
        steps = self.file["step"]
        n = steps.id.shape[0]
        return f"the file keeps {n} frames (steps {steps[0]}..{steps[n - 1]})" if n else "the file keeps no frame"

    def _reserve(self, nbytes: int) -> None:
        """Refuse a write of about `nbytes` (plus `WRITE_MARGIN` for HDF5's metadata) that the
        file-size limit (``ulimit -f``) or the free disk space would cut short: HDF5 would leave
        a file that cannot be opened. Refused before anything is written, it keeps the file whole."""
        end = self.file.id.get_filesize()
        need = nbytes + WRITE_MARGIN
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and end + need > limit:
            self.failed = True
            raise RecordingError(f"{self.path}: file size: expected at most {limit} bytes (the file-size limit, "
                                 f"ulimit -f), got {end + need} needed; recording stopped, {self._kept()}")
        free = shutil.disk_usage(self.path.parent).free
        if need > free:
            self.failed = True
            raise RecordingError(f"{self.path}: disk space: expected {need} bytes free, got {free}; recording "
                                 f"stopped, {self._kept()}")

    def _grown(self, name: str, rows: int) -> int:
        """Bytes HDF5 allocates for the new chunks of dataset `name` when `rows` rows are appended
        (chunks of datasets written through h5py are allocated whole)."""
        dataset = self._datasets[name]
        per, n = dataset.chunks[0], dataset.id.shape[0]
        return (-(-(n + rows) // per) + (n // -per)) * int(np.prod(dataset.chunks)) * dataset.dtype.itemsize

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

    def _frame_payloads(self, frame: np.ndarray, owner: np.ndarray) -> tuple[Any, Any]:
        """Copies of what `_write_tiles` writes for a frame and its owner map: the compressed
        chunk of each tile when the codec allows a direct chunk write, else the arrays."""
        if self._encode is None:
            return frame.copy(), owner.copy()
        frame_chunks, owner_chunks = self._encode.tiles(frame, owner, tile=self.tile)
        return [c.copy() for c in frame_chunks], [c.copy() for c in owner_chunks]

    def _write_tiles(self, name: str, index: int, payload: Any) -> None:
        """``dataset[index]`` = the data of `payload` (see `_frame_payloads`): every tile's chunk."""
        if self._encode is None:
            self._datasets[name][index] = payload
            return
        dataset, (rows, columns) = self._datasets[name], self.tile
        planes = self._chunk_rest[name][:-2]
        across = tile_grid(self.world.height, self.world.width, self.tile)[1]
        for t, chunk in enumerate(payload):
            dataset.id.write_direct_chunk((index, *planes, t // across * rows, t % across * columns), chunk)

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
        payloads = sum(sum(c.nbytes for c in (p if isinstance(p, list) else [p]))
                       for _, frame, owner in self._pending for p in (frame, owner))
        rows = sum(len(r) for r in self._rows)
        self._reserve(payloads + self._grown("metrics", rows) + self._grown("step", len(self._pending)))
        total = self.frames + len(self._pending)
        for dataset in (self._datasets["frames"], self._datasets["owner"]):
            dataset.resize(total, axis=0)
        for index, (_, frame, owner) in enumerate(self._pending, start=self.frames):
            self._write_tiles("frames", index, frame)
            self._write_tiles("owner", index, owner)
        if self._rows:
            self._extend("metrics", np.concatenate(self._rows))
            self._rows = []
        if self._pending:
            self._extend("step", np.array([step for step, _, _ in self._pending], np.int64))
            self._pending = []
        self.frames = total
        self.file.flush()

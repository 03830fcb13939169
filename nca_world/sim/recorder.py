"""Recordings: a run captured to HDF5, written in SWMR mode as it goes by a `Recorder`.

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
                     every channel a chunk: `sim.recorder_layout.frame_tile`), compressed with LZ4
                     (HDF5 filter 32004; `import hdf5plugin` to read), gzip, lzf or not at all
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
space would cut short (`sim.recorder_datasets`), so a file never ends in the middle of a write of
its own; a reader checks every dataset's dtype and shape against the root attributes
(`_check_layout`) and still opens a file cut short elsewhere (`_salvage`).

The `Recorder` here sees one recording through: it claims the path, creates the layout
(`sim.recorder_layout`), queues and flushes the frames (`sim.recorder_frames`), writes keyframes
(`sim.recorder_keyframes`), logs events and embeds added models, and closes the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nca_world.agents.errors import RecordingError
from nca_world.agents.spec import Rule
from nca_world.sim import added_models
from nca_world.sim.recorder_datasets import DatasetWriter, kept
from nca_world.sim.recorder_frames import FrameQueue
from nca_world.sim.recorder_keyframes import organism_table, write_keyframe
from nca_world.sim.recorder_layout import copy_prefix, create_layout, frame_tile
from nca_world.sim.recorder_output import WriteLock, check_output
from nca_world.sim.recording import EVENT_BYTES, Recording
from nca_world.sim.world import World


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
                create_layout(self.file, world, scenario_text=scenario_text, channels=channels, dtype=dtype,
                              compression=compression, every=every, tile=self.tile)
                frames = 0
                self.events_logged = 0
                if prefix is not None:
                    frames, self.events_logged = copy_prefix(self.file, *prefix)
                self.file.swmr_mode = True
        except BaseException:
            self._abandon(remove=self.file is not None)
            raise
        self._writer = DatasetWriter(self.file, path, compression=compression, tile=self.tile,
                                     grid=(world.height, world.width))
        self._frames = FrameQueue(self._writer, world, channels=channels, dtype=dtype, every=every,
                                  flush_every=flush_every, frames=frames)

    @property
    def frames(self) -> int:
        """The frames written to the file so far (a fork's copied ones included)."""
        return self._frames.frames

    # ------------------------------------------------------------------ what the run calls

    def observe(self, world: World) -> None:
        """Record the world at its current step: metrics always, a frame and a keyframe when due."""
        if self.failed:
            return
        with self._writing():
            self._frames.observe(world)
        if world.step_count % self.keyframe_every == 0:
            self.keyframe(world)

    def keyframe(self, world: World) -> None:
        """A full-precision copy of the world, from which a run resumes bit-exactly."""
        if self.failed:
            return
        organisms = organism_table(world)
        with self._writing():
            write_keyframe(self._writer, world, organisms, self.events_logged)
            self._frames.flush()

    def event(self, record: dict[str, Any]) -> None:
        """Log one applied event."""
        text = json.dumps(record).encode()
        if len(text) > EVENT_BYTES:
            raise RecordingError(f"{self.path}: event record longer than {EVENT_BYTES} bytes: {text[:80]!r}")
        if self.failed:
            return
        with self._writing():
            self._writer.reserve(self._writer.grown("events", 1))
            self._writer.extend("events", np.array([text], dtype=f"S{EVENT_BYTES}"))
        self.events_logged += 1

    def embed(self, species: str, rule: Rule) -> None:
        """Embed the model of a species added during the run (`sim.added_models`), unless the file
        holds it already (a species the world had when the file was created, or embedded before)."""
        if self.failed or added_models.holds(self.file, species):
            return
        with self._writing():
            self._writer.reserve(added_models.nbytes(rule))
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
                    self._frames.flush()
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

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """HDF5 failures (a full disk, a file-size limit, a file removed under us) as
        `RecordingError` naming the file; any failure (a write refused too) stops further writing."""
        try:
            yield
        except RecordingError:
            self.failed = True
            raise
        except (OSError, RuntimeError) as error:
            self.failed = True
            said = " ".join(str(error).split())  # HDF5's messages run over several lines
            raise RecordingError(f"{self.path}: writing failed ({said}); {kept(self.file)}") from error

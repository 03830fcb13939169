"""A recording's frames step by step (`FrameQueue`): each step's metric rows, and every
`every`-th step's frame and owner map, quantised and compressed at once, wait for the next
flush, which appends them and then, last, their steps (so a frame counts once its step is written)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nca_world.sim.frames import take
from nca_world.sim.recorder_datasets import DatasetWriter
from nca_world.sim.recording import OWNER_DTYPE
from nca_world.sim.world import World


class FrameQueue:
    """The frames and metric rows of `channels` of a world, taken each step and flushed to
    `writer` every `flush_every` steps; `frames`: how many the file holds already (a fork's)."""

    def __init__(self, writer: DatasetWriter, world: World, *, channels: list[int], dtype: str, every: int,
                 flush_every: int, frames: int) -> None:
        self.writer, self.channels, self.dtype = writer, channels, dtype
        self.every, self.flush_every, self.frames = every, flush_every, frames
        # frames (step, frame and owner payloads) and metric rows wait for the next flush: a frame only
        # counts once its step is written, and HDF5 takes a batch of chunks in a third of the time
        self._pending: list[tuple[int, Any, Any]] = []
        self._rows: list[np.ndarray] = []
        self._channel_index = np.array(channels, np.int64)
        self._frame = np.zeros((len(channels), world.height, world.width), np.uint8)
        self._owner = np.zeros((world.height, world.width), OWNER_DTYPE)
        self._written = np.zeros(world.height, np.uint8)  # rows of `_frame` and `_owner` not zero

    def observe(self, world: World) -> None:
        """Take the metric rows of the world's current step, and its frame when due; flush when
        `flush_every` steps wait."""
        step = world.step_count
        frame_due = step % self.every == 0
        self._rows.append(take(step, world.padded(), self._channel_index, world.rows_in_use(), world.owner,
                               len(world.organisms), frame_due, self.dtype == "uint8", self._frame,
                               self._owner, self._written, world.boundary == "wrap"))
        if frame_due:
            frame = self._frame if self.dtype == "uint8" else world.planes()[self.channels].astype(np.float16)
            self._pending.append((step, *self.writer.frame_payloads(frame, self._owner)))
        if len(self._rows) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the pending frames, metrics and, last, the frames' steps (the length of ``step``
        counts complete frames)."""
        writer = self.writer
        payloads = sum(sum(c.nbytes for c in (p if isinstance(p, list) else [p]))
                       for _, frame, owner in self._pending for p in (frame, owner))
        rows = sum(len(r) for r in self._rows)
        writer.reserve(payloads + writer.grown("metrics", rows) + writer.grown("step", len(self._pending)))
        total = self.frames + len(self._pending)
        for dataset in (writer.datasets["frames"], writer.datasets["owner"]):
            dataset.resize(total, axis=0)
        for index, (_, frame, owner) in enumerate(self._pending, start=self.frames):
            writer.write_tiles("frames", index, frame)
            writer.write_tiles("owner", index, owner)
        if self._rows:
            writer.extend("metrics", np.concatenate(self._rows))
            self._rows = []
        if self._pending:
            writer.extend("step", np.array([step for step, _, _ in self._pending], np.int64))
            self._pending = []
        self.frames = total
        writer.file.flush()

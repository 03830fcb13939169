"""What a recording takes from the world at each step, in one parallel pass over the rows that
may hold cells: the per-organism sums (`sim.metrics`) and, when a frame is due, the frame's
quantised channels and its owner map, as stored.

The frame and owner buffers are reused from step to step: a row that held cells last time and is
empty now is cleared, the other empty rows are zero already, so a sparse world costs only the
rows it occupies (`sim.world.World.rows_in_use`).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from sim.core import PAD, RING
from sim.metrics import SUMS, add_row, clear_sums, merge_sums, metric_rows

ROWS = 8  # rows a thread takes at a time; sums are merged in this order, whatever the threads


@numba.njit(cache=True, nogil=True, inline="always")  # inlined: compiled with the caller's flags
def _quantise_row(buffer, channels, y, frame):
    """``frame[i, y, x] = round(clip(v, 0, 1) * 255)`` of channel ``channels[i]`` of a padded
    state buffer (`sim.core` layout)."""
    for i in range(len(channels)):
        c = channels[i]
        for x in range(frame.shape[2]):
            v = min(max(buffer[c, RING + y, PAD + x], np.float32(0.0)), np.float32(1.0))
            frame[i, y, x] = np.uint8(v * np.float32(255.0) + np.float32(0.5))


@numba.njit(cache=True, nogil=True, parallel=True)
def _take_rows(step, buffer, channels, rows, owner, n_organisms, frame_due, quantise, frame, stored_owner, written):
    height = owner.shape[0]
    alpha = buffer[3, RING : RING + height, PAD : PAD + owner.shape[1]]
    n_blocks = -(-height // ROWS)
    partial = np.empty((n_blocks, n_organisms + 1, SUMS), np.float64)
    for b in prange(n_blocks):
        clear_sums(partial[b])
        for y in range(b * ROWS, min(height, (b + 1) * ROWS)):
            if rows[y]:
                add_row(owner, alpha, y, partial[b])
            if not frame_due or not (rows[y] or written[y]):
                continue
            if rows[y]:
                if quantise:
                    _quantise_row(buffer, channels, y, frame)
                stored_owner[y] = owner[y]
            else:
                frame[:, y] = 0
                stored_owner[y] = 0
            written[y] = rows[y]
    sums = partial[0]
    for b in range(1, n_blocks):
        merge_sums(sums, partial[b])
    return metric_rows(step, sums)


def take(step: int, buffer: np.ndarray, channels: np.ndarray, rows: np.ndarray, owner: np.ndarray,
         n_organisms: int, frame_due: bool, quantise: bool, frame: np.ndarray, stored_owner: np.ndarray,
         written: np.ndarray) -> np.ndarray:
    """The `sim.metrics.COLUMNS` rows of organisms ``1 .. n_organisms`` at `step`; when
    `frame_due`, also the owner map into `stored_owner` and, when `quantise`, the uint8 frame
    ``(len(channels), H, W)`` into `frame`.

    `buffer`: the padded current state; ``rows[y] == 0`` promises that row y is zero and owned
    by nobody; `written`: per row, whether `frame` and `stored_owner` hold anything there.
    """
    return _take_rows(step, buffer, channels, rows, owner, n_organisms, frame_due, quantise, frame, stored_owner,
                      written)

"""What a recording takes from the world at each step, in one parallel pass over the rows that
may hold cells: the per-organism sums (`sim.metrics`) and, when a frame is due, the frame's
quantised channels and its owner map, as stored.

On a torus (`wrap`), a second parallel pass over column blocks counts each organism's cells per
column (the first pass counts them per row), and the centroids and boxes are taken from those
counts (`sim.metrics.torus_rows`): an organism straddling an edge keeps its true centroid.

The frame and owner buffers are reused from step to step: a row that held cells last time and is
empty now is cleared, the other empty rows are zero already, so a sparse world costs only the
rows it occupies (`sim.world.World.rows_in_use`).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from nca_world.sim.core import PAD, RING
from nca_world.sim.metrics import SUMS, add_row, clear_sums, merge_sums, metric_rows, torus_rows

ROWS = 8  # rows a thread takes at a time; sums are merged in this order, whatever the threads
COLUMNS = 64  # columns a thread counts at a time on a torus (each thread writes only its columns)


@numba.njit(cache=True, nogil=True, inline="always")  # inlined: compiled with the caller's flags
def _quantise_row(buffer, channels, y, frame):
    """``frame[i, y, x] = round(clip(v, 0, 1) * 255)`` of channel ``channels[i]`` of a padded
    state buffer (`sim.core` layout)."""
    for i in range(len(channels)):
        c = channels[i]
        for x in range(frame.shape[2]):
            v = min(max(buffer[c, RING + y, PAD + x], np.float32(0.0)), np.float32(1.0))
            frame[i, y, x] = np.uint8(v * np.float32(255.0) + np.float32(0.5))


@numba.njit(cache=True, nogil=True)
def _count_row(owner, y, per_row):
    """``per_row[k, y]`` = the cells organism k owns in row y."""
    for x in range(owner.shape[1]):
        per_row[owner[y, x], y] += 1


@numba.njit(cache=True, nogil=True)
def _count_columns(owner, rows, x0, x1, per_column):
    """``per_column[k, x]`` = the cells organism k owns in column x, for ``x0 <= x < x1`` (rows
    with ``rows[y] == 0`` hold none)."""
    for y in range(owner.shape[0]):
        if rows[y]:
            for x in range(x0, x1):
                per_column[owner[y, x], x] += 1


@numba.njit(cache=True, nogil=True, parallel=True)
def _take_rows(step, buffer, channels, rows, owner, n_organisms, frame_due, quantise, frame, stored_owner, written,
               wrap):
    height = owner.shape[0]
    alpha = buffer[3, RING : RING + height, PAD : PAD + owner.shape[1]]
    n_blocks = -(-height // ROWS)
    partial = np.empty((n_blocks, n_organisms + 1, SUMS), np.float64)
    # on a torus: cells per organism and row (each row block writes its own rows) and per column
    per_row = np.zeros((n_organisms + 1, height if wrap else 0), np.int64)
    per_column = np.zeros((n_organisms + 1, owner.shape[1] if wrap else 0), np.int64)
    for b in prange(n_blocks):
        clear_sums(partial[b])
        for y in range(b * ROWS, min(height, (b + 1) * ROWS)):
            if rows[y]:
                add_row(owner, alpha, y, partial[b])
                if wrap:
                    _count_row(owner, y, per_row)
            if not frame_due or not (rows[y] or written[y]):
                continue
            if rows[y]:
                if quantise:
                    _quantise_row(buffer, channels, y, frame)
                for x in range(owner.shape[1]):
                    stored_owner[y, x] = owner[y, x]
            else:
                frame[:, y] = 0
                stored_owner[y] = 0
            written[y] = rows[y]
    sums = partial[0]
    for b in range(1, n_blocks):
        merge_sums(sums, partial[b])
    table = metric_rows(step, sums)
    if wrap:
        n_column_blocks = -(-owner.shape[1] // COLUMNS)
        for b in prange(n_column_blocks):
            _count_columns(owner, rows, b * COLUMNS, min(owner.shape[1], (b + 1) * COLUMNS), per_column)
        torus_rows(table, per_row, per_column)
    return table


def take(step: int, buffer: np.ndarray, channels: np.ndarray, rows: np.ndarray, owner: np.ndarray,
         n_organisms: int, frame_due: bool, quantise: bool, frame: np.ndarray, stored_owner: np.ndarray,
         written: np.ndarray, wrap: bool = False) -> np.ndarray:
    """The `sim.metrics.COLUMNS` rows of organisms ``1 .. n_organisms`` at `step`; when
    `frame_due`, also the owner map into `stored_owner` and, when `quantise`, the uint8 frame
    ``(len(channels), H, W)`` into `frame`.

    `buffer`: the padded current state; ``rows[y] == 0`` promises that row y is zero and owned
    by nobody; `written`: per row, whether `frame` and `stored_owner` hold anything there; `wrap`:
    the world is a torus (centroids and boxes as in `sim.metrics`).
    """
    return _take_rows(step, buffer, channels, rows, owner, n_organisms, frame_due, quantise, frame, stored_owner,
                      written, bool(wrap))

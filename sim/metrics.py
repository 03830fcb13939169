"""Per-organism measurements of one world state: sums taken row by row, then table rows."""

from __future__ import annotations

import numba
import numpy as np

COLUMNS = ("step", "organism", "alive", "mass", "centroid_y", "centroid_x", "top", "left", "bottom", "right")
SUMS = 8  # per organism: cells, mass, sum of y, sum of x, top, left, bottom, right


@numba.njit(cache=True, nogil=True, inline="always")
def clear_sums(sums):
    """Make `sums` (``(n_organisms + 1, SUMS)``; row 0: nobody) the sums over no cells; boxes -1."""
    sums[:, :4] = 0.0
    sums[:, 4:] = -1.0


@numba.njit(cache=True, nogil=True, inline="always")
def add_row(owner, alpha, y, sums):
    """Add row `y` of an owner map and an alpha plane to `sums` (see `empty_sums`).

    Cells are taken in runs of one owner, so a run's sums stay in registers.
    """
    width = owner.shape[1]
    x = 0
    while x < width:
        k = owner[y, x]
        start = x
        mass = 0.0
        while x < width and owner[y, x] == k:
            mass += alpha[y, x]
            x += 1
        if k > 0:
            cells = x - start
            if sums[k, 0] == 0:
                sums[k, 4], sums[k, 5], sums[k, 6], sums[k, 7] = y, start, y, x - 1
            sums[k, 0] += cells
            sums[k, 1] += mass
            sums[k, 2] += y * cells
            sums[k, 3] += (start + x - 1) * cells / 2
            sums[k, 5] = min(sums[k, 5], start)
            sums[k, 6] = y  # rows come in order
            sums[k, 7] = max(sums[k, 7], x - 1)


@numba.njit(cache=True, nogil=True)
def merge_sums(sums, later):
    """Add `later`, the sums of rows below all of those in `sums`, into `sums`."""
    for k in range(1, sums.shape[0]):
        if later[k, 0] == 0:
            continue
        if sums[k, 0] == 0:
            sums[k, 4:] = later[k, 4:]
        else:
            sums[k, 5] = min(sums[k, 5], later[k, 5])
            sums[k, 6] = later[k, 6]
            sums[k, 7] = max(sums[k, 7], later[k, 7])
        for j in range(4):
            sums[k, j] += later[k, j]


@numba.njit(cache=True, nogil=True)
def metric_rows(step, sums):
    """The `COLUMNS` rows of organisms ``1 .. n`` from their sums (centroids NaN when dead)."""
    n = sums.shape[0] - 1
    rows = np.empty((n, len(COLUMNS)), np.float64)
    for k in range(1, n + 1):
        cells = sums[k, 0]
        row = rows[k - 1]
        row[0], row[1], row[2], row[3] = step, k, cells, sums[k, 1]
        row[4] = sums[k, 2] / cells if cells > 0 else np.nan
        row[5] = sums[k, 3] / cells if cells > 0 else np.nan
        row[6:] = sums[k, 4:]
    return rows

"""Per-organism measurements of one world state, in one pass over the owner map."""

from __future__ import annotations

import numba
import numpy as np

COLUMNS = ("step", "organism", "alive", "mass", "centroid_y", "centroid_x", "top", "left", "bottom", "right")


@numba.njit(cache=True, nogil=True)
def organism_sums(owner, alpha, n_organisms):
    """For each organism k (row k; row 0 unused): cells owned, mass (sum of alpha), sum of y,
    sum of x, and the bounding box (top, left, bottom, right; -1 when it owns nothing).

    Cells are taken in runs of one owner along a row, so a run's sums stay in registers.
    """
    out = np.zeros((n_organisms + 1, 8), np.float64)
    out[:, 4:] = -1.0
    height, width = owner.shape
    for y in range(height):
        x = 0
        while x < width:
            k = owner[y, x]
            start = x
            mass = 0.0
            while x < width and owner[y, x] == k:
                mass += alpha[y, x]
                x += 1
            if k <= 0:
                continue
            cells = x - start
            if out[k, 0] == 0:
                out[k, 4], out[k, 5], out[k, 6], out[k, 7] = y, start, y, x - 1
            out[k, 0] += cells
            out[k, 1] += mass
            out[k, 2] += y * cells
            out[k, 3] += (start + x - 1) * cells / 2
            out[k, 4] = min(out[k, 4], y)
            out[k, 5] = min(out[k, 5], start)
            out[k, 6] = max(out[k, 6], y)
            out[k, 7] = max(out[k, 7], x - 1)
    return out


def metric_rows(step: int, owner: np.ndarray, alpha: np.ndarray, n_organisms: int) -> np.ndarray:
    """The `COLUMNS` rows of organisms 1..n_organisms from an owner map and an alpha plane."""
    sums = organism_sums(owner, alpha, n_organisms)[1:]
    rows = np.empty((n_organisms, len(COLUMNS)), np.float64)
    rows[:, 0] = step
    rows[:, 1] = np.arange(1, n_organisms + 1)
    rows[:, 2] = sums[:, 0]
    rows[:, 3] = sums[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rows[:, 4] = sums[:, 2] / sums[:, 0]
        rows[:, 5] = sums[:, 3] / sums[:, 0]
    rows[:, 6:] = sums[:, 4:]
    return rows

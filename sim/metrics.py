"""Per-organism measurements of one world state, in one pass over the owner map."""

from __future__ import annotations

import numba
import numpy as np

from sim.world import World

COLUMNS = ("step", "organism", "alive", "mass", "centroid_y", "centroid_x", "top", "left", "bottom", "right")


@numba.njit(cache=True)
def organism_sums(owner, alpha, n_organisms):
    """For each organism k (row k; row 0 unused): cells owned, mass (sum of alpha), sum of y,
    sum of x, and the bounding box (top, left, bottom, right; -1 when it owns nothing)."""
    out = np.zeros((n_organisms + 1, 8), np.float64)
    out[:, 4:] = -1.0
    height, width = owner.shape
    for y in range(height):
        for x in range(width):
            k = owner[y, x]
            if k <= 0:
                continue
            row = out[k]
            if row[0] == 0:
                row[4], row[5], row[6], row[7] = y, x, y, x
            row[0] += 1
            row[1] += alpha[y, x]
            row[2] += y
            row[3] += x
            row[4] = min(row[4], y)
            row[5] = min(row[5], x)
            row[6] = max(row[6], y)
            row[7] = max(row[7], x)
    return out


def measure(world: World) -> np.ndarray:
    """One row per organism: the `COLUMNS` of the world's current step (centroid NaN when dead)."""
    n = len(world.organisms)
    sums = organism_sums(world.owner, world.alpha, n)[1:]
    rows = np.empty((n, len(COLUMNS)), np.float64)
    rows[:, 0] = world.step_count
    rows[:, 1] = np.arange(1, n + 1)
    rows[:, 2] = sums[:, 0]
    rows[:, 3] = sums[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rows[:, 4] = sums[:, 2] / sums[:, 0]
        rows[:, 5] = sums[:, 3] / sums[:, 0]
    rows[:, 6:] = sums[:, 4:]
    return rows

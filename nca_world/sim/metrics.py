"""Per-organism measurements of one world state: sums taken row by row, then table rows.

On a torus (``boundary = "wrap"``) an organism may straddle an edge, so its centroid and box
are not those of its cells' plain coordinates. There, per organism, the occupied rows (and
columns) are counted, and each axis is unwrapped at its longest circular run of empty rows: the
organism's rows are then the shortest arc ``start .. start + length - 1`` holding them all
(`arc_of`). The box is that arc (so ``bottom`` may exceed ``height - 1``: the box wraps) and the
centroid is the mean of the unwrapped coordinates, taken back into the grid (`arc_mean`). For an
organism that leaves any row empty this is its plain centroid up to the translation: the same
organism planted in the middle or across both edges gets the same numbers, shifted.
"""

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
    """Add row `y` of an owner map and an alpha plane to `sums` (see `clear_sums`).

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
            for j in range(4, sums.shape[1]):
                sums[k, j] = later[k, j]
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
        for j in range(4, sums.shape[1]):
            row[j + 2] = sums[k, j]
    return rows


@numba.njit(cache=True, nogil=True)
def arc_of(counts):
    """The shortest circular arc holding every non-zero entry of `counts` ``(n,)``: ``(start,
    length)``, the complement of the longest circular run of zeros (on a tie, the first such run
    met going round from the first non-zero entry). ``(0, n)`` when no entry is zero, ``(-1, 0)``
    when all are.
    """
    n = counts.shape[0]
    first = -1
    for i in range(n):
        if counts[i] != 0:
            first = i
            break
    if first < 0:
        return -1, 0
    best_start, best_length = 0, 0  # the longest run of zeros so far
    run_start, run_length = 0, 0
    for j in range(1, n + 1):  # once round, from just after `first` back to `first`
        i = (first + j) % n
        if counts[i] == 0:
            if run_length == 0:
                run_start = i
            run_length += 1
        else:
            if run_length > best_length:
                best_start, best_length = run_start, run_length
            run_length = 0
    if best_length == 0:
        return 0, n
    return (best_start + best_length) % n, n - best_length


@numba.njit(cache=True, nogil=True)
def arc_mean(counts, start):
    """Mean coordinate of `counts` ``(n,)`` unwrapped from `start`: ``start + sum_i i c[(start +
    i) mod n] / sum c``, taken modulo n (NaN when all counts are zero)."""
    n = counts.shape[0]
    total = 0.0
    moment = 0.0
    for i in range(n):
        c = counts[(start + i) % n]
        total += c
        moment += i * c
    if total == 0:
        return np.nan
    return (start + moment / total) % n


@numba.njit(cache=True, nogil=True)
def torus_rows(rows, per_row, per_column):
    """Replace the centroids and boxes of `rows` (`metric_rows`) by those on a torus (see the
    module docstring), from each organism's cells per row ``(n + 1, H)`` and per column
    ``(n + 1, W)``."""
    for k in range(1, per_row.shape[0]):
        row = rows[k - 1]
        if row[2] == 0:
            continue
        top, height = arc_of(per_row[k])
        left, width = arc_of(per_column[k])
        row[4] = arc_mean(per_row[k], top)
        row[5] = arc_mean(per_column[k], left)
        row[6], row[7], row[8], row[9] = top, left, top + height - 1, left + width - 1


def body_on_torus(ys: np.ndarray, xs: np.ndarray, height: int, width: int) -> tuple[float, float, int, int, int, int]:
    """Centroid and box ``(cy, cx, top, left, bottom, right)`` of cells ``(ys, xs)`` on a torus of
    ``height x width`` (see the module docstring; ``bottom`` and ``right`` may pass the edge)."""
    per_row = np.bincount(ys, minlength=height)
    per_column = np.bincount(xs, minlength=width)
    top, rows = arc_of(per_row)
    left, columns = arc_of(per_column)
    return (float(arc_mean(per_row, top)), float(arc_mean(per_column, left)), int(top), int(left),
            int(top + rows - 1), int(left + columns - 1))


def minimum_image(delta, period: int):
    """`delta` (a number, array or Series) as the shortest signed difference on a circle of
    `period`: in ``[-period/2, period/2)``."""
    return (delta + period / 2) % period - period / 2

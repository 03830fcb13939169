"""The numba inference core: one step of a whole world, many organisms, many species.

Arrays (plain; nothing here validates or raises — `step` checks its input once):

- ``cur``, ``nxt``: float32 ``(C, H + 2R, PAD + W' + LANES)``, channel-planar with a ring of
  ``R = 2`` cells: cell ``(y, x)`` channel ``c`` lives at ``[c, y + R, PAD + x]``. The ring is
  zero (``zero`` boundary) or a copy of the opposite edges (``wrap``). Planar rows let one
  vector load read 16 neighbouring cells; the ring makes every window read branch-free.
- ``owner``: int32 ``(H, W)``; 0 = nobody, ``k`` = organism ``k``.
- per species ``s``: ``w1[s] (3C, Hd)``, ``b1[s] (Hd,)``, ``w2[s] (Hd, C)``, ``b2[s] (C,)``,
  ``fire_threshold[s]`` (see `agents.firing`), ``updated[s]``: channels the MLP writes (``C``,
  or ``C - K`` when the identity is frozen).
- per organism ``k``: ``species_of[k]`` and ``identity_of[k] (C,)``: frozen identity values,
  read from channel ``updated[s]`` on.
- how organisms meet (`Meeting`): ``walls`` uint8 ``(H, W)`` (1 = wall), ``sensed`` uint8
  ``(N + 1, N + 1)`` (``sensed[k, j]``: organism k's rule reads organism j's cells), ``buffer``.

One step (Mordvintsev et al. 2020, with one rule per cell):

0. Walls: every channel and the owner of a wall cell are set to zero (so a wall reads as empty
   everywhere below, whatever was written into it). Skipped in a world without walls.
1. ``hot = alpha > t``; ``pre = maxpool3(hot)``; ``halo = maxpool5(hot)``.
2. The rule of a cell in ``halo``: its owner's, or if unowned the owner of its highest-alpha owned
   neighbour in the 3x3 window (ties: raster order), else in the 5x5 window. A wall cell has no
   rule and ``pre = 0`` (it never fires and is dead after the step).
   ``buffer`` contest: an unowned cell with a rule ``k`` whose 3x3 window holds a cell with a rule
   ``j != k`` (``j > 0``: an owned cell's owner, or another candidate's) is barred: no rule and
   ``pre = 0``. Barring reads the rules before any cell is barred.
3. ``u = x + fire * (W2^T relu(W1^T p(x) + b1) + b2)`` for every fired cell with a rule; the
   fired cells of a block of rows are packed per species and the MLP runs on up to 48 of them
   at a time with AVX-512, 16 elsewhere (`sim.simd`, `WIDE_VECTORS`). Unfired cells keep
   ``u = x``. With ``sensed`` (not everyone senses everyone), the perception of a cell with
   rule ``k`` reads a neighbour owned by ``j`` as zero in every channel unless ``sensed[k, j]``;
   unowned neighbours read as they are.
4. ``post = maxpool3(u_alpha > t)``; ``life = pre & post``; ``x' = u * life``; the frozen
   identity channels of living cells are set to their organism's identity.
5. Ownership: a living cell keeps its owner, a new one takes its rule's owner, a dead one has none.

Kernels copy arrays with loops, never ``a[i:j] = b[k:l]``: numba compiles a formatted shape-error
message for every slice assignment, which cost tens of seconds of the cold compile.

Cells farther than 2 from every hot cell are zero after the step and are never computed.
Each thread writes only its own rows, blocks do not depend on the thread count, and a cell's
arithmetic does not depend on the lane or batch that computes it, so neither do the results.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from nca_world.agents.firing import cell_fires, row_key
from nca_world.sim.simd import (
    LANES,
    WIDE_VECTORS,
    fetch_add,
    vadd,
    vcompress,
    vexpand,
    vfma,
    vload,
    vmul,
    vrelu,
    vsplat,
    vstore,
    vsub,
)

FASTMATH = True
RING = 2  # ring width: the 5x5 halo window reads two cells past the edge
PAD = LANES  # left margin of a padded row, so that vector loads at x - 1 stay in bounds
ROW_BLOCK = 8  # rows a thread takes at a time, from a shared counter
BLOCK = 8  # outputs computed together in the MLP ...
BATCH = 3 * LANES  # ... for up to 48 cells: 24 vector accumulators in registers
# That block needs AVX-512's 32 vector registers. Where a 16-lane vector takes two registers
# (AVX2: 16 of them) or four (NEON), 24 accumulators spill to memory at every multiply-add, so
# those CPUs take 4 outputs of 16 cells at a time (8 AVX2 registers). Measured on an AVX2 EPYC
# (one thread, 48 -> 128 -> 16): 8 x 48 cells 30 GFLOP/s, 8 x 16 cells 41, 4 x 16 cells 71.
# Either way each output's sum runs over the inputs in the same order: the same numbers.
NARROW_BLOCK = 4


def aligned_zeros(shape: tuple[int, ...], dtype: type = np.float32, alignment: int = 64) -> np.ndarray:
    """Zeros whose first element starts a cache line, so that the 16-lane vectors the kernels
    read at multiples of 16 elements never straddle two lines (numpy only aligns to 16 bytes)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.zeros(size + alignment, np.uint8)
    offset = -raw.ctypes.data % alignment
    return raw[offset : offset + size].view(dtype).reshape(shape)


def chunk_shape(height: int, width: int) -> tuple[int, int]:
    """Shape of the per-chunk flags of a ``height x width`` world: one per row and 16 columns."""
    return height, -(-width // LANES)


def padded_shape(channels: int, height: int, width: int) -> tuple[int, int, int]:
    """Shape of a padded state buffer for a ``height x width`` world."""
    chunks = -(-width // LANES)
    return channels, height + 2 * RING, PAD + chunks * LANES + LANES


# --------------------------------------------------------------------------- ring


@numba.njit(cache=True, fastmath=FASTMATH)
def refresh_ring(state, height, width):
    """Copy the opposite edges into the ring (``wrap`` boundary) of every channel.

    Rows first, then columns over all rows, so the corners hold the diagonal cells.
    """
    for c in range(state.shape[0]):
        plane = state[c]
        for r in range(RING):
            top, bottom = RING + (r - RING) % height, RING + r % height
            for x in range(PAD, PAD + width):
                plane[r, x] = plane[top, x]
                plane[RING + height + r, x] = plane[bottom, x]
        for row in range(height + 2 * RING):
            for r in range(RING):
                plane[row, PAD - RING + r] = plane[row, PAD + (r - RING) % width]
                plane[row, PAD + width + r] = plane[row, PAD + r % width]


@numba.njit(cache=True, fastmath=FASTMATH)
def _ring_rows(mask, height, wrap):
    """Fill the ``RING`` rows above and below a ``(H + 2R, W)`` mask: zero or wrapped."""
    for r in range(RING):
        if wrap:
            top, bottom = RING + (r - RING) % height, RING + r % height
            for x in range(mask.shape[1]):
                mask[r, x] = mask[top, x]
                mask[RING + height + r, x] = mask[bottom, x]
        else:
            mask[r] = 0
            mask[RING + height + r] = 0


# --------------------------------------------------------------------------- alive masks


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _hot_row(state, threshold, y, width, wrap, near1, near2):
    """``near_r[y + R, x] = any(alpha[y, x-r .. x+r] > threshold)`` for r = 1 and 2.

    Reads the alpha row with its ring columns, refreshed here for ``wrap`` (the ``zero`` ring
    stays zero), so both boundaries come out right.
    """
    r = y + RING
    if wrap:
        for i in range(RING):
            state[3, r, PAD - RING + i] = state[3, r, PAD + (i - RING) % width]
            state[3, r, PAD + width + i] = state[3, r, PAD + i % width]
    alpha = state[3, r]
    for x in range(width):
        a = PAD + x
        inner = (alpha[a - 1] > threshold) | (alpha[a] > threshold) | (alpha[a + 1] > threshold)
        near1[r, x] = inner
        near2[r, x] = inner | (alpha[a - 2] > threshold) | (alpha[a + 2] > threshold)


@numba.njit(cache=True, fastmath=FASTMATH, parallel=True)
def hot_rows(state, threshold, height, width, wrap, near1, near2):
    """`_hot_row` for every row, then the masks' ring rows (zero, or wrapped)."""
    for y in prange(height):
        _hot_row(state, threshold, y, width, wrap, near1, near2)
    _ring_rows(near1, height, wrap)
    _ring_rows(near2, height, wrap)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _on_axis(i, n, wrap):
    """Index `i` on an axis of length `n`: wrapped on a torus, or -1 when it falls off the grid."""
    if wrap:
        return i % n
    return i if 0 <= i < n else -1


@numba.njit(cache=True, fastmath=FASTMATH)
def _strongest_owned(state, owner, y, x, radius, height, width, wrap):
    """Owner of the highest-alpha owned cell in the window of `radius` around (y, x), or 0.

    Ties go to the first in raster order.
    """
    best = 0
    best_alpha = -np.inf
    for dy in range(-radius, radius + 1):
        yy = _on_axis(y + dy, height, wrap)
        if yy < 0:
            continue
        for dx in range(-radius, radius + 1):
            xx = _on_axis(x + dx, width, wrap)
            if xx < 0:
                continue
            o = owner[yy, xx]
            a = state[3, yy + RING, PAD + xx]
            if o > 0 and a > best_alpha:
                best = o
                best_alpha = a
    return best


@numba.njit(cache=True, fastmath=FASTMATH, parallel=True)
def rule_rows(state, owner, near1, near2, height, width, wrap, pre, rule, active, halo_chunks):
    """``pre = maxpool3(hot)`` and the organism whose rule updates each cell of the halo.

    ``rule[y, x]`` is 0 outside ``maxpool5(hot)``; inside it is the owner, or for an unowned
    cell its strongest owned neighbour (3x3, else 5x5), or 0 when there is none (the cell keeps
    its state). ``active[y]``: row y has a cell in ``maxpool5(hot)``; a row without one is
    entirely dead after the step. (Not "a cell with a rule": an unowned hot cell with no owner
    near it lives on unchanged, whatever the rest of its row holds.) ``halo_chunks[y, j]``: a cell
    of chunk j of row y is in the halo, ``maxpool3(pre)``; outside it a chunk dies whole and none
    of its alphas keeps a neighbour alive.
    """
    for y in prange(height):
        r = y + RING
        for x in range(width):
            pre[y, x] = near1[r - 1, x] | near1[r, x] | near1[r + 1, x]
        any_halo = False
        for j in range(halo_chunks.shape[1]):
            halo_chunks[y, j] = 0
        for x in range(width):
            halo = near2[r - 2, x] | near2[r - 1, x] | near2[r, x] | near2[r + 1, x] | near2[r + 2, x]
            any_halo |= halo
            halo_chunks[y, x // LANES] |= halo
            o = owner[y, x]
            if halo and o == 0:
                o = _strongest_owned(state, owner, y, x, 1, height, width, wrap)
                if o == 0:
                    o = _strongest_owned(state, owner, y, x, 2, height, width, wrap)
            rule[y, x] = o if halo else 0
        active[y] = any_halo


@numba.njit(cache=True, fastmath=FASTMATH, parallel=True)
def clear_walls(state, owner, walls, height, width, planes):
    """The owner of each wall cell set to zero, and with `planes` every channel too (step 0).

    A step leaves wall cells dead (they never get a rule), so the channels need clearing only
    after the state was written from outside (`World.state`, a restore)."""
    channels = state.shape[0] if planes else 0
    for y in prange(height):
        for x in range(width):
            if walls[y, x]:
                owner[y, x] = 0
        for c in range(channels):  # plane by plane: each row of a plane is written in order
            for x in range(width):
                if walls[y, x]:
                    state[c, y + RING, PAD + x] = 0.0


@numba.njit(cache=True, fastmath=FASTMATH, parallel=True)
def drop_rule_rows(cells, height, width, pre, rule):
    """Cells marked in `cells` (walls; cells the ``buffer`` contest bars) get no rule and leave
    ``pre``: they never fire and never live."""
    for y in prange(height):
        for x in range(width):
            if cells[y, x]:
                rule[y, x] = 0
                pre[y, x] = 0


@numba.njit(cache=True, fastmath=FASTMATH, parallel=True)
def bar_rows(owner, rule, height, width, wrap, barred):
    """``buffer`` contest: ``barred[y, x]`` = the cell is unowned, has a rule k, and a cell of its
    3x3 window has a rule j with ``0 < j != k``."""
    for y in prange(height):
        for x in range(width):
            k = rule[y, x]
            bar = False
            if k > 0 and owner[y, x] == 0:
                for dy in range(-1, 2):
                    yy = _on_axis(y + dy, height, wrap)
                    if yy < 0:
                        continue
                    for dx in range(-1, 2):
                        xx = _on_axis(x + dx, width, wrap)
                        if xx >= 0:
                            j = rule[yy, xx]
                            bar |= (j > 0) & (j != k)
            barred[y, x] = bar


# --------------------------------------------------------------------------- perception and MLP


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _sense_masks(rule, owner, sensed, y, x0, height, width, wrap, see):
    """``see[o, i]`` (o = 3 (dy + 1) + dx + 1): 1.0 when the cell with rule k at ``(y, x0 + i)``
    reads its neighbour at ``(dy, dx)``, owned by j: ``k == 0``, ``j == 0`` or ``sensed[k, j]``;
    else 0.0. Neighbours off a zero-boundary grid read 1.0 (they are zero anyway)."""
    lanes = min(LANES, width - x0)
    for o in range(9):
        yy = _on_axis(y + o // 3 - 1, height, wrap)
        for i in range(LANES):
            m = np.float32(1.0)
            if i < lanes and yy >= 0:
                k = rule[y, x0 + i]
                xx = _on_axis(x0 + i + o % 3 - 1, width, wrap)
                if k > 0 and xx >= 0:
                    j = owner[yy, xx]
                    if j > 0 and not sensed[k, j]:
                        m = np.float32(0.0)
            see[o, i] = m


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _dense_block(source, col, n_in, weights, bias, j0, vectors, target, out_col, relu, residual):
    """Outputs j = j0 .. j0+7 of the 16 cells at `col` (32 or 48 if `vectors` is 2 or 3), stored
    at `out_col`: ``target[j] = act(bias[j] + sum_k weights[k, j] * source[k])``; act is relu,
    or adding ``residual[j]`` (read at `out_col`).

    Each row is a vector of 16 cells; the 8 to 24 accumulators stay in registers, and each
    broadcast weight feeds up to three vectors (fewer loads per fused multiply-add).
    """
    a0, a1, a2, a3 = vsplat(bias[j0]), vsplat(bias[j0 + 1]), vsplat(bias[j0 + 2]), vsplat(bias[j0 + 3])
    a4, a5, a6, a7 = vsplat(bias[j0 + 4]), vsplat(bias[j0 + 5]), vsplat(bias[j0 + 6]), vsplat(bias[j0 + 7])
    b0, b1, b2, b3, b4, b5, b6, b7 = a0, a1, a2, a3, a4, a5, a6, a7
    c0, c1, c2, c3, c4, c5, c6, c7 = a0, a1, a2, a3, a4, a5, a6, a7
    for k in range(n_in):
        v = vload(source, (k, col))
        u = vload(source, (k, col + LANES)) if vectors > 1 else v
        t = vload(source, (k, col + 2 * LANES)) if vectors > 2 else v
        # one broadcast weight at a time, so that it folds into the multiply-adds' memory operand
        a0, b0, c0 = _fma3(a0, b0, c0, weights[k, j0], v, u, t, vectors)
        a1, b1, c1 = _fma3(a1, b1, c1, weights[k, j0 + 1], v, u, t, vectors)
        a2, b2, c2 = _fma3(a2, b2, c2, weights[k, j0 + 2], v, u, t, vectors)
        a3, b3, c3 = _fma3(a3, b3, c3, weights[k, j0 + 3], v, u, t, vectors)
        a4, b4, c4 = _fma3(a4, b4, c4, weights[k, j0 + 4], v, u, t, vectors)
        a5, b5, c5 = _fma3(a5, b5, c5, weights[k, j0 + 5], v, u, t, vectors)
        a6, b6, c6 = _fma3(a6, b6, c6, weights[k, j0 + 6], v, u, t, vectors)
        a7, b7, c7 = _fma3(a7, b7, c7, weights[k, j0 + 7], v, u, t, vectors)
    _finish(target, j0, out_col, a0, a1, a2, a3, a4, a5, a6, a7, relu, residual)
    if vectors > 1:
        _finish(target, j0, out_col + LANES, b0, b1, b2, b3, b4, b5, b6, b7, relu, residual)
    if vectors > 2:
        _finish(target, j0, out_col + 2 * LANES, c0, c1, c2, c3, c4, c5, c6, c7, relu, residual)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _fma3(a, b, c, weight, v, u, t, vectors):
    """``a + weight * v``, and as many of ``b + weight * u``, ``c + weight * t`` as `vectors` asks."""
    w = vsplat(weight)
    a = vfma(a, w, v)
    if vectors > 1:
        b = vfma(b, w, u)
    if vectors > 2:
        c = vfma(c, w, t)
    return a, b, c


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _finish(target, j0, col, a0, a1, a2, a3, a4, a5, a6, a7, relu, residual):
    """Store eight accumulators as rows ``j0 .. j0+7`` at `col`: relu'd, or plus `residual`."""
    if relu:
        a0, a1, a2, a3 = vrelu(a0), vrelu(a1), vrelu(a2), vrelu(a3)
        a4, a5, a6, a7 = vrelu(a4), vrelu(a5), vrelu(a6), vrelu(a7)
    else:  # u = x + dx
        a0, a1 = vadd(vload(residual, (j0, col)), a0), vadd(vload(residual, (j0 + 1, col)), a1)
        a2, a3 = vadd(vload(residual, (j0 + 2, col)), a2), vadd(vload(residual, (j0 + 3, col)), a3)
        a4, a5 = vadd(vload(residual, (j0 + 4, col)), a4), vadd(vload(residual, (j0 + 5, col)), a5)
        a6, a7 = vadd(vload(residual, (j0 + 6, col)), a6), vadd(vload(residual, (j0 + 7, col)), a7)
    vstore(target, (j0, col), a0)
    vstore(target, (j0 + 1, col), a1)
    vstore(target, (j0 + 2, col), a2)
    vstore(target, (j0 + 3, col), a3)
    vstore(target, (j0 + 4, col), a4)
    vstore(target, (j0 + 5, col), a5)
    vstore(target, (j0 + 6, col), a6)
    vstore(target, (j0 + 7, col), a7)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _dense_one(source, col, n_in, weights, bias, j, target, out_col, relu, residual):
    """One output row of 16 cells (the remainder when outputs are not a multiple of 8)."""
    acc = vsplat(bias[j])
    for k in range(n_in):
        acc = vfma(acc, vsplat(weights[k, j]), vload(source, (k, col)))
    _finish_one(target, j, out_col, acc, relu, residual)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _dense(source, col, n_in, weights, bias, n_out, vectors, target, out_col, relu, residual):
    """``target[:n_out] = act(weights[:n_in, :n_out]^T source[:n_in] + bias)`` on the 16, 32 or 48
    cells from `col`, stored from `out_col`; act is relu, or adding `residual` (``u = x + dx``)."""
    full = n_out - n_out % BLOCK
    for j0 in range(0, full, BLOCK):
        _dense_block(source, col, n_in, weights, bias, j0, vectors, target, out_col, relu, residual)
    for j in range(full, n_out):
        for v in range(vectors):
            _dense_one(source, col + v * LANES, n_in, weights, bias, j, target, out_col + v * LANES, relu, residual)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _dense_quad(source, col, n_in, weights, bias, j0, target, out_col, relu, residual):
    """Outputs j = j0 .. j0+3 of the 16 cells at `col`, stored at `out_col` (see `_dense_block`):
    four accumulators, which stay in registers where a vector takes two or four of them."""
    a0, a1, a2, a3 = vsplat(bias[j0]), vsplat(bias[j0 + 1]), vsplat(bias[j0 + 2]), vsplat(bias[j0 + 3])
    for k in range(n_in):
        v = vload(source, (k, col))
        a0 = vfma(a0, vsplat(weights[k, j0]), v)
        a1 = vfma(a1, vsplat(weights[k, j0 + 1]), v)
        a2 = vfma(a2, vsplat(weights[k, j0 + 2]), v)
        a3 = vfma(a3, vsplat(weights[k, j0 + 3]), v)
    _finish_one(target, j0, out_col, a0, relu, residual)
    _finish_one(target, j0 + 1, out_col, a1, relu, residual)
    _finish_one(target, j0 + 2, out_col, a2, relu, residual)
    _finish_one(target, j0 + 3, out_col, a3, relu, residual)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _finish_one(target, j, col, acc, relu, residual):
    """Store one accumulator as row `j` at `col`: relu'd, or plus `residual`."""
    vstore(target, (j, col), vrelu(acc) if relu else vadd(vload(residual, (j, col)), acc))


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _dense_narrow(source, col, n_in, weights, bias, n_out, target, out_col, relu, residual):
    """`_dense` on the 16 cells from `col`, four outputs at a time (`_dense_quad`)."""
    full = n_out - n_out % NARROW_BLOCK
    for j0 in range(0, full, NARROW_BLOCK):
        _dense_quad(source, col, n_in, weights, bias, j0, target, out_col, relu, residual)
    for j in range(full, n_out):
        _dense_one(source, col, n_in, weights, bias, j, target, out_col, relu, residual)


@numba.njit(cache=True, fastmath=FASTMATH)
def _mlp_narrow(tile, count, w1, b1, w2, b2, updated, hidden, out):
    """`_mlp_wide` for CPUs with fewer vector registers: 16 cells at a time, four outputs."""
    n_in, n_hidden = w1.shape
    for col in range(0, count, LANES):
        _dense_narrow(tile, col, n_in, w1, b1, n_hidden, hidden, 0, True, hidden)
        _dense_narrow(hidden, 0, n_hidden, w2, b2, updated, out, col, False, tile)


@numba.njit(cache=True, fastmath=FASTMATH)
def _mlp_wide(tile, count, w1, b1, w2, b2, updated, hidden, out):
    """``out[c, i] = tile[c, i] + (W2^T relu(W1^T tile[:, i] + b1) + b2)[c]`` for the first
    `count` cells of `tile` (rounded up to 16; the extra lanes are don't-care), c < `updated`."""
    n_in, n_hidden = w1.shape
    for col in range(0, count, BATCH):
        # literal vector counts, so that each inlined copy keeps its accumulators in registers;
        # a tail of 17-32 cells takes the 48-cell path (its extra lanes are don't-care) rather
        # than a third inlined copy (compile time)
        if count - col > LANES:
            _dense(tile, col, n_in, w1, b1, n_hidden, 3, hidden, 0, True, hidden)
            _dense(hidden, 0, n_hidden, w2, b2, updated, 3, out, col, False, tile)
        else:
            _dense(tile, col, n_in, w1, b1, n_hidden, 1, hidden, 0, True, hidden)
            _dense(hidden, 0, n_hidden, w2, b2, updated, 1, out, col, False, tile)


# the MLP the step calls: chosen once per machine (numba's cache is per CPU, so is this)
_mlp = _mlp_wide if WIDE_VECTORS else _mlp_narrow


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _popcount16(bits):
    """Number of set bits of a 16-bit mask."""
    bits = bits - ((bits >> 1) & 0x5555)
    bits = (bits & 0x3333) + ((bits >> 2) & 0x3333)
    bits = (bits + (bits >> 4)) & 0x0F0F
    return (bits + (bits >> 8)) & 0x1F


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _fire_masks(rule, species_of, fire_threshold, key, y, x0, width, n_species, lane_species, masks, row, j):
    """``masks[row, j, s]``: per species s, the 16-bit mask of cells ``(y, x0 ..)`` with a rule
    of that species that fire.

    Returns the union of the masks. Branch-free, so that the hash runs on all lanes at once.
    """
    lanes = min(LANES, width - x0)
    fired = 0
    ruled = False  # a chunk where no cell has a rule (outside a body) fires nowhere: no hashing
    for i in range(lanes):
        ruled |= rule[y, x0 + i] > 0
    if not ruled:
        for s in range(n_species):
            masks[row, j, s] = 0
        return 0
    if n_species == 1:
        threshold = fire_threshold[0]
        for i in range(lanes):
            fires = (rule[y, x0 + i] > 0) & cell_fires(key, x0 + i, threshold)
            fired |= np.int64(fires) << i
        masks[row, j, 0] = fired
        return fired
    for i in range(lanes):
        o = rule[y, x0 + i]
        s = species_of[o]  # row 0 ("nobody") has species 0; `o > 0` masks it out
        lane_species[i] = s
        fired |= np.int64((o > 0) & cell_fires(key, x0 + i, fire_threshold[s])) << i
    for s in range(n_species):
        m = 0
        for i in range(lanes):
            m |= np.int64(lane_species[i] == s) << i
        masks[row, j, s] = m & fired
    return fired


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _clear_chunk(state, r, a, zero):
    """Every channel of the 16 cells from padded column `a` of padded row `r` set to zero."""
    for c in range(state.shape[0]):
        vstore(state, (c, r, a), zero)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _perceive_block(cur, nxt, rule, active, halo_chunks, nonzero_chunks, species_of, fire_threshold, seed, step, y0,
                    y1, width, tiles, masks, starts, counts, lane_species, owner, sensed, blind, height, wrap, see):
    """Rows y0..y1-1: pack the perception of every fired cell into its species' tile
    (``vcompress``), in raster order, filling `masks`, `starts` (each chunk's first tile column
    per species) and `counts`; copy the chunks without a fired cell from `cur` to `nxt`, except
    where no cell of the chunk is in the halo (`halo_chunks`, from `rule_rows`): all of it dies and
    none of its alphas keeps a neighbour alive, so it becomes zero, written only if `nonzero_chunks`
    says that chunk of `nxt` may hold non-zero values (big sparse worlds would otherwise copy and
    clear every empty chunk of every active row, each step).

    ``p = [x, sobel_x(x) / 8, sobel_y(x) / 8]`` (see `agents.spec`) is computed in registers,
    16 cells at a time. A row that is not `active` becomes zero (its chunks cleared where
    `nonzero_chunks` is set). When `blind`, each of the eight
    neighbours' values is multiplied by its `_sense_masks` lane mask (the centre is always read:
    an owned cell's rule is its owner's).
    """
    channels = cur.shape[0]
    n_species = tiles.shape[0]
    eighth = vsplat(np.float32(0.125))
    two = vsplat(np.float32(2.0))
    zero = vsplat(np.float32(0.0))
    counts[:] = 0
    for y in range(y0, y1):
        r = y + RING
        if not active[y]:
            for j in range(masks.shape[1]):
                if nonzero_chunks[y, j]:
                    _clear_chunk(nxt, r, PAD + j * LANES, zero)
                    nonzero_chunks[y, j] = 0
            continue
        key = row_key(seed, step, y)
        for j in range(masks.shape[1]):
            x0 = j * LANES
            a = PAD + x0
            row = y - y0
            fired = _fire_masks(rule, species_of, fire_threshold, key, y, x0, width, n_species, lane_species,
                                masks, row, j)
            for s in range(n_species):
                starts[row, j, s] = counts[s]
                counts[s] += _popcount16(masks[row, j, s])
            if fired == 0:
                if halo_chunks[y, j]:
                    for c in range(channels):
                        vstore(nxt, (c, r, a), vload(cur, (c, r, a)))
                    nonzero_chunks[y, j] = 1
                elif nonzero_chunks[y, j]:
                    _clear_chunk(nxt, r, a, zero)
                    nonzero_chunks[y, j] = 0
                continue
            nonzero_chunks[y, j] = 1  # `_write_back` writes it
            if blind:
                _sense_masks(rule, owner, sensed, y, x0, height, width, wrap, see)
            for c in range(channels):
                u, d = r - 1, r + 1  # the rows above and below
                up_l, up_c, up_r = vload(cur, (c, u, a - 1)), vload(cur, (c, u, a)), vload(cur, (c, u, a + 1))
                mid_l, mid_c, mid_r = vload(cur, (c, r, a - 1)), vload(cur, (c, r, a)), vload(cur, (c, r, a + 1))
                down_l, down_c, down_r = vload(cur, (c, d, a - 1)), vload(cur, (c, d, a)), vload(cur, (c, d, a + 1))
                if blind:  # a neighbour the cell's rule does not sense reads as zero
                    up_l, up_c, up_r = vmul(up_l, vload(see, (0, 0))), vmul(up_c, vload(see, (1, 0))), \
                        vmul(up_r, vload(see, (2, 0)))
                    mid_l, mid_r = vmul(mid_l, vload(see, (3, 0))), vmul(mid_r, vload(see, (5, 0)))
                    down_l, down_c, down_r = vmul(down_l, vload(see, (6, 0))), vmul(down_c, vload(see, (7, 0))), \
                        vmul(down_r, vload(see, (8, 0)))
                # sobel_x = ((up_r - up_l) + 2 (mid_r - mid_l) + (down_r - down_l)) / 8
                sx = vfma(vadd(vsub(up_r, up_l), vsub(down_r, down_l)), two, vsub(mid_r, mid_l))
                sx = vmul(sx, eighth)
                # sobel_y = ((down_l + 2 down_c + down_r) - (up_l + 2 up_c + up_r)) / 8
                sy = vsub(vfma(vadd(down_l, down_r), two, down_c), vfma(vadd(up_l, up_r), two, up_c))
                sy = vmul(sy, eighth)
                for s in range(n_species):
                    mask, start = masks[row, j, s], starts[row, j, s]
                    if mask != 0:
                        vcompress(tiles, (s, c, start), mid_c, mask)
                        vcompress(tiles, (s, channels + c, start), sx, mask)
                        vcompress(tiles, (s, 2 * channels + c, start), sy, mask)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _write_back(cur, nxt, active, updated, y0, y1, outs, masks, starts):
    """Rows y0..y1-1, chunks with a fired cell: ``nxt = u`` for the fired cells, unpacked from
    each species' `outs` (``vexpand``, the inverse of the packing), ``nxt = x`` for the others."""
    n_species = outs.shape[0]
    for y in range(y0, y1):
        if not active[y]:
            continue
        r = y + RING
        for j in range(masks.shape[1]):
            a = PAD + j * LANES
            row = y - y0
            fired = 0
            for s in range(n_species):
                fired |= masks[row, j, s]
            if fired == 0:
                continue
            for c in range(cur.shape[0]):
                value = vload(cur, (c, r, a))
                for s in range(n_species):
                    mask = masks[row, j, s]
                    if mask != 0 and c < updated[s]:
                        value = vexpand(outs, (s, c, starts[row, j, s]), mask, value)
                vstore(nxt, (c, r, a), value)


@numba.njit(cache=True, fastmath=FASTMATH, parallel=True)
def update_rows(cur, nxt, rule, active, halo_chunks, nonzero_chunks, species_of, w1, b1, w2, b2, fire_threshold,
                updated, seed, step, height, width, threshold, wrap, near1, near2, tiles, outs, masks, starts, counts,
                lane_species, hidden, next_block, owner, sensed, blind, see):
    """``nxt = cur + fire * MLP(perception(cur))`` for the fired cells that have a rule, and
    `near1`, `near2` of the result (`_hot_row`; their ring rows are left to the caller).

    Rows go to threads in blocks of `ROW_BLOCK`: each thread takes the next block from the shared
    counter `next_block` until none is left, so a thread held up (by the OS, by a dense block)
    does not hold up the others (numba's own dynamic schedule needs thread ids, which cannot be
    cached).
    For each block: pack the perception of the fired cells per species (`_perceive_block`), run
    each species' MLP over its packed cells, 48 at a time (`_mlp`), and unpack the results into
    `nxt` (`_write_back`). Scratch arrays have a leading band axis (one band per thread):
    ``tiles (B, S, 3C, N)``, ``outs (B, S, C, N)``, ``masks`` and ``starts (B, ROW_BLOCK, chunks, S)``,
    ``counts (B, S)``, ``lane_species (B, 16)``, ``hidden (B, Hd, 48)``, ``see (B, 9, 16)``.
    """
    n_species = w1.shape[0]
    n_blocks = -(-height // ROW_BLOCK)
    n_bands = tiles.shape[0]
    next_block[0] = 0
    for band in prange(n_bands):
        block = fetch_add(next_block, 0, 1)
        while block < n_blocks:
            y0 = block * ROW_BLOCK
            y1 = min(height, y0 + ROW_BLOCK)
            _perceive_block(cur, nxt, rule, active, halo_chunks, nonzero_chunks, species_of, fire_threshold, seed,
                            step, y0, y1, width, tiles[band], masks[band], starts[band], counts[band],
                            lane_species[band], owner, sensed, blind, height, wrap, see[band])
            for s in range(n_species):
                if counts[band, s] > 0:
                    _mlp(tiles[band, s], counts[band, s], w1[s], b1[s], w2[s], b2[s], updated[s], hidden[band],
                         outs[band, s])
            _write_back(cur, nxt, active, updated, y0, y1, outs[band], masks[band], starts[band])
            for y in range(y0, y1):
                if active[y]:
                    _hot_row(nxt, threshold, y, width, wrap, near1, near2)
                else:
                    near1[y + RING, :] = 0
                    near2[y + RING, :] = 0
            block = fetch_add(next_block, 0, 1)


# --------------------------------------------------------------------------- life and ownership


@numba.njit(cache=True, fastmath=FASTMATH, parallel=True)
def settle_rows(nxt, owner, rule, active, pre, near1, nonzero_chunks, species_of, identity_of, updated, height,
                width):
    """``life = pre & maxpool3(u_alpha > t)`` (from `near1`); zero the dead, own the living.

    Living cells of a frozen-identity species get their organism's identity channels. Rows
    that were not `active` are already zero and only lose their owners. Only chunks that
    `nonzero_chunks` marks can hold dead non-zero cells (`_perceive_block` zeroed the others);
    a chunk left without a living cell is all zero and loses its mark.
    """
    channels = nxt.shape[0]
    frozen = False  # a species whose rule leaves identity channels alone
    for s in range(len(updated)):
        frozen |= updated[s] < channels
    for y in prange(height):
        r = y + RING
        if not active[y]:
            owner[y, :] = 0
            continue
        living = 0
        for x in range(width):
            life = pre[y, x] & (near1[r - 1, x] | near1[r, x] | near1[r + 1, x])
            pre[y, x] = life
            living += life
            o = owner[y, x]
            owner[y, x] = (o if o > 0 else rule[y, x]) if life else 0
        if living < width:  # a row where every cell lives has nothing to clear
            for j in range(nonzero_chunks.shape[1]):
                if not nonzero_chunks[y, j]:
                    continue
                x0, x1 = j * LANES, min(width, (j + 1) * LANES)
                alive = 0
                for x in range(x0, x1):
                    alive += pre[y, x]
                if alive < x1 - x0:
                    for c in range(channels):
                        for x in range(x0, x1):
                            if not pre[y, x]:
                                nxt[c, r, PAD + x] = 0.0
                if alive == 0:
                    nonzero_chunks[y, j] = 0
        if frozen:
            for x in range(width):
                o = owner[y, x]
                if o > 0:
                    for c in range(updated[species_of[o]], channels):
                        nxt[c, r, PAD + x] = identity_of[o, c]


# --------------------------------------------------------------------------- the public step


class Species(NamedTuple):
    """Stacked rules of every species in a world (index ``s``), as the kernels take them."""

    w1: np.ndarray  # float32 (S, 3C, Hd)
    b1: np.ndarray  # float32 (S, Hd)
    w2: np.ndarray  # float32 (S, Hd, C)
    b2: np.ndarray  # float32 (S, C)
    fire_threshold: np.ndarray  # int64 (S,)
    updated: np.ndarray  # int64 (S,)


class Organisms(NamedTuple):
    """Per-organism tables (index ``k``; row 0 is "nobody")."""

    species_of: np.ndarray  # int64 (N + 1,)
    identity_of: np.ndarray  # float32 (N + 1, C)


class Scratch(NamedTuple):
    """Work arrays of one step, allocated once per world by `make_scratch`."""

    near1: np.ndarray
    near2: np.ndarray
    pre: np.ndarray
    rule: np.ndarray
    active: np.ndarray
    tiles: np.ndarray
    outs: np.ndarray
    masks: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    lane_species: np.ndarray
    hidden: np.ndarray
    next_block: np.ndarray
    see: np.ndarray
    barred: np.ndarray
    halo_chunks: np.ndarray


class Meeting(NamedTuple):
    """How organisms meet (`World` builds it): the wall map, who senses whom, the contest rule.

    ``has_walls`` / ``blind`` say whether `walls` / `sensed` are in use, so that a world without
    walls whose organisms all sense each other does none of that work."""

    walls: np.ndarray  # uint8 (H, W)
    has_walls: bool
    sensed: np.ndarray  # uint8 (N + 1, N + 1)
    blind: bool
    buffer: bool


def no_meeting(height: int, width: int) -> Meeting:
    """Today's meeting: no walls, everyone senses everyone, the strongest takes a contested cell."""
    return Meeting(np.zeros((height, width), np.uint8), False, np.ones((1, 1), np.uint8), False, False)


def make_scratch(channels: int, hidden: int, n_species: int, height: int, width: int) -> Scratch:
    """Scratch for `step`; one band of tile buffers per numba thread."""
    bands = numba.config.NUMBA_NUM_THREADS
    chunks = -(-width // LANES)
    capacity = ROW_BLOCK * chunks * LANES + BATCH  # a block's cells, plus a batch's overrun
    return Scratch(
        near1=np.zeros((height + 2 * RING, width), np.uint8),
        near2=np.zeros((height + 2 * RING, width), np.uint8),
        pre=np.zeros((height, width), np.uint8),
        rule=np.zeros((height, width), np.int32),
        active=np.zeros(height, np.uint8),
        tiles=aligned_zeros((bands, n_species, 3 * channels, capacity)),
        outs=aligned_zeros((bands, n_species, channels, capacity)),
        masks=np.zeros((bands, ROW_BLOCK, chunks, n_species), np.int64),
        starts=np.zeros((bands, ROW_BLOCK, chunks, n_species), np.int64),
        counts=np.zeros((bands, n_species), np.int64),
        lane_species=np.zeros((bands, LANES), np.int64),
        hidden=aligned_zeros((bands, hidden, BATCH)),
        next_block=aligned_zeros((8,), np.int64),  # a cache line of its own for the shared counter
        see=aligned_zeros((bands, 9, LANES)),
        barred=np.zeros((height, width), np.uint8),
        halo_chunks=np.zeros(chunk_shape(height, width), np.uint8),
    )


def step(cur: np.ndarray, nxt: np.ndarray, owner: np.ndarray, species: Species,
         organisms: Organisms, scratch: Scratch, *, threshold: float, wrap: bool,
         seed: int, step_index: int, nonzero_chunks: np.ndarray, meeting: Meeting | None = None,
         clear_wall_state: bool = True) -> None:
    """Advance the padded state `cur` one step into `nxt`, updating `owner` in place.

    `cur` keeps its values (its ring is refreshed for ``wrap``); see the module docstring for
    the maths. Shapes are those of `padded_shape`, `Species`, `Organisms` and `make_scratch`.
    `nonzero_chunks` (uint8 ``(H, chunks)``, `chunk_shape`) marks the 16-cell chunks of each row of
    `nxt` that may hold non-zero values; on return it marks those of the new state (so it travels
    with `nxt` from then on; a chunk without a mark is zero in every channel).
    `meeting` (default `no_meeting`): walls, who senses whom and the contest rule; the wall cells
    of `owner` are cleared, and of `cur` unless `clear_wall_state` is False (the caller knows
    them zero: a step's output always has them so).
    """
    height, width = owner.shape
    channels = cur.shape[0]
    if cur.shape != padded_shape(channels, height, width) or nxt.shape != cur.shape:
        raise ValueError(f"state buffers must have shape {padded_shape(channels, height, width)}")
    if species.w1.shape[1] != 3 * channels or species.w2.shape[2] != channels:
        raise ValueError("species weights do not match the state's channel count")
    if nonzero_chunks.shape != chunk_shape(height, width) or nonzero_chunks.dtype != np.uint8:
        raise ValueError(f"nonzero_chunks must be uint8 of shape {chunk_shape(height, width)}")
    m = no_meeting(height, width) if meeting is None else meeting
    if m.walls.shape != (height, width):
        raise ValueError(f"wall map must have shape {(height, width)}")
    if m.blind and m.sensed.shape != (len(organisms.species_of),) * 2:
        raise ValueError(f"sensed must have shape {(len(organisms.species_of),) * 2}")
    s = scratch
    stepped = _step_all(cur, nxt, owner, species.w1, species.b1, species.w2, species.b2, species.fire_threshold,
              species.updated, organisms.species_of, organisms.identity_of, np.float32(threshold), wrap,
              seed, step_index, nonzero_chunks, s.near1, s.near2, s.pre, s.rule, s.active, s.tiles, s.outs,
              s.masks, s.starts, s.counts, s.lane_species, s.hidden, s.next_block, m.walls, m.has_walls,
              clear_wall_state, m.sensed, m.blind, m.buffer, s.see, s.barred, s.halo_chunks)
    if not stepped:
        raise ValueError(f"owner map holds organism numbers outside 0..{len(organisms.species_of) - 1}")


@numba.njit(cache=True, nogil=True)
def _owners_known(owner, n_organisms):
    """Whether every owner number is in ``0 .. n_organisms - 1`` (a rule lookup needs it)."""
    ok = True
    for y in range(owner.shape[0]):
        for x in range(owner.shape[1]):
            ok &= (owner[y, x] >= 0) & (owner[y, x] < n_organisms)
    return ok


@numba.njit(cache=True, nogil=True)
def _step_all(cur, nxt, owner, w1, b1, w2, b2, fire_threshold, updated, species_of, identity_of,
              threshold, wrap, seed, step, nonzero_chunks, near1, near2, pre, rule, active, tiles, outs,
              masks, starts, counts, lane_species, hidden, next_block, walls, has_walls,
              clear_wall_state, sensed, blind, buffer, see, barred, halo_chunks):
    """The passes of one step in order: one call from Python (dispatch costs add up at 1000+
    steps/s), without the GIL, so that the recorder's thread writes while the world steps.
    Returns False, changing nothing, when the owner map names an unknown organism."""
    if not _owners_known(owner, len(species_of)):
        return False
    height, width = owner.shape
    if has_walls:
        clear_walls(cur, owner, walls, height, width, clear_wall_state)
    if wrap:
        refresh_ring(cur, height, width)
    hot_rows(cur, threshold, height, width, wrap, near1, near2)
    rule_rows(cur, owner, near1, near2, height, width, wrap, pre, rule, active, halo_chunks)
    if has_walls:
        drop_rule_rows(walls, height, width, pre, rule)
    if buffer:
        bar_rows(owner, rule, height, width, wrap, barred)
        drop_rule_rows(barred, height, width, pre, rule)
    update_rows(cur, nxt, rule, active, halo_chunks, nonzero_chunks, species_of, w1, b1, w2, b2, fire_threshold,
                updated, seed, step, height, width, threshold, wrap, near1, near2, tiles, outs, masks, starts, counts,
                lane_species, hidden, next_block, owner, sensed, blind, see)
    _ring_rows(near1, height, wrap)
    _ring_rows(near2, height, wrap)
    settle_rows(nxt, owner, rule, active, pre, near1, nonzero_chunks, species_of, identity_of, updated, height,
                width)
    return True

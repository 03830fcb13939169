"""A plain numpy reference of one owner-aware world step, written for reading, not for speed.

It follows the README ("Python API", "The rule and the model file") with plain loops, one cell
at a time, in float64 for the MLP, and is what the tests compare `sim.core` with, owner map
included. Nothing here is shared with the core but the fire-mask hash (`agents.firing.fire_mask`,
itself tested against the core's).

One step, from ``state (H, W, C)`` and ``owner (H, W)``, with ``t`` the alive threshold:

1. ``hot = alpha > t`` (float32); ``pre = maxpool3(hot)``, ``halo = maxpool5(hot)``.
2. The organism whose rule computes a cell of the halo: its owner, or for an unowned cell the owner
   of the highest-alpha owned cell in its 3x3 window, else in its 5x5 window; ties go to the
   first in the window's raster order (row by row from the top-left corner; on a torus the
   window wraps, so this is the window's order, not the grid's). Other cells have no rule.
3. ``u = x + fire * (W2^T relu(W1^T p + b1) + b2)`` on the channels the rule writes, with
   ``p = [x, sobel_x(x)/8, sobel_y(x)/8]`` and ``fire`` the hash mask at that species' fire rate;
   a cell without a rule keeps ``u = x``.
4. ``life = pre & maxpool3(u_alpha > t)``; ``x' = u * life``; a living cell of a frozen-identity
   species holds its organism's identity.
5. A living cell keeps its owner, an unowned one takes its rule's owner; a dead one has none.

Windows read the neighbours of the boundary: ``zero`` (cells past the edge are zero and owned by
nobody) or ``wrap`` (a torus).

How organisms meet, written from the definitions rather than from the core's way of doing it:

- ``walls``: a wall cell is read as zero in every channel and as owned by nobody by every window
  (hot, rule, perception), never has a rule and is never alive.
- ``sensed[k, j]``: the perception of a cell whose rule is organism k reads a neighbour owned by
  organism j as zero unless ``sensed[k, j]``; unowned neighbours read as they are.
- ``buffer``: an unowned cell with rule k is barred (no rule, dead after the step) when a cell in
  its 3x3 window has a rule j with ``0 < j != k``, reading the rules before any barring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nca_world.agents.firing import fire_mask
from nca_world.agents.spec import SOBEL_X, SOBEL_Y, Rule


@dataclass(frozen=True)
class Being:
    """One organism as the reference sees it: its species' rule and its identity values."""

    rule: Rule
    identity: tuple[float, ...] = ()


def neighbour(y: int, x: int, height: int, width: int, wrap: bool) -> tuple[int, int] | None:
    """The cell at (y, x) under the boundary, or None when it falls off a zero-boundary grid."""
    if wrap:
        return y % height, x % width
    if 0 <= y < height and 0 <= x < width:
        return y, x
    return None


def window(y: int, x: int, radius: int, height: int, width: int, wrap: bool) -> list[tuple[int, int]]:
    """The cells of the window of `radius` around (y, x), in raster order (repeats kept on a torus)."""
    cells = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            cell = neighbour(y + dy, x + dx, height, width, wrap)
            if cell is not None:
                cells.append(cell)
    return cells


def near_hot(hot: np.ndarray, radius: int, wrap: bool) -> np.ndarray:
    """``maxpool(hot)`` over the window of `radius`: any hot cell within `radius` (Chebyshev)."""
    height, width = hot.shape
    out = np.zeros_like(hot)
    for y in range(height):
        for x in range(width):
            out[y, x] = any(hot[cell] for cell in window(y, x, radius, height, width, wrap))
    return out


def strongest_owned(alpha: np.ndarray, owner: np.ndarray, y: int, x: int, radius: int, wrap: bool) -> int:
    """Owner of the highest-alpha owned cell in the window (first in raster order on ties), or 0."""
    best, best_alpha = 0, -np.inf
    for cell in window(y, x, radius, *owner.shape, wrap):
        if owner[cell] > 0 and alpha[cell] > best_alpha:
            best, best_alpha = int(owner[cell]), alpha[cell]
    return best


def rule_owner(state: np.ndarray, owner: np.ndarray, threshold: np.float32, wrap: bool) -> np.ndarray:
    """int ``(H, W)``: the organism whose rule computes each cell (0: none), steps 1 and 2."""
    alpha = state[:, :, 3]
    halo = near_hot(alpha > threshold, 2, wrap)
    rule = np.zeros(owner.shape, np.int64)
    for y in range(owner.shape[0]):
        for x in range(owner.shape[1]):
            if not halo[y, x]:
                continue
            rule[y, x] = owner[y, x] or strongest_owned(alpha, owner, y, x, 1, wrap) \
                or strongest_owned(alpha, owner, y, x, 2, wrap)
    return rule


def perceive(state: np.ndarray, y: int, x: int, wrap: bool, reads=None) -> np.ndarray:
    """``[x, sobel_x(x)/8, sobel_y(x)/8]`` of cell (y, x) → float64 ``(3C,)``; a neighbour for
    which ``reads(cell)`` is false reads as zero."""
    height, width, channels = state.shape
    p = np.zeros(3 * channels)
    p[:channels] = state[y, x]
    for i in range(3):
        for j in range(3):
            cell = neighbour(y + i - 1, x + j - 1, height, width, wrap)
            if cell is None or (reads is not None and (i, j) != (1, 1) and not reads(cell)):
                continue
            p[channels : 2 * channels] += SOBEL_X[i, j] * state[cell].astype(np.float64)
            p[2 * channels :] += SOBEL_Y[i, j] * state[cell].astype(np.float64)
    return p


def update(rule: Rule, p: np.ndarray) -> np.ndarray:
    """``dx = W2^T relu(W1^T p + b1) + b2`` in float64 → ``(C,)``."""
    hidden = np.maximum(p @ rule.w1.astype(np.float64) + rule.b1, 0.0)
    return hidden @ rule.w2.astype(np.float64) + rule.b2


def barred_cells(owner: np.ndarray, rule: np.ndarray, wrap: bool) -> np.ndarray:
    """Bool ``(H, W)``: the ``buffer`` contest's barred cells (see the module docstring)."""
    barred = np.zeros(owner.shape, bool)
    for y in range(owner.shape[0]):
        for x in range(owner.shape[1]):
            k = rule[y, x]
            if k > 0 and owner[y, x] == 0:
                barred[y, x] = any(0 < rule[cell] != k for cell in window(y, x, 1, *owner.shape, wrap))
    return barred


def reference_step(state: np.ndarray, owner: np.ndarray, beings: Sequence[Being], *, threshold: float,
                   wrap: bool, seed: int, step: int, walls: np.ndarray | None = None,
                   sensed: np.ndarray | None = None, buffer: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One step of the world: ``(state (H, W, C) float32, owner (H, W) int32)`` after it.

    ``beings[k - 1]`` is organism ``k`` (owner number ``k``); `walls` (bool ``(H, W)``),
    `sensed` (``(N + 1, N + 1)``) and `buffer`: see the module docstring.
    """
    height, width, _ = state.shape
    t = np.float32(threshold)
    state = np.asarray(state, np.float32)
    floor = np.ones((height, width), bool) if walls is None else ~np.asarray(walls, bool)
    state = state * floor[:, :, None]  # a wall reads as zero ...
    owner = np.where(floor, owner, 0)  # ... and as owned by nobody
    pre = near_hot(state[:, :, 3] > t, 1, wrap) & floor
    rule = rule_owner(state, owner, t, wrap) * floor  # a wall has no rule
    if buffer:
        barred = barred_cells(owner, rule, wrap)
        rule[barred], pre = 0, pre & ~barred
    masks = {}  # fire masks by fire rate
    u = state.astype(np.float64)
    for y in range(height):
        for x in range(width):
            if rule[y, x] == 0:
                continue
            spec = beings[rule[y, x] - 1].rule.spec
            if spec.fire_rate not in masks:
                masks[spec.fire_rate] = fire_mask(seed, step, height, width, spec.fire_rate)
            if masks[spec.fire_rate][y, x]:
                k = rule[y, x]
                reads = None if sensed is None else (lambda cell, k=k: owner[cell] == 0 or sensed[k, owner[cell]])
                dx = update(beings[k - 1].rule, perceive(state, y, x, wrap, reads))
                u[y, x, : spec.updated_channels] += dx[: spec.updated_channels]
    u = u.astype(np.float32)
    life = pre & near_hot(u[:, :, 3] > t, 1, wrap)
    out = u * life[:, :, None]
    new_owner = np.where(life, np.where(owner > 0, owner, rule), 0).astype(np.int32)
    for y in range(height):
        for x in range(width):
            if new_owner[y, x] > 0:
                being = beings[new_owner[y, x] - 1]
                if being.rule.spec.identity_mode == "frozen":
                    out[y, x, being.rule.spec.identity_slice] = being.identity
    return out, new_owner


def beings_of(world) -> list[Being]:
    """The organisms of a `sim.world.World`, for `reference_step` (read through its public API)."""
    return [Being(world.rules[o.species], o.identity) for o in world.organisms]


def step_and_compare(world, atol: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Step `world` once and check it against `reference_step` from the same state (its walls, who
    senses whom and contest rule included): every cell of the state within `atol` and the owner
    map exactly. Returns the reference's (state, owner)."""
    state, owner = reference_step(world.state_view().copy(), world.owner.copy(), beings_of(world),
                                  threshold=world.alive_threshold, wrap=world.boundary == "wrap",
                                  seed=world.seed, step=world.step_count, walls=world.walls,
                                  sensed=world.sensed(), buffer=world.contest == "buffer")
    world.step()
    wrong = np.argwhere(world.owner != owner)
    assert len(wrong) == 0, (f"step {world.step_count - 1}: owner differs at {wrong[:5].tolist()}: "
                             f"core {world.owner[tuple(wrong[0])]}, reference {owner[tuple(wrong[0])]}")
    np.testing.assert_allclose(world.state_view(), state, rtol=0, atol=atol)
    return state, owner

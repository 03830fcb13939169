"""Fission: an organism whose cells fall apart into several large parts becomes child organisms.

With ``[world] split = true`` a run checks every ``split_every`` steps (at steps that are
multiples of it, after the step's scripted events): an organism whose cells form two or more
8-connected parts of at least ``min_cells`` cells each splits. Each such part becomes a child
organism (`World.split`: ``name.1``, ``name.2``, ... in the order of the parts' first cells in
raster order, same species and identity, a ``parent`` link); smaller parts stay with the parent,
which keeps its number. On a torus (``boundary = "wrap"``) parts join across the edges. A split
is logged as a ``split`` event (`sim.scenario_events.Split`), so replays and forks redo it exactly.
"""

from __future__ import annotations

import numpy as np

from nca_world.sim.part_count import large_part_counts
from nca_world.sim.world import World

EIGHT_NEIGHBOURS = np.ones((3, 3), bool)


def torus_labels(cells: np.ndarray, wrap_rows: bool = False, wrap_columns: bool = False) -> tuple[np.ndarray, int]:
    """Labels ``1..count`` of the 8-connected components of `cells` ``(h, w)`` bool (0 elsewhere);
    with `wrap_rows` the last row touches the first (a crop that goes all the way round a torus),
    the same for `wrap_columns`. Labels are numbered in the order of each component's first
    cell in raster order."""
    from scipy import ndimage  # here, not at the top: importing it cost every command 0.15 s of start-up

    labels, count = ndimage.label(cells, structure=EIGHT_NEIGHBOURS)
    if count == 0 or not (wrap_rows or wrap_columns):
        return labels, count
    parent = np.arange(count + 1)

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def shifted(line: np.ndarray, shift: int, wrap: bool) -> np.ndarray:
        """``line`` moved by `shift` along itself: round (`wrap`) or with a 0 coming in."""
        out = np.roll(line, shift)
        if not wrap and shift:
            out[0 if shift > 0 else -1] = 0
        return out

    seams = []  # pairs of label lines that touch across a seam (8 neighbours: shifted by -1, 0, 1)
    if wrap_rows:
        seams += [(labels[-1], shifted(labels[0], shift, wrap_columns)) for shift in (-1, 0, 1)]
    if wrap_columns:
        seams += [(labels[:, -1], shifted(labels[:, 0], shift, wrap_rows)) for shift in (-1, 0, 1)]
    for a_line, b_line in seams:
        touching = (a_line > 0) & (b_line > 0)
        for a, b in zip(a_line[touching], b_line[touching], strict=True):
            ra, rb = root(int(a)), root(int(b))
            parent[max(ra, rb)] = min(ra, rb)  # the smaller label (the earlier first cell) stays the root
    roots = np.array([root(i) for i in range(count + 1)])
    kept = np.unique(roots[1:])  # ascending: still in the order of first cells
    renumber = np.zeros(count + 1, np.int64)
    renumber[kept] = np.arange(1, len(kept) + 1)
    return renumber[roots][labels], len(kept)


def parts(owner: np.ndarray, index: int, wrap: bool = False) -> list[np.ndarray]:
    """The 8-connected parts of organism `index`'s cells in `owner` ``(H, W)``, as bool ``(H, W)``
    masks in the order of their first cells in raster order; on a torus (`wrap`) across the
    edges."""
    from scipy import ndimage

    height, width = owner.shape
    found = ndimage.find_objects((owner == index).astype(np.int8))
    if not found:
        return []
    box = found[0]
    rows, columns = box
    mine = owner[box] == index
    labels, count = torus_labels(mine, wrap and rows.stop - rows.start == height,
                                 wrap and columns.stop - columns.start == width)
    out = []
    for label in range(1, count + 1):
        mask = np.zeros((height, width), bool)
        mask[box] = labels == label
        out.append(mask)
    return out


def large_parts(world: World, name: str, min_cells: int) -> list[np.ndarray]:
    """The parts of organism `name` with at least `min_cells` cells when there are two or more of
    them (what a split makes children of), else none."""
    found = parts(world.owner, world.organism(name).index, world.boundary == "wrap")
    large = [part for part in found if int(part.sum()) >= min_cells]
    return large if len(large) >= 2 else []


def splitting(world: World, min_cells: int) -> list[str]:
    """The organisms that split now (two or more parts of at least `min_cells` cells, what
    `large_parts` makes children of), in the order of their numbers; one pass over the owner map
    (`sim.part_count`)."""
    counts = large_part_counts(world.owner, len(world.organisms), min_cells, world.boundary == "wrap")
    return [o.name for o in world.organisms if counts[o.index] >= 2]

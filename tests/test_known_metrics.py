"""Known answers for the metrics recorded per step (`sim.metrics`, through the recorder's pass
`sim.frames.take`) that its mutation sampling (issue 18) showed unguarded; every expected value
is counted by hand."""

import numpy as np
import pytest

from nca_world.sim.metrics import SUMS, add_row, clear_sums, merge_sums, metric_rows
from tests.test_torus_metrics import recorded, world_with


def l_shape() -> tuple[np.ndarray, np.ndarray]:
    """On a plain 20 x 30 grid: o1 an L across the three 8-row blocks (column 5, rows 3-17, 15
    cells; row 17, columns 6-9, 4 cells) with one more cell at (10, 2); o2 a 2 x 3 block in
    rows 9-10, columns 20-22; o3 has no cells. Alpha: 0.5 for every owned cell, except o1's
    cells in rows 3-7 (the first block): 0."""
    owner = np.zeros((20, 30), np.int32)
    owner[3:18, 5] = 1
    owner[17, 6:10] = 1
    owner[10, 2] = 1
    owner[9:11, 20:23] = 2
    alpha = np.where(owner > 0, 0.5, 0.0)
    alpha[3:8] = 0.0
    return owner, alpha


def test_centroids_boxes_and_mass_of_organisms_over_several_row_blocks():
    owner, alpha = l_shape()
    world = world_with(owner, boundary="zero", organisms=3)
    world.state[..., 3] = alpha
    rows = recorded(world)
    # o1: 20 cells; rows 3 + ... + 17 = 150, 4 more at 17, one at 10: 228; columns 15 x 5 + 6 + 7 + 8 + 9 + 2 = 107
    assert rows[0, :4].tolist() == [7, 1, 20, 0.5 * 15]  # mass: 15 cells of alpha 0.5 (rows 8-17)
    assert rows[0, 4:6] == pytest.approx([228 / 20, 107 / 20])
    assert rows[0, 6:].tolist() == [3, 2, 17, 9]  # top from the first block, though its mass there is 0
    assert rows[1, 2:].tolist() == [6, 3.0, 9.5, 21.0, 9, 20, 10, 22]
    assert rows[2, 2:4].tolist() == [0, 0] and np.isnan(rows[2, 4:6]).all() and rows[2, 6:].tolist() == [-1] * 4


def test_merging_keeps_the_earlier_box_when_its_mass_is_zero():
    """`merge_sums` on hand-made partial sums: the earlier part's cells count, whatever their mass."""
    owner = np.zeros((4, 6), np.int32)
    owner[0, 1:4] = 1  # rows 0-1: the earlier part, 3 cells of alpha 0
    owner[3, 4] = 1  # rows 2-3: the later part, 1 cell of alpha 1
    alpha = np.where(owner > 0, 1.0, 0.0)
    alpha[0] = 0.0
    sums, later = np.empty((2, SUMS)), np.empty((2, SUMS))
    clear_sums(sums)
    clear_sums(later)
    for y in (0, 1):
        add_row(owner, alpha, y, sums)
    for y in (2, 3):
        add_row(owner, alpha, y, later)
    assert sums[1].tolist() == [3, 0.0, 0, 6, 0, 1, 0, 3]  # cells, mass, sum y, sum x, box
    merge_sums(sums, later)
    assert sums[1].tolist() == [4, 1.0, 3, 10, 0, 1, 3, 4]
    row = metric_rows(5, sums)[0]
    assert row.tolist() == [5, 1, 4, 1.0, 0.75, 2.5, 0, 1, 3, 4]


def test_the_right_edge_of_a_body_widest_in_its_first_row_block():
    """An upside-down L: o1's row 3, columns 5-9 (5 cells), then column 5, rows 4-17 (14 cells);
    o2 the 2 x 3 block of rows 9-10, columns 20-22. Its right edge (9) is in the first block only."""
    owner = np.zeros((20, 30), np.int32)
    owner[3, 5:10] = 1
    owner[4:18, 5] = 1
    owner[9:11, 20:23] = 2
    rows = recorded(world_with(owner, boundary="zero"))
    # rows: 5 x 3 + (4 + ... + 17) = 15 + 147; columns: 5 + 6 + 7 + 8 + 9 + 14 x 5 = 105
    assert rows[0, 2:4].tolist() == [19, 0.5 * 19]
    assert rows[0, 4:6] == pytest.approx([162 / 19, 105 / 19])
    assert rows[0, 6:].tolist() == [3, 5, 17, 9]  # not 6 (o2's cells so far) or 5
    assert rows[1, 2:].tolist() == [6, 3.0, 9.5, 21.0, 9, 20, 10, 22]

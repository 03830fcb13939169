"""Known answers for `sim.analysis` that its mutation sampling (issue 18) showed unguarded: every
expected value here is counted by hand on a small synthetic recording."""

import numpy as np
import pytest

from nca_world.sim.analysis import analyze, largest_component
from nca_world.sim.scenario_events import CutCircle
from tests.test_analysis import block_at, synthetic


def test_another_organism_inside_the_box_is_not_debris(tmp_path):
    """o1: a 5 x 7 block (rows 10-14, columns 10-16) with a 10-cell leg down column 10 (rows
    15-24); o2, a 5 x 7 block at rows 17-21, columns 12-18, sits inside o1's box without touching
    it (column 11 is empty). o1 has no debris: o2's cells in its box are not o1's."""
    state, owner = block_at(10, 10)
    state[15:25, 10, 3], owner[15:25, 10] = 1.0, 1
    state, owner = block_at(17, 12, state=state, owner=owner, index=2)
    table = analyze(synthetic(tmp_path / "leg.h5", [(state, owner)], [(12, 13), (19, 15)])).organisms
    o1, o2 = table.iloc[0], table.iloc[1]
    assert o1.alive == 45 and o1.debris_cells == 0 and not o1.debris  # not 25 (o2's cells in the box)
    assert (o1.top, o1.left, o1.bottom, o1.right) == (10, 10, 24, 16)
    assert o1.centroid_y == pytest.approx((35 * 12 + 10 * 19.5) / 45)  # 13.67
    assert o1.centroid_x == pytest.approx((35 * 13 + 10 * 10) / 45)  # 12.33
    assert o2.alive == 35 and o2.debris_cells == 0


def test_a_viewer_cut_right_after_the_first_frame_is_found(tmp_path):
    """A cut naming no organism at step 1: the last frame before it is frame 0 (index 0), which
    shows whom it hit."""
    frames = []
    for t in range(8):
        state, owner = block_at(10, 10)
        if 1 <= t < 5:  # the last two columns are gone from step 1 to step 4
            state[10:15, 15:17] = 0.0
            owner[10:15, 15:17] = 0
        frames.append((state, owner))
    cut = CutCircle(kind="cut_circle", step=1, center=(12, 16), radius=2.5)
    result = analyze(synthetic(tmp_path / "early.h5", frames, [(12, 13)], events=[(1, cut, {"killed": 10}, "viewer")]))
    assert result.regeneration.name.tolist() == ["o1"]
    assert result.regeneration.regrowth_steps.tolist() == [4]  # whole again at step 5


@pytest.mark.parametrize("first_row_column", [2, 4])
def test_cells_touching_diagonally_across_the_top_bottom_seam_are_one_piece(first_row_column):
    """(4, 3) in the last row and (0, 2) or (0, 4) in the first: corner neighbours across the seam
    of a crop that goes all the way round a torus's rows."""
    cells = np.zeros((5, 6), bool)
    cells[4, 3] = cells[0, first_row_column] = True
    assert largest_component(cells) == 1
    assert largest_component(cells, wrap_rows=True) == 2
    cells[0, first_row_column] = False
    cells[0, 3 + 2 * (first_row_column - 3)] = True  # two columns away: no contact even across the seam
    assert largest_component(cells, wrap_rows=True) == 1

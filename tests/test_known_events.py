"""Known answers for events (`sim.events`) that its mutation sampling (issue 18) showed
unguarded; every expected cell set is written out by hand."""

import numpy as np
import pytest

from nca_world.sim import events
from nca_world.sim.world import World
from tests.test_events import make
from tests.test_world import grower

H, W = 10, 12  # height != width, so a swapped bound shows


def block_world(top: int, left: int, rows: int = 3, columns: int = 4) -> World:
    """A plain 10 x 12 world whose organism "a" is a block at (top, left) with alpha 1 and every
    other channel its cell's number (y * 12 + x), so moved values can be traced."""
    world = World(H, W, species={"g": grower()}, seed=1)
    world.spawn("a", "g", (top, left))
    world.state[:] = 0.0
    world.owner[:] = 0
    cells = (slice(top, top + rows), slice(left, left + columns))
    world.owner[cells] = 1
    world.state[cells] = (np.arange(H * W, dtype=np.float32).reshape(H, W)[cells])[..., None]
    world.state[..., 3][cells] = 1.0
    return world


@pytest.mark.parametrize("by, rows, columns", [
    ((2, 0), [9], [4, 5, 6, 7]),  # rows 7, 8, 9 -> 9, 10, 11: two rows fall off the bottom
    ((0, 6), [7, 8, 9], [10, 11]),  # columns 4 .. 7 -> 10 .. 13: two columns fall off the right
])
def test_a_move_off_the_bottom_or_right_edge_drops_exactly_the_cells_past_it(by, rows, columns):
    world = block_world(7, 4)
    effect = events.apply(world, make("move", organism="a", by=by))
    expected = np.zeros((H, W), bool)
    expected[np.ix_(rows, columns)] = True
    assert effect["moved"] == len(rows) * len(columns)
    np.testing.assert_array_equal(world.owner == 1, expected)
    ys, xs = np.nonzero(expected)
    np.testing.assert_array_equal(world.state[ys, xs, 0], (ys - by[0]) * W + (xs - by[1]))  # each cell's own values
    assert not world.state[~expected].any()


def test_a_rectangle_over_the_top_left_corner_is_clipped():
    world = block_world(0, 0, rows=H, columns=W)  # every cell owned
    effect = events.apply(world, make("cut_rect", top_left=(-2, -3), size=(4, 5)))
    assert effect["killed"] == 2 * 2  # rows -2 .. 1 and columns -3 .. 1: the 2 x 2 inside
    expected = np.zeros((H, W), bool)
    expected[:2, :2] = True
    np.testing.assert_array_equal(world.owner == 0, expected)


def test_a_diagonal_line_cuts_the_cells_within_half_its_width():
    """From (1, 1) to (5, 5), width 1: a cell is cut if within 0.5 of the segment, i.e. the
    diagonal cells (1, 1) .. (5, 5) only (the next cells are sqrt(2) / 2 = 0.71 away)."""
    world = block_world(0, 0, rows=H, columns=W)
    effect = events.apply(world, make("cut_line", start=(1, 1), end=(5, 5), width=1.0))
    assert effect["killed"] == 5
    np.testing.assert_array_equal(np.argwhere(world.owner == 0).tolist(), [[i, i] for i in range(1, 6)])
    world = block_world(0, 0, rows=H, columns=W)  # width 1.5: also the 8 cells beside it (0.71 <= 0.75)
    events.apply(world, make("cut_line", start=(1, 1), end=(5, 5), width=1.5))
    assert sorted(map(tuple, np.argwhere(world.owner == 0).tolist())) == sorted(
        [(i, i) for i in range(1, 6)] + [(i, i + 1) for i in range(1, 5)] + [(i + 1, i) for i in range(1, 5)])


@pytest.mark.parametrize("boundary, rows, columns", [
    ("wrap", [9, 0, 1], [11, 0, 1]),  # a disc at the corner of a torus goes on across both edges
    ("zero", [0, 1], [0, 1]),  # on a bounded grid it is clipped there
])
def test_a_wall_disc_at_the_corner_follows_the_boundary(boundary, rows, columns):
    world = World(H, W, species={"g": grower()}, seed=1, boundary=boundary)
    effect = events.apply(world, make("add_walls", shape="circle", center=[0, 0], radius=1.5))
    expected = np.zeros((H, W), bool)
    expected[np.ix_(rows, columns)] = True  # minimum-image distance <= 1.5: the 3x3 block around (0, 0)
    np.testing.assert_array_equal(world.walls, expected)
    assert effect["cells"] == expected.sum()

"""Each event kind does exactly what it says, and only to the organism it names."""

import numpy as np
import pytest

from nca_world.sim import events
from nca_world.sim.scenario_events import EVENT_TYPES
from nca_world.sim.world import World
from tests.test_world import grower


def make(kind: str, **fields):
    cls = next(t for t in EVENT_TYPES if t.model_fields["kind"].annotation.__args__[0] == kind)
    return cls(kind=kind, step=0, **fields)


@pytest.fixture
def world() -> World:
    w = World(40, 60, species={"g": grower()}, seed=1)
    w.spawn("left", "g", (20, 15))
    w.spawn("right", "g", (20, 45))
    w.step(8)
    return w


def test_cut_circle_empties_exactly_the_disc(world):
    before, owned = world.state.copy(), world.owner > 0
    yy, xx = np.mgrid[:40, :60]
    disc = (yy - 20) ** 2 + (xx - 15) ** 2 <= 5**2
    effect = events.apply(world, make("cut_circle", center=(20, 15), radius=5))
    assert not world.state[disc].any() and not world.owner[disc].any()
    np.testing.assert_array_equal(world.state[~disc], before[~disc])
    assert effect["killed"] == int(owned[disc].sum()) > 0


def test_events_limited_to_one_organism_leave_the_others_untouched(world):
    right = world.mask("right").copy()
    before = world.state[right].copy()
    events.apply(world, make("cut_rect", top_left=(0, 0), size=(40, 60), organism="left"))
    assert not world.mask("left").any()
    np.testing.assert_array_equal(world.state[right], before)
    assert (world.mask("right") == right).all()


def test_move_translates_the_owned_cells_exactly(world):
    mask = world.mask("right").copy()
    values = world.state[mask].copy()
    events.apply(world, make("move", organism="right", by=(3, -4)))
    moved = np.roll(np.roll(mask, 3, 0), -4, 1)
    assert (world.mask("right") == moved).all()
    np.testing.assert_array_equal(world.state[moved], values)
    assert not world.state[mask & ~moved].any()


def test_move_to_puts_the_centroid_there_and_drops_cells_off_the_grid(world):
    events.apply(world, make("move", organism="left", to=(20, 2)))
    ys, xs = np.nonzero(world.mask("left"))
    assert xs.min() == 0 and abs(ys.mean() - 20) < 1.5
    assert world.mask("left").sum() < world.mask("right").sum()  # part of it fell off the left edge


def test_kill_fraction_kills_about_that_fraction(world):
    alive = int((world.owner > 0).sum())
    effect = events.apply(world, make("kill_fraction", fraction=0.3))
    assert abs(effect["killed"] / alive - 0.3) < 0.08
    assert int((world.owner > 0).sum()) == alive - effect["killed"]


def test_cut_line_noise_set_identity_and_remove(world):
    effect = events.apply(world, make("cut_line", start=(0, 15), end=(39, 15), width=3))
    assert effect["killed"] > 0 and not world.owner[:, 14:17].any()
    before = world.state.copy()
    events.apply(world, make("noise", std=0.1, channels=[5], organism="right"))
    changed = (world.state != before).any(axis=2)
    assert changed[world.mask("right")].mean() > 0.9 and not changed[~world.mask("right")].any()
    assert (world.state[..., :5] == before[..., :5]).all()
    events.apply(world, make("remove", organism="right"))
    assert not world.mask("right").any()


def test_records_turn_back_into_the_same_events():
    event = make("cut_circle", center=(3, 4), radius=2.5, organism="a")
    record = events.record_of(event, 17, {"killed": 3}, "viewer")
    again = events.event_of(record)
    assert again.center == (3, 4) and again.radius == 2.5 and again.organism == "a" and again.step == 17


# ---------------------------------------------------------------- on a torus (height != width)

def full_world(boundary: str) -> World:
    """A 40 x 60 world whose every cell is alive and owned by organism "a"."""
    w = World(40, 60, species={"g": grower()}, boundary=boundary, seed=1)
    w.spawn("a", "g", (20, 30))
    w.state[..., 3] = 1.0
    w.owner[:] = 1
    return w


@pytest.mark.parametrize("boundary, killed", [("wrap", 29), ("zero", 11)])
def test_a_disc_at_a_corner_goes_on_across_both_edges_of_a_torus(boundary, killed):
    world = full_world(boundary)
    effect = events.apply(world, make("cut_circle", center=(0, 0), radius=3))
    assert effect["killed"] == killed  # lattice points within 3 of a point: 29; in one quadrant: 11
    dead = world.owner == 0
    wrapped = boundary == "wrap"
    assert dead[0, 3] and dead[3, 0] and not dead[0, 4] and not dead[4, 0]
    assert dead[39, 59] == wrapped and dead[37, 0] == wrapped and dead[0, 57] == wrapped  # across the edges
    assert not dead[0, 37] and not dead[37, 37]  # a swapped height and width would kill (0, 37)


@pytest.mark.parametrize("boundary, killed", [("wrap", 20), ("zero", 4)])
def test_a_rectangle_over_the_corner_wraps_on_a_torus(boundary, killed):
    world = full_world(boundary)
    effect = events.apply(world, make("cut_rect", top_left=(38, 58), size=(4, 5)))
    assert effect["killed"] == killed
    expected = np.zeros((40, 60), bool)
    expected[38:, 58:] = True
    if boundary == "wrap":  # rows 38, 39, 0, 1 and columns 58, 59, 0, 1, 2
        expected[np.ix_([38, 39, 0, 1], [58, 59, 0, 1, 2])] = True
    np.testing.assert_array_equal(world.owner == 0, expected)


@pytest.mark.parametrize("boundary, killed", [("wrap", 39), ("zero", 26)])
def test_a_line_along_the_top_edge_cuts_the_bottom_row_of_a_torus(boundary, killed):
    world = full_world(boundary)
    effect = events.apply(world, make("cut_line", start=(0, 10), end=(0, 20), width=3))
    assert effect["killed"] == killed  # rows -1, 0, 1 (or 0, 1) x columns 9 .. 21 (the caps reach sqrt 2)
    assert (world.owner[39, 9:22] == 0).all() == (boundary == "wrap") and world.owner[38].all()


def straddling_block(world: World, name: str, top: int, left: int) -> np.ndarray:
    """Make organism `name` a 5 x 7 block with its top-left cell at (top, left), wrapped."""
    index = world.organism(name).index
    world.state[world.owner == index] = 0.0
    world.owner[world.owner == index] = 0
    rows, columns = np.arange(top, top + 5) % world.height, np.arange(left, left + 7) % world.width
    world.owner[np.ix_(rows, columns)] = index
    world.state[np.ix_(rows, columns)] = 0.5
    return world.mask(name).copy()


def test_move_by_wraps_each_axis_by_its_own_size():
    world = World(40, 60, species={"g": grower()}, boundary="wrap", seed=1)
    world.spawn("a", "g", (20, 30))
    mask = straddling_block(world, "a", 10, 20)
    effect = events.apply(world, make("move", organism="a", by=(35, 50)))
    assert effect["moved"] == 35  # nothing falls off a torus
    np.testing.assert_array_equal(world.mask("a"), np.roll(np.roll(mask, 35, 0), 50, 1))
    rows, columns = np.nonzero(world.mask("a").any(1))[0], np.nonzero(world.mask("a").any(0))[0]
    assert sorted(rows.tolist()) == sorted(((10 + 35 + np.arange(5)) % 40).tolist())  # 45..49 -> 5..9
    assert sorted(columns.tolist()) == sorted(((20 + 50 + np.arange(7)) % 60).tolist())  # 70..76 -> 10..16


def test_move_to_takes_an_organism_straddling_both_edges_by_its_true_centroid():
    world = World(40, 60, species={"g": grower()}, boundary="wrap", seed=1)
    world.spawn("a", "g", (20, 30))
    straddling_block(world, "a", 38, 57)  # rows 38, 39, 0, 1, 2; columns 57 .. 59, 0 .. 3: centroid (0, 0)
    effect = events.apply(world, make("move", organism="a", to=(20, 30)))
    assert effect["by"] == [-20, -30]  # half a period either way; the plain mean (16, 25.7) gave (4, 4)
    expected = np.zeros((40, 60), bool)
    expected[18:23, 27:34] = True
    np.testing.assert_array_equal(world.mask("a"), expected)
    events.apply(world, make("move", organism="a", to=(39, 1)))  # back across: the short way, by (19, -29)
    ys, xs = np.nonzero(world.mask("a"))
    assert sorted(set(ys.tolist())) == [0, 1, 37, 38, 39] and sorted(set(xs.tolist())) == [0, 1, 2, 3, 4, 58, 59]

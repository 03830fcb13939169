"""Each event kind does exactly what it says, and only to the organism it names."""

import numpy as np
import pytest

from sim import events
from sim.scenario import EVENT_TYPES
from sim.world import World
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

"""Organisms meeting: who takes a contested cell, checked against the numpy reference, owner map
included, and by known answers worked out by hand."""

import numpy as np
import pytest

from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.world import World
from tests.conftest import lively_rule
from tests.reference import step_and_compare

T = np.float32(0.1)  # the alive threshold, as the core compares it


def constant_rule(alpha_change: float, *, channels: int = 8, fire_rate: float = 1.0) -> Rule:
    """A rule whose update adds `alpha_change` to alpha and nothing else, wherever it fires."""
    spec = RuleSpec(channels=channels, hidden=8, fire_rate=fire_rate)
    b2 = np.zeros(channels, np.float32)
    b2[3] = alpha_change
    return Rule(spec, np.zeros((spec.features, 8), np.float32), np.zeros(8, np.float32),
                np.zeros((8, channels), np.float32), b2)


def place(world: World, cells: dict[tuple[int, int], tuple[int, float]]) -> None:
    """Set ``(y, x) -> (owner, alpha)`` on an empty world (organisms already spawned)."""
    world.state[:] = 0.0
    world.owner[:] = 0
    for (y, x), (owner, alpha) in cells.items():
        world.state[y, x, 3] = alpha
        world.owner[y, x] = owner


def still_world(height: int, width: int, organisms: int, boundary: str = "zero") -> World:
    world = World(height, width, species={"still": constant_rule(0.0)}, boundary=boundary)
    for k in range(organisms):
        world.spawn(f"o{k + 1}", "still", (0, 0))
    return world


def test_a_newborn_cell_takes_its_strongest_neighbour_and_ties_go_in_raster_order():
    world = still_world(7, 11, 3)
    place(world, {(3, 2): (1, 0.5), (3, 4): (2, 0.5),  # equal: the one met first in raster order wins
                  (3, 6): (2, 0.5), (3, 8): (3, 0.9)})  # unequal: the stronger wins, wherever it is
    _, owner = step_and_compare(world)
    np.testing.assert_array_equal(owner[2:5, 1:10], [
        [1, 1, 1, 2, 2, 2, 3, 3, 3],
        [1, 1, 1, 2, 2, 2, 3, 3, 3],
        [1, 1, 1, 2, 2, 2, 3, 3, 3],
    ])
    # (2, 3) sees 1 and 2 only in its lower row, (2, 7) sees 2 and 3 likewise
    assert owner[2, 3] == 1 and owner[2, 7] == 3 and owner[2, 5] == 2
    assert not owner[:2].any() and not owner[5:].any()


def test_a_tie_between_rows_goes_to_the_upper_row():
    world = still_world(6, 6, 2)
    place(world, {(2, 3): (2, 0.4), (3, 2): (1, 0.4)})
    _, owner = step_and_compare(world)
    # (2, 2) and (3, 3) see both at 0.4: the one in the window's upper row, organism 2, wins
    assert owner[2, 2] == 2 and owner[3, 3] == 2
    assert owner[4, 2] == 1 and owner[1, 3] == 2


def test_on_a_torus_ties_follow_the_window_not_the_grid():
    world = still_world(5, 6, 3, boundary="wrap")
    place(world, {(0, 5): (1, 0.5), (0, 1): (2, 0.5), (2, 3): (3, 0.5)})
    _, owner = step_and_compare(world)
    # (0, 0): x = 5 is its left neighbour (dx = -1), read before x = 1 (dx = +1)
    assert owner[0, 0] == 1
    # (4, 0): its window starts at row 3, and wraps to (0, 5) and (0, 1) in its last row
    assert owner[4, 0] == 1
    place(world, {(0, 5): (1, 0.5), (0, 1): (2, 0.5), (4, 0): (3, 0.5)})
    _, owner = step_and_compare(world)
    assert owner[0, 0] == 3  # (4, 0) is the row above (0, 0) on the torus
    assert owner[1, 0] == 1  # row 0 of its window: (0, 5) before (0, 1); (4, 0) is two rows up


@pytest.mark.parametrize(("left", "right", "between"), [
    (0.5, 0.5, "dies"),    # tie in the 5x5 window: the shrinking organism's rule, read first, wins
    (0.5, 0.6, "lives"),   # the growing organism is stronger: its rule grows the gap cell
])
def test_an_unowned_cell_two_away_is_computed_by_the_strongest_in_its_5x5_window(left, right, between):
    # organism 1 shrinks (its cells go to alpha -1), organism 2 grows (+0.3); the gap cell (3, 5)
    # has no owned cell in its 3x3 window, so its rule comes from the 5x5 window. If it grows,
    # (3, 4) next to organism 1 stays alive through it, owned by organism 1.
    world = World(7, 11, species={"shrink": constant_rule(-1.0), "grow": constant_rule(0.3)})
    world.spawn("s", "shrink", (0, 0))
    world.spawn("g", "grow", (0, 0))
    place(world, {(3, 3): (1, left), (3, 7): (2, right)})
    state, owner = step_and_compare(world)
    if between == "lives":
        assert owner[3, 4] == 1 and state[3, 4, 3] == pytest.approx(-1.0)
    else:
        assert owner[3, 4] == 0 and not state[3, 4].any()
    assert owner[3, 6] == 2 and owner[3, 5] == 0 and owner[3, 3] == 0


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
@pytest.mark.parametrize("corner", [(0, 0), (0, 8), (6, 0), (6, 8)])
def test_life_around_a_corner_cell_crosses_the_edges_of_a_torus_only(boundary, corner):
    # one hot cell: its 3x3 window lives (its own alpha, unchanged, keeps it alive), cut at the
    # edges of a zero boundary, wrapped across both edges of a torus at the first step (when the
    # ring of the step's output buffer has never been written)
    world = still_world(7, 9, 1, boundary)
    place(world, {corner: (1, 0.5)})
    _, owner = step_and_compare(world)
    y, x = corner
    rows, cols = [y - 1, y, y + 1], [x - 1, x, x + 1]
    if boundary == "wrap":
        expected = np.zeros((7, 9), np.int32)
        expected[np.ix_([r % 7 for r in rows], [c % 9 for c in cols])] = 1
    else:
        expected = np.zeros((9, 11), np.int32)  # with a margin for the cells off the grid
        expected[np.ix_([r + 1 for r in rows], [c + 1 for c in cols])] = 1
        expected = expected[1:-1, 1:-1]
    np.testing.assert_array_equal(owner, expected)
    _, owner = step_and_compare(world)
    np.testing.assert_array_equal(owner, expected)


def test_an_alpha_exactly_at_the_threshold_is_not_alive():
    world = still_world(9, 9, 2)
    above = np.nextafter(T, np.float32(1))
    place(world, {(2, 2): (1, float(T)), (6, 6): (2, float(above))})
    assert world.state[2, 2, 3] == T
    state, owner = step_and_compare(world)
    assert not owner[:5, :5].any() and not state[:5, :5].any()  # 0.1 is not above 0.1: all dead
    assert (owner[5:8, 5:8] == 2).all() and owner.sum() == 2 * 9
    assert state[6, 6, 3] == above


def test_the_fate_of_a_cell_does_not_depend_on_its_row():
    # An unowned hot cell with no owner within two cells is alive and keeps its state, whether or
    # not another cell of its row has an owner.
    world = still_world(9, 12, 1)
    place(world, {(2, 2): (0, 0.5), (6, 2): (0, 0.5), (6, 9): (1, 0.5)})
    state, owner = step_and_compare(world)
    assert state[2, 2, 3] == state[6, 2, 3] == np.float32(0.5)
    assert owner[2, 2] == owner[6, 2] == 0 and owner[6, 9] == 1


def meeting_world(height: int, width: int, boundary: str, seed: int) -> World:
    """Two species with different non-zero rules and three organisms on a random state whose
    alphas take few values (exact ties, and cells exactly at the threshold)."""
    a = lively_rule(RuleSpec(channels=16, hidden=24, fire_rate=0.5), seed=seed)
    b = lively_rule(RuleSpec(channels=16, hidden=16, fire_rate=0.75), seed=seed + 100)
    world = World(height, width, species={"a": a, "b": b}, boundary=boundary, seed=seed)
    for name, species in (("a1", "a"), ("b1", "b"), ("a2", "a")):
        world.spawn(name, species, (0, 0))
    rng = np.random.default_rng(seed)
    state = rng.random((height, width, 16), dtype=np.float32) - np.float32(0.3)
    state[:, :, 3] = rng.choice(np.array([0.0, 0.05, T, 0.3, 0.3, 0.6], np.float32), (height, width))
    owner = rng.integers(0, 4, (height, width)).astype(np.int32)
    owner[:, : width // 3][owner[:, : width // 3] == 2] = 1  # organisms side by side, with a border
    world.state[:] = state
    world.owner[:] = owner
    return world


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
@pytest.mark.parametrize("size", [(1, 1), (1, 5), (4, 1), (2, 3), (19, 21)])
def test_meeting_organisms_match_the_reference_cell_by_cell(boundary, size):
    world = meeting_world(*size, boundary, seed=sum(size))
    born = 0
    for _ in range(4):
        before = world.owner.copy()
        step_and_compare(world)
        born += int(((before == 0) & (world.owner > 0)).sum())
    if size == (19, 21):
        assert born > 10 and {1, 2, 3} <= set(np.unique(world.owner).tolist())  # contested; all three live

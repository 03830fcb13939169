"""Walls, who senses whom and the buffer contest in the core: checked cell by cell (state and owner
map) against the numpy reference, and by known answers worked out by hand."""

import numpy as np
import pytest

from nca_world.agents.spec import RuleSpec
from nca_world.sim.meeting import sensed_matrix
from nca_world.sim.world import World
from tests.conftest import lively_rule
from tests.reference import step_and_compare
from tests.test_meeting import constant_rule, meeting_world, place


def grow_world(height: int, width: int, organisms: int, **meeting) -> World:
    """Organisms of a rule that adds 0.3 to alpha wherever it fires (every step)."""
    world = World(height, width, species={"grow": constant_rule(0.3)}, **meeting)
    for k in range(organisms):
        world.spawn(f"o{k + 1}", "grow", (0, 0))
    return world


# --------------------------------------------------------------------------- walls


def test_a_wall_blocks_growth_and_is_never_owned():
    world = grow_world(7, 12, 1)
    wall = np.zeros((7, 12), bool)
    wall[:, 6] = True
    world.set_walls(wall)
    place(world, {(3, 3): (1, 0.5)})
    for _ in range(6):
        state, owner = step_and_compare(world)
        assert not owner[:, 6:].any() and not state[:, 6:].any()  # the wall and everything past it
    assert (owner[:, :6] == 1).all()  # grown up to the wall over the whole height


def test_a_value_written_into_a_wall_is_never_read_and_never_lives():
    # a wall cell written after it was made (alpha 0.9, owned by 1) would keep its 3x3 window alive
    # and owned; as a wall it reads as empty: only organism 1's own window lives, cut by the wall
    world = World(7, 9, species={"still": constant_rule(0.0)})
    world.spawn("o1", "still", (0, 0))
    wall = np.zeros((7, 9), bool)
    wall[3, 4] = True
    world.set_walls(wall)
    place(world, {(3, 2): (1, 0.5), (3, 4): (1, 0.9)})
    state, owner = step_and_compare(world)
    expected = np.zeros((7, 9), np.int32)
    expected[2:5, 1:4] = 1
    np.testing.assert_array_equal(owner, expected)
    assert not state[3, 4].any() and not state[:, 4:].any()


def test_a_value_written_into_a_wall_between_steps_is_cleared_before_the_next():
    # a step leaves wall cells zero, so the world clears the wall channels only after the state
    # was written from outside: a write between steps must still be read as empty
    world = grow_world(9, 9, 1)
    wall = np.zeros((9, 9), bool)
    wall[4, 6] = True
    world.set_walls(wall)
    place(world, {(4, 3): (1, 0.5)})
    for _ in range(2):
        step_and_compare(world)
    world.state[4, 6] = 0.9  # through the writable view, after the steps
    world.owner[4, 6] = 1
    for _ in range(3):
        state, owner = step_and_compare(world)
        assert not state[4, 6].any() and owner[4, 6] == 0


def test_walls_are_killed_when_set_and_floor_again_when_removed():
    world = grow_world(5, 5, 1)
    place(world, {(2, 2): (1, 0.5)})
    wall = np.zeros((5, 5), bool)
    wall[2, 2] = True
    assert world.set_walls(wall) == 1 and world.set_walls(wall) == 0
    assert world.owner[2, 2] == 0 and not world.state_view()[2, 2].any()
    assert world.set_walls(wall, wall=False) == 1 and not world.walls.any()


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (4, 1), (19, 21)])
@pytest.mark.parametrize("meeting", [{}, {"senses": "self"}, {"contest": "buffer"},
                                     {"senses": "own_species", "contest": "buffer"}],
                         ids=["walls", "walls-self", "walls-buffer", "walls-own-buffer"])
def test_organisms_among_walls_match_the_reference_cell_by_cell(boundary, size, meeting):
    world = meeting_world(*size, boundary, seed=sum(size) + 3)
    world.set_meeting(**meeting)
    rng = np.random.default_rng(sum(size))
    walls = rng.random(size) < 0.15
    world.set_walls(walls)
    world.state[walls] = 0.7  # a value written into a wall after it was made: read as empty
    for _ in range(4):
        state, owner = step_and_compare(world)
        assert not owner[walls].any() and not state[walls].any()


# --------------------------------------------------------------------------- who senses whom


def test_the_sensed_matrix_follows_the_levels():
    species = ["a", "a", "b"]
    assert sensed_matrix(species, "all", {}).all()
    np.testing.assert_array_equal(sensed_matrix(species, "own_species", {})[1:, 1:],
                                  [[1, 1, 0], [1, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(sensed_matrix(species, "self", {})[1:, 1:], np.eye(3))
    # a pair's level overrides the default: a and b sense each other, a's organisms not each other
    np.testing.assert_array_equal(sensed_matrix(species, "self", {frozenset("ab"): "all"})[1:, 1:],
                                  [[1, 0, 1], [0, 1, 1], [1, 1, 1]])


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
@pytest.mark.parametrize("senses", ["self", "own_species"])
def test_blind_organisms_match_the_reference_cell_by_cell(boundary, senses):
    world = meeting_world(19, 21, boundary, seed=5)
    world.set_meeting(senses=senses)
    assert not world.sensed().all()
    for _ in range(4):
        step_and_compare(world)


def adjacent_pair(senses: str, zero_other: bool) -> World:
    """Organism 1 (lively species a) on the left half, 2 (species b) on the right, touching."""
    world = meeting_world(12, 20, "zero", seed=9)
    world.set_meeting(senses=senses)
    owner = np.where(np.arange(20) < 10, 1, 2)[None].repeat(12, 0).astype(np.int32)
    owner[world.state_view()[:, :, 3] <= 0.1] = 0
    world.owner[:] = owner
    if zero_other:
        world.state[owner == 2] = 0.0
        world.owner[owner == 2] = 0
    return world


def test_a_blind_organism_next_to_another_updates_as_if_the_other_were_empty():
    blind, alone, seeing = adjacent_pair("self", False), adjacent_pair("all", True), adjacent_pair("all", False)
    mine = blind.owner == 1
    border = mine & (np.arange(20) >= 8)  # organism 1's cells within reach of organism 2
    assert border.sum() > 5
    for world in (blind, alone, seeing):
        world.step()
    kept = mine & (blind.owner == 1) & (alone.owner == 1) & (seeing.owner == 1)
    assert (kept & border).sum() > 3
    np.testing.assert_allclose(blind.state_view()[kept], alone.state_view()[kept], rtol=0, atol=0)
    # sensing the other changes the border cells' update (so the test above means something)
    assert np.abs(seeing.state_view() - blind.state_view())[kept & border].max() > 1e-3


def test_a_blind_organism_far_from_another_updates_as_if_alone():
    species = {"a": lively_rule(RuleSpec(channels=16, hidden=16), seed=2),
               "b": lively_rule(RuleSpec(channels=16, hidden=16), seed=3)}
    both = World(16, 30, species=species, senses="self", seed=4)
    alone = World(16, 30, species=species, senses="self", seed=4)
    for world in (both, alone):
        world.spawn("x", "a", (8, 5))
    both.spawn("y", "b", (8, 25))
    for _ in range(5):
        both.step()
        alone.step()
    left = np.arange(30) < 15
    assert (both.owner[:, left] == 1).sum() > 4 and (both.owner == 2).sum() > 4
    np.testing.assert_array_equal(both.state_view()[:, left], alone.state_view()[:, left])
    np.testing.assert_array_equal(both.owner[:, left], alone.owner[:, left])


# --------------------------------------------------------------------------- contested cells


def touching(owner: np.ndarray, boundary: str, only: np.ndarray | None = None) -> bool:
    """Whether a cell (of `only`, default all) has a cell of another organism in its 3x3 window."""
    padded = np.pad(owner, 1, mode="wrap" if boundary == "wrap" else "constant")
    cells = (owner > 0) if only is None else only
    for y, x in zip(*np.nonzero(cells), strict=True):
        if not set(np.unique(padded[y : y + 3, x : x + 3]).tolist()) <= {0, int(owner[y, x])}:
            return True
    return False


def test_buffer_keeps_a_one_cell_gap_between_organisms_two_apart():
    world = grow_world(7, 11, 2, contest="buffer")
    place(world, {(3, 3): (1, 0.5), (3, 5): (2, 0.5)})
    _, owner = step_and_compare(world)
    # column 4 borders both: barred (its rule is 1, the tie going to (3, 3) by raster order, and
    # 2 is next to it); (2, 5), (2, 6) and their mirrors below have rule 2 but border cells whose
    # rule is 1 (column 4, and (1, 5), (1, 6) whose 5x5 tie also goes to (3, 3)): barred too
    np.testing.assert_array_equal(owner[1:6, 1:8], [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0, 0],
        [0, 1, 1, 0, 2, 2, 0],
        [0, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ])
    assert owner.sum() == 6 + 2 * 2
    for _ in range(3):  # a gap of at least one cell stays as both grow
        _, owner = step_and_compare(world)
        assert (owner == 1).sum() >= 9 and (owner == 2).sum() >= 2 and not touching(owner, "zero")
    world.set_meeting(contest="strongest")
    place(world, {(3, 3): (1, 0.5), (3, 5): (2, 0.5)})
    _, owner = step_and_compare(world)
    np.testing.assert_array_equal(owner[2:5, 2:7], [[1, 1, 1, 2, 2]] * 3)  # today: the tie goes to 1


def test_buffer_bars_two_newborns_of_different_organisms_side_by_side():
    # organisms three apart: columns 4 and 5 would be born to 1 and 2, touching; both stay empty
    world = grow_world(7, 12, 2, contest="buffer")
    place(world, {(3, 3): (1, 0.5), (3, 6): (2, 0.5)})
    for _ in range(4):
        _, owner = step_and_compare(world)
        np.testing.assert_array_equal(owner[3, 2:8], [1, 1, 0, 0, 2, 2])


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
def test_under_buffer_no_newborn_touches_another_organism(boundary):
    world = meeting_world(19, 21, boundary, seed=17)
    world.set_meeting(contest="buffer")
    bands = (np.arange(21) // 7 + 1)[None].repeat(19, 0)  # organisms side by side, holes inside
    world.owner[:] = np.where(world.state_view()[:, :, 3] > 0.1, bands, 0)
    born = 0
    for _ in range(4):
        before = world.owner.copy()
        _, owner = step_and_compare(world)
        newborn = (before == 0) & (owner > 0)
        born += int(newborn.sum())
        assert not touching(owner, boundary, newborn)
    assert born > 20

import numpy as np
import pytest

from nca_world.agents.errors import WorldError
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.world import World
from tests.conftest import lively_rule, random_state


def grower() -> Rule:
    """A rule that raises alpha everywhere it fires: every organism grows one ring per ~step."""
    spec = RuleSpec(hidden=16)
    w1 = np.zeros((spec.features, spec.hidden), np.float32)
    b1 = np.zeros(spec.hidden, np.float32)
    b1[0] = 1.0  # hidden unit 0 is always 1
    w2 = np.zeros((spec.hidden, spec.channels), np.float32)
    w2[0, 3] = 0.3  # ... and adds 0.3 to alpha
    return Rule(spec, w1, b1, w2, np.zeros(spec.channels, np.float32))


def still() -> Rule:
    """A rule whose update is exactly zero."""
    return Rule.random(RuleSpec(hidden=16), seed=0)


def test_growth_inherits_the_owner_and_segments_exactly():
    world = World(40, 60, species={"g": grower()}, seed=1)
    world.spawn("left", "g", (20, 12))
    world.spawn("right", "g", (20, 48))
    world.step(8)
    left, right = world.mask("left"), world.mask("right")
    assert left.sum() > 20 and right.sum() > 20
    assert not (left & right).any()
    assert (np.nonzero(left)[1] < 30).all() and (np.nonzero(right)[1] >= 30).all()
    # every cell with a non-zero state is owned, and owned cells sit next to a hot cell
    assert (world.state.any(axis=2) <= (world.owner > 0)).all()
    assert (world.owner > 0).sum() < 2 * (world.alpha > 0.1).sum()


def test_dead_cells_lose_their_owner():
    world = World(30, 30, species={"g": grower()}, seed=2)
    world.spawn("o", "g", (15, 15))
    world.step(5)
    assert world.mask("o").sum() > 9
    world.state[:] = 0.0  # kill everything
    world.step()
    assert not world.owner.any()


def test_a_zero_rule_leaves_its_cells_while_the_other_species_grows():
    world = World(30, 60, species={"still": still(), "grow": grower()}, seed=3)
    world.spawn("s", "still", (15, 10))
    world.spawn("g", "grow", (15, 45))
    ys, xs = np.mgrid[13:18, 8:13]
    world.state[ys, xs, 3] = 1.0
    world.owner[ys, xs] = 1
    before = world.state.copy()
    world.step(6)
    np.testing.assert_array_equal(world.state[:, :30], before[:, :30])
    assert (world.alpha[:, :30] > 0.1).sum() == 25
    assert world.mask("s").sum() == 49  # the block and its zero-state but living ring
    assert (world.alpha[:, 30:] > 0.1).sum() > 25


def test_same_seed_gives_identical_worlds_and_another_seed_does_not():
    def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
        world = World(48, 48, species={"a": lively_rule(RuleSpec(hidden=32), seed=4)}, seed=seed)
        world.spawn("o", "a", (24, 24))
        world.state[:] = random_state(np.random.default_rng(3), 48, 48, 16)
        world.owner[:] = 1
        world.step(100)
        return world.state.copy(), world.owner.copy()

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_spawn_writes_the_seed_cell_and_identity():
    spec = RuleSpec(channels=17, hidden=8, identity_channels=1)
    world = World(10, 10, species={"a": Rule.random(spec, seed=0)})
    organism = world.spawn("o", "a", (3, 4), identity=0.5)
    assert organism.index == 1 and world.owner[3, 4] == 1
    assert world.state[3, 4, 16] == 0.5 and world.state[3, 4, 3] == 1.0
    assert world.state.sum() == pytest.approx(13 + 0.5)


@pytest.mark.parametrize(("call", "message"), [
    (lambda w: w.spawn("o", "a", (10, 0)), "inside the 10x10 grid"),
    (lambda w: w.spawn("o", "nope", (1, 1)), "unknown species 'nope'"),
    (lambda w: w.spawn("o", "a", (1, 1), identity=[1, 2]), "identity: expected 1"),
    (lambda w: [w.spawn("o", "a", (1, 1)), w.spawn("o", "a", (2, 2))], "already taken"),
    (lambda w: w.spawn("o", "a", "middle"), "position: expected"),
])
def test_world_refuses_bad_input_clearly(call, message):
    spec = RuleSpec(channels=17, hidden=8, identity_channels=1)
    world = World(10, 10, species={"a": Rule.random(spec, seed=0)})
    with pytest.raises(WorldError, match=message):
        call(world)


def test_species_must_share_channels_and_seed_must_be_valid():
    a = Rule.random(RuleSpec(channels=16, hidden=8), seed=0)
    b = Rule.random(RuleSpec(channels=17, hidden=8, identity_channels=1), seed=0)
    with pytest.raises(WorldError, match="species 'b': expected 16 channels"):
        World(8, 8, species={"a": a, "b": b})
    with pytest.raises(WorldError, match="seed"):
        World(8, 8, species={"a": a}, seed=-1)
    with pytest.raises(WorldError, match="boundary"):
        World(8, 8, species={"a": a}, boundary="mirror")


def test_owner_map_with_unknown_organisms_is_refused():
    world = World(8, 8, species={"a": still()})
    world.owner[2, 2] = 5
    with pytest.raises(WorldError, match=r"outside 0\.\.0"):
        world.step()


@pytest.mark.parametrize("unknown", [2, -1])
def test_owner_numbers_just_past_the_organisms_are_refused(unknown):
    world = World(8, 8, species={"a": still()})
    world.spawn("o", "a", (4, 4))
    world.step()  # organism 1 is known
    world.owner[2, 2] = unknown
    with pytest.raises(WorldError, match=r"step 1: owner map holds organism numbers outside 0\.\.1"):
        world.step()


def test_cleared_rows_do_not_bring_back_old_values_from_the_other_buffer():
    # Both buffers hold the grown organism; clearing the current one must not let the other
    # buffer's copy of the skipped (now empty) rows leak back after a step.
    world = World(40, 40, species={"g": grower()}, seed=5)
    world.spawn("o", "g", (20, 20))
    world.step(8)
    assert world.mask("o").sum() > 50
    world.state[:] = 0.0
    world.owner[:] = 0
    for _ in range(2):
        world.step()
        assert not world.state.any() and not world.owner.any()


def test_a_value_written_far_from_life_dies_at_the_next_step():
    world = World(40, 40, species={"g": grower()}, seed=6)
    world.spawn("o", "g", (5, 5))
    world.step(3)
    world.state[35, 35, 5] = 0.7  # hidden value, no alpha: not alive
    world.step()
    assert world.state[35, 35].sum() == 0.0
    assert world.mask("o")[:12, :12].sum() == world.mask("o").sum() > 9


def frozen_grower() -> Rule:
    """`grower` with one frozen identity channel (17 channels)."""
    spec = RuleSpec(channels=17, hidden=16, identity_channels=1, identity_mode="frozen")
    w2 = np.zeros((16, 17), np.float32)
    w2[0, 3] = 0.3
    b1 = np.zeros(16, np.float32)
    b1[0] = 1.0
    return Rule(spec, np.zeros((51, 16), np.float32), b1, w2, np.zeros(17, np.float32))


def test_a_new_identity_is_held_by_every_cell_the_organism_grows():
    world = World(30, 50, species={"f": frozen_grower()}, seed=7)
    world.spawn("a", "f", (15, 12), identity=0.25)
    world.spawn("b", "f", (15, 38), identity=0.75)
    world.step(3)
    before = world.mask("a").sum()
    assert world.set_identity("a", 0.5).identity == (0.5,)
    assert (world.state[world.mask("a"), 16] == np.float32(0.5)).all()
    world.step(4)
    assert world.mask("a").sum() > before
    assert (world.state[world.mask("a"), 16] == np.float32(0.5)).all()
    assert (world.state[world.mask("b"), 16] == np.float32(0.75)).all()
    assert not world.state[world.owner == 0].any()


def test_a_restored_world_continues_exactly_like_the_original():
    species = {"g": grower(), "l": lively_rule(RuleSpec(hidden=16), seed=5)}
    original = World(32, 40, species=species, seed=9)
    original.spawn("a", "g", (10, 10))
    original.spawn("b", "l", (20, 30))
    original.state[18:23, 27:33, 3] = 0.8
    original.owner[18:23, 27:33] = 2
    original.step(6)
    state, owner, organisms = original.state.copy(), original.owner.copy(), list(original.organisms)
    copy = World(32, 40, species=species, seed=9)
    copy.spawn("junk", "g", (5, 35))  # both buffers of the copy hold something else first
    copy.step(9)
    copy.restore(6, state, owner, organisms)
    assert copy.step_count == 6 and [o.name for o in copy.organisms] == ["a", "b"]
    original.step(5)
    copy.step(5)
    np.testing.assert_array_equal(copy.state, original.state)
    np.testing.assert_array_equal(copy.owner, original.owner)
    assert copy.mask("a").sum() > 30 and copy.mask("b").sum() > 0


def test_one_identity_value_is_repeated_over_the_identity_channels():
    spec = RuleSpec(channels=18, hidden=8, identity_channels=2)
    world = World(6, 6, species={"a": Rule.random(spec, seed=0)})
    organism = world.spawn("o", "a", (2, 3), identity=0.5)
    assert organism.identity == (0.5, 0.5) and world.state[2, 3, 16:].tolist() == [0.5, 0.5]
    assert world.spawn("p", "a", (4, 4), identity=[0.25, 0.75]).identity == (0.25, 0.75)
    assert world.state[4, 4, 16:].tolist() == [0.25, 0.75]


def test_species_must_share_the_alive_threshold():
    a = Rule.random(RuleSpec(hidden=8), seed=0)
    b = Rule.random(RuleSpec(hidden=8, alive_threshold=0.2), seed=0)
    with pytest.raises(WorldError, match=r"species 'b': expected alive_threshold 0\.1"):
        World(8, 8, species={"a": a, "b": b})


def test_rows_in_use_cover_every_non_zero_row():
    world = World(40, 30, species={"g": grower()}, seed=4)
    world.spawn("o", "g", (8, 15))
    world.step(4)
    used = world.rows_in_use().astype(bool)
    assert (world.state_view().any(axis=(1, 2)) <= used).all()
    assert used.sum() < 25 and not used[30:].any()  # and the rows far from life are skipped


def test_world_methods_match_the_events_they_stand_for():
    from nca_world.sim.events import apply
    from nca_world.sim.scenario_events import CutCircle, Move

    def grown() -> World:
        world = World(30, 40, species={"g": grower()}, seed=3)
        world.spawn("a", "g", (15, 12))
        world.spawn("b", "g", (15, 28))
        world.step(5)
        return world

    by_method, by_event = grown(), grown()
    killed = by_method.cut((15, 12), 3, organism="a")
    assert killed == apply(by_event, CutCircle(step=5, center=(15, 12), radius=3, organism="a"))["killed"] > 0
    assert by_method.move("b", by=(2, -1)) == apply(by_event, Move(step=5, organism="b", by=(2, -1)))["moved"] > 0
    np.testing.assert_array_equal(by_method.state, by_event.state)
    np.testing.assert_array_equal(by_method.owner, by_event.owner)
    image = by_method.render("owner", zoom=3)
    assert image.shape == (90, 120, 3) and image.dtype == np.uint8
    y, x = np.argwhere(by_method.owner > 0)[0]
    assert by_method.owner[0, 0] == 0 and (image[3 * y, 3 * x] != image[0, 0]).any()  # owned vs empty
    assert by_method._repr_png_().startswith(b"\x89PNG")


def test_python_events_need_no_timing_but_file_events_do():
    from nca_world.sim.scenario_events import CutCircle

    now = CutCircle(center=(1, 1), radius=2.0)
    assert now.step is None and not now.happens_at(0) and not now.happens_at(7)

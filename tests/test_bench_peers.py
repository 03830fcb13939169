"""The benchmark's torch peers compute the rule's step exactly (they are fair), and the
interleaved timer measures every function in every round."""

import numpy as np

from nca_world.agents.firing import fire_mask
from nca_world.sim.bench_peers import interleaved, living_box, torch_step_function
from nca_world.sim.world import World
from tests.conftest import lively_rule


def test_every_torch_peer_gives_the_cores_step(rng):
    from nca_world.agents.spec import RuleSpec

    rule = lively_rule(RuleSpec(channels=16, hidden=24), seed=2)
    world = World(20, 26, species={"a": rule}, seed=9)
    world.spawn("o", "a", (10, 12))
    world.step(6)  # a small organism in a larger grid: the box peer has something to crop
    state = world.state.copy()
    fire = fire_mask(world.seed, world.step_count, 20, 26, 0.5)
    world.step()
    expected = world.state.transpose(2, 0, 1)
    for channels_last in (False, True):
        out = torch_step_function(rule, state, channels_last=channels_last, fire=fire)()[0].numpy()
        np.testing.assert_allclose(out, expected, atol=1e-5)
    rows, columns = living_box(state, 0.1)
    assert (rows.stop - rows.start) < 20 and (columns.stop - columns.start) < 26
    crop = torch_step_function(rule, np.ascontiguousarray(state[rows, columns]), channels_last=False,
                               fire=np.ascontiguousarray(fire[rows, columns]))()[0].numpy()
    np.testing.assert_allclose(crop, expected[:, rows, columns], atol=1e-5)
    outside = np.ones((20, 26), bool)
    outside[rows, columns] = False
    assert not expected[:, outside].any()  # nothing lives outside the box after the step


def test_interleaved_times_each_function_every_round():
    calls = {"a": 0, "b": 0}

    def counter(name):
        def call():
            calls[name] += 1
        return call

    medians = interleaved({"a": counter("a"), "b": counter("b")}, rounds=3, inner=4)
    assert calls == {"a": 13, "b": 13}  # one warm-up + 3 rounds x 4
    assert set(medians) == {"a", "b"} and all(m >= 0 for m in medians.values())

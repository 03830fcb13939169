"""Several species in one world: each cell is updated by its own species' non-zero rule under that
species' fire mask, checked against the numpy reference (itself checked against the torch twin)."""

import numpy as np
import pytest
import torch

from nca_world.agents.firing import fire_mask
from nca_world.agents.spec import RuleSpec
from nca_world.agents.torch_nca import TorchNCA
from nca_world.sim.world import World
from tests.conftest import lively_rule
from tests.reference import Being, reference_step, step_and_compare


@pytest.mark.parametrize("spec", [
    RuleSpec(channels=16, hidden=24),
    RuleSpec(channels=18, hidden=16, identity_channels=2, identity_mode="frozen", fire_rate=0.7),
], ids=["C16", "C18-K2-frozen"])
@pytest.mark.parametrize("boundary", ["zero", "wrap"])
def test_the_reference_matches_the_torch_twin(spec, boundary):
    spec = RuleSpec(**{**spec.to_json_dict(), "boundary": boundary})
    rule = lively_rule(spec, seed=7)
    identity = (0.25, 0.75)[: spec.identity_channels]
    rng = np.random.default_rng(8)
    state = rng.random((9, 13, spec.channels), dtype=np.float32)
    state[:, :, 3] = rng.choice(np.array([0.0, 0.05, 0.1, 0.5], np.float32), (9, 13))
    state[:, :, spec.identity_slice] = identity
    owner = np.ones((9, 13), np.int32)
    expected, expected_owner = reference_step(state, owner, [Being(rule, identity)], threshold=0.1,
                                              wrap=boundary == "wrap", seed=3, step=5)
    fire = torch.from_numpy(fire_mask(3, 5, 9, 13, spec.fire_rate))[None]
    held = torch.tensor([identity]) if spec.identity_channels else None
    with torch.no_grad():
        twin = TorchNCA.from_rule(rule)(torch.from_numpy(state)[None], fire, held)[0].numpy()
    np.testing.assert_allclose(expected, twin, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(expected_owner > 0, twin.any(axis=2))  # the living cells
    assert 20 < (expected_owner > 0).sum() < 9 * 13  # some cells lived, some died


def two_species_world(spec_a: RuleSpec, spec_b: RuleSpec, boundary: str, seed: int) -> World:
    """Species a owns the left half (organism 1), species b the right half (organism 2)."""
    a, b = lively_rule(spec_a, seed=seed), lively_rule(spec_b, seed=seed + 1)
    world = World(20, 34, species={"a": a, "b": b}, boundary=boundary, seed=seed)
    world.spawn("left", "a", (0, 0), identity=0.25 if spec_a.identity_channels else None)
    world.spawn("right", "b", (0, 0), identity=0.75 if spec_b.identity_channels else None)
    rng = np.random.default_rng(seed)
    state = rng.random((20, 34, spec_a.channels), dtype=np.float32)
    state[:, :, 3] = rng.choice(np.array([0.0, 0.1, 0.3, 0.8], np.float32), (20, 34))
    owner = np.where(np.arange(34) < 17, 1, 2)[None].repeat(20, 0).astype(np.int32)
    state[:, :17, spec_a.identity_slice] = 0.25
    state[:, 17:, spec_b.identity_slice] = 0.75
    world.state[:] = state
    world.owner[:] = owner
    return world


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
def test_two_species_with_one_fire_mask_match_the_reference(boundary):
    spec = RuleSpec(channels=16, hidden=32, fire_rate=0.5)
    world = two_species_world(spec, spec, boundary, seed=21)
    fired = fire_mask(world.seed, 0, 20, 34, 0.5)
    before, owner_before = world.state_view().copy(), world.owner.copy()
    after, owner = step_and_compare(world)
    # the mask was applied: a living cell that did not fire is exactly as it was, one that fired is not
    kept = (owner > 0) & (owner_before > 0)
    assert kept.sum() > 200
    np.testing.assert_array_equal(after[kept & ~fired], before[kept & ~fired])
    assert (np.abs(after - before).max(axis=2)[kept & fired] > 1e-3).all()
    # and each half used its own rule: the other species' rule gives other numbers
    rules = [world.rules["b"], world.rules["a"]]
    swapped, _ = reference_step(before, owner_before, [Being(r) for r in rules], threshold=0.1,
                                wrap=boundary == "wrap", seed=world.seed, step=0)
    assert np.abs(swapped - after).max(axis=2)[kept & fired].min() > 1e-3
    for _ in range(3):
        step_and_compare(world)


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
def test_two_species_with_their_own_fire_rates_and_identity_modes_match_the_reference(boundary):
    # a: learned identity, fires 30% of the time, 24 hidden; b: frozen identity, 90%, 40 hidden
    spec_a = RuleSpec(channels=17, hidden=24, identity_channels=1, fire_rate=0.3)
    spec_b = RuleSpec(channels=17, hidden=40, identity_channels=1, identity_mode="frozen", fire_rate=0.9)
    world = two_species_world(spec_a, spec_b, boundary, seed=31)
    before = world.state_view().copy()
    after, owner = step_and_compare(world)
    changed = np.abs(after - before).max(axis=2) > 0
    for k, rate in ((1, 0.3), (2, 0.9)):
        kept = (owner == k) & (before[:, :, 3] > 0.1)
        fired = fire_mask(world.seed, 0, 20, 34, rate)
        assert kept.sum() > 50
        assert (changed[kept] == fired[kept]).all()  # changed exactly where this species' mask fired
    assert (after[owner == 2, 16] == np.float32(0.75)).all()  # frozen identity held
    for _ in range(3):
        step_and_compare(world)

import numpy as np
import pytest
import torch

from nca_world.agents.errors import ModelFileError
from nca_world.agents.spec import SOBEL_X, SOBEL_Y, Rule, RuleSpec, seed_state
from nca_world.agents.torch_nca import TorchNCA


def naive_perception(x: np.ndarray, wrap: bool) -> np.ndarray:
    """[identity, sobel_x/8, sobel_y/8] with plain loops; x is (H, W, C) -> (H, W, 3C)."""
    h, w, c = x.shape
    out = np.zeros((h, w, 3 * c), np.float64)
    for y in range(h):
        for xx in range(w):
            for i in range(3):
                for j in range(3):
                    yy, xj = y + i - 1, xx + j - 1
                    if wrap:
                        yy, xj = yy % h, xj % w
                    elif not (0 <= yy < h and 0 <= xj < w):
                        continue
                    v = x[yy, xj]
                    if i == 1 and j == 1:
                        out[y, xx, :c] = v
                    out[y, xx, c : 2 * c] += SOBEL_X[i, j] * v
                    out[y, xx, 2 * c :] += SOBEL_Y[i, j] * v
    return out


def test_sobel_kernels_point_the_right_way():
    # sobel_x is positive where values grow to the right (+x), sobel_y where they grow down (+y)
    ramp = np.arange(5, dtype=np.float32)
    x = np.stack([np.tile(ramp, (5, 1)), np.tile(ramp[:, None], (1, 5))], axis=2)
    p = naive_perception(np.concatenate([x, np.zeros((5, 5, 2), np.float32)], 2), wrap=False)
    assert p[2, 2, 4] == pytest.approx(1.0) and p[2, 2, 8] == pytest.approx(0.0)  # channel 0 ramps in x
    assert p[2, 2, 5] == pytest.approx(0.0) and p[2, 2, 9] == pytest.approx(1.0)  # channel 1 ramps in y


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
def test_torch_perception_order_matches_the_naive_reference(boundary, rng):
    spec = RuleSpec(channels=6, hidden=8, boundary=boundary)
    x = rng.random((7, 9, 6), dtype=np.float32)
    p = TorchNCA(spec).perceive(torch.from_numpy(x)[None])[0]
    np.testing.assert_allclose(p.numpy(), naive_perception(x, boundary == "wrap"), atol=1e-6)


def test_spec_refuses_bad_values_with_the_field_name():
    with pytest.raises(ValueError, match="fire_rate"):
        RuleSpec(fire_rate=0)
    with pytest.raises(ValueError, match="identity_mode"):
        RuleSpec(identity_mode="sticky")
    with pytest.raises(ValueError, match="channels"):
        RuleSpec(channels=4, identity_channels=1)


def test_random_rule_has_zero_last_layer_and_seed_state():
    spec = RuleSpec(channels=17, identity_channels=1)
    rule = Rule.random(spec, seed=0)
    assert not rule.w2.any() and not rule.b2.any() and rule.w1.any()
    cell = seed_state(spec, np.array([0.5], np.float32))
    assert cell[:3].tolist() == [0, 0, 0] and (cell[3:16] == 1).all() and cell[16] == 0.5
    assert spec.flops_per_update == 2 * (51 * 128 + 128 * 17) + 2 * (128 + 17)


@pytest.mark.parametrize("fields", [
    {"fire_rate": 1.0}, {"alive_threshold": 0.0}, {"channels": 5, "identity_channels": 1},
    {"hidden": 1}, {"identity_channels": 0},
])
def test_spec_accepts_values_at_the_edge_of_their_range(fields):
    RuleSpec(**fields)


@pytest.mark.parametrize(("fields", "name"), [
    ({"fire_rate": 1.0001}, "fire_rate"), ({"fire_rate": -0.5}, "fire_rate"),
    ({"alive_threshold": 1.0}, "alive_threshold"), ({"alive_threshold": -0.01}, "alive_threshold"),
    ({"hidden": 0}, "hidden"), ({"identity_channels": -1}, "identity_channels"),
    ({"channels": 3}, "channels"), ({"boundary": "mirror"}, "boundary"),
])
def test_spec_refuses_values_just_past_the_edge(fields, name):
    with pytest.raises(ValueError, match=name):
        RuleSpec(**fields)


def test_derived_sizes():
    frozen = RuleSpec(channels=18, hidden=8, identity_channels=2, identity_mode="frozen")
    learned = RuleSpec(channels=18, hidden=8, identity_channels=2)
    assert frozen.features == 54 and frozen.identity_slice == slice(16, 18)
    assert frozen.updated_channels == 16 and learned.updated_channels == 18
    assert RuleSpec(channels=16).identity_slice == slice(16, 16)
    assert RuleSpec(channels=16, hidden=8).flops_per_update == 2 * (48 * 8 + 8 * 16) + 2 * (8 + 16)


def test_random_rule_uses_the_fan_in_bounds_and_its_seed():
    spec = RuleSpec(channels=12, hidden=50)
    rule = Rule.random(spec, seed=3, zero_last_layer=False)
    for array, fan_in in ((rule.w1, 36), (rule.b1, 36), (rule.w2, 50), (rule.b2, 50)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(array).max() <= bound and np.abs(array).max() > 0.9 * bound
    assert np.array_equal(Rule.random(spec, seed=3).w1, rule.w1)
    assert not np.array_equal(Rule.random(spec, seed=4).w1, rule.w1)


def test_seed_state_without_identity_channels():
    cell = seed_state(RuleSpec(channels=8, identity_channels=2))
    assert cell.dtype == np.float32 and cell.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert seed_state(RuleSpec(channels=6)).tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(("change", "message"), [
    ({"w1": np.zeros((47, 8), np.float32)}, r"w1: expected shape \(48, 8\)"),
    ({"b1": np.zeros(8, np.float64)}, "b1: expected a float32 array"),
    ({"w2": np.full((8, 16), np.nan, np.float32)}, "w2: contains NaN"),
    ({"b2": np.array([np.inf] * 16, np.float32)}, "b2: contains NaN or infinite"),
])
def test_rule_refuses_bad_weights_naming_them(change, message):
    spec = RuleSpec(hidden=8)
    weights = {**Rule.random(spec, seed=0).weights(), **change}
    with pytest.raises(ModelFileError, match=message):
        Rule(spec, **weights)

"""Shared helpers: rules with non-trivial weights and a reusable determinism check."""

from __future__ import annotations

import numpy as np
import pytest

from nca_world.agents.spec import Rule, RuleSpec


def lively_rule(spec: RuleSpec, seed: int, scale: float = 0.5) -> Rule:
    """A random rule whose last layer is not zero, so that states really change."""
    rule = Rule.random(spec, seed=seed, zero_last_layer=False)
    return Rule(spec, rule.w1, rule.b1, rule.w2 * np.float32(scale), rule.b2 * np.float32(0.2))


def random_state(rng: np.random.Generator, height: int, width: int, channels: int) -> np.ndarray:
    """A state with random channels in [0, 1) and random alpha, so most cells are alive."""
    return rng.random((height, width, channels), dtype=np.float32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


BASE_SCENARIO = """
[world]
height = 48
width = 64
seed = 3

[[species]]
name = "g"
model = "grow.h5"

[[organisms]]
name = "a"
species = "g"
position = [16, 16]

[[organisms]]
name = "b"
species = "g"
position = [32, 48]
spawn_step = 5

[[events]]
step = 12
kind = "cut_circle"
center = [16, 16]
radius = 4

[[events]]
every = 10
from = 10
until = 30
kind = "move"
organism = "b"
by = [0, 1]

[[events]]
step = 20
kind = "kill_fraction"
fraction = 0.2

[run]
steps = 40

[record]
path = "out.h5"
keyframe_every = 10
flush_every = 2
"""


@pytest.fixture
def scenario_dir(tmp_path):
    """A folder with a growing rule (`grow.h5`), a 17-channel rule (`other.h5`) and `base.toml`."""
    from nca_world.agents.modelfile import save_rule
    from tests.test_world import grower

    save_rule(grower(), tmp_path / "grow.h5")
    save_rule(Rule.random(RuleSpec(channels=17, hidden=8, identity_channels=1), seed=0), tmp_path / "other.h5")
    (tmp_path / "base.toml").write_text(BASE_SCENARIO)
    return tmp_path

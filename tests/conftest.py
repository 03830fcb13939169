"""Shared helpers: rules with non-trivial weights and a reusable determinism check."""

from __future__ import annotations

import numpy as np
import pytest

from agents.spec import Rule, RuleSpec


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

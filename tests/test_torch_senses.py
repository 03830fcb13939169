"""Who senses whom in the torch twin: its masked perception and update equal the numpy
reference's, cell by cell, on worlds where organisms read some neighbours as zero."""

import numpy as np
import pytest
import torch

from nca_world.agents.spec import RuleSpec
from nca_world.agents.torch_nca import TorchNCA
from tests.conftest import lively_rule
from tests.reference import neighbour, perceive, update


def blind_world(seed: int, height: int = 9, width: int = 11, channels: int = 6):
    """A random state, owners 0-3, a rule organism per cell and a random `sensed` matrix."""
    rng = np.random.default_rng(seed)
    state = rng.random((height, width, channels)).astype(np.float32)
    owner = rng.integers(0, 4, (height, width))
    rule_of = np.where(owner > 0, owner, rng.integers(1, 4, (height, width)))  # unowned cells: some rule
    sensed = rng.integers(0, 2, (4, 4)).astype(bool)
    np.fill_diagonal(sensed, True)
    assert not sensed[1:, 1:].all()  # some pair is blind: the case that matters
    return state, owner, rule_of, sensed


def visibility(owner, rule_of, sensed, wrap):
    """``(H, W, 9)``: 1 where a cell reads its neighbour (raster order over the 3x3 window)."""
    height, width = owner.shape
    visible = np.ones((height, width, 9), np.float32)
    for y in range(height):
        for x in range(width):
            for n in range(9):
                cell = neighbour(y + n // 3 - 1, x + n % 3 - 1, height, width, wrap)
                if cell is not None and owner[cell] > 0 and not sensed[rule_of[y, x], owner[cell]]:
                    visible[y, x, n] = 0.0
    return visible


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
@pytest.mark.parametrize("seed", [1, 2])
def test_masked_perception_and_update_match_the_reference(boundary, seed):
    state, owner, rule_of, sensed = blind_world(seed)
    spec = RuleSpec(channels=6, hidden=8, boundary=boundary)
    rule = lively_rule(spec, seed=seed)
    net = TorchNCA.from_rule(rule)
    visible = visibility(owner, rule_of, sensed, boundary == "wrap")
    assert 0 < visible.sum() < visible.size
    with torch.no_grad():
        p = net.perceive(torch.from_numpy(state)[None], torch.from_numpy(visible)[None])[0].numpy()
        dx = net.update(torch.from_numpy(state)[None], torch.from_numpy(visible)[None])[0].numpy()
    height, width = owner.shape
    for y in range(height):
        for x in range(width):
            k = rule_of[y, x]
            reads = lambda cell, k=k: owner[cell] == 0 or sensed[k, owner[cell]]  # noqa: E731
            expected = perceive(state, y, x, boundary == "wrap", reads)
            np.testing.assert_allclose(p[y, x], expected, atol=1e-5)
            np.testing.assert_allclose(dx[y, x], update(rule, expected), atol=1e-5)


def test_everyone_visible_is_the_plain_convolution():
    state, *_ = blind_world(3)
    net = TorchNCA.from_rule(lively_rule(RuleSpec(channels=6, hidden=8), seed=3))
    x = torch.from_numpy(state)[None]
    with torch.no_grad():
        torch.testing.assert_close(net.perceive(x, torch.ones(1, 9, 11, 9)), net.perceive(x), atol=1e-6, rtol=0)

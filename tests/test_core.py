"""Parity of the numba core with the torch twin: the contract between trainer and world."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nca_world.agents.firing import fire_mask
from nca_world.agents.spec import RuleSpec
from nca_world.agents.torch_nca import TorchNCA
from nca_world.sim.world import World
from tests.conftest import lively_rule, random_state

CONFIGS = [
    RuleSpec(channels=16, hidden=32),
    RuleSpec(channels=17, hidden=40, identity_channels=1, identity_mode="learned"),
    RuleSpec(channels=20, hidden=24, identity_channels=4, identity_mode="frozen"),
]


def torch_step(net: TorchNCA, world: World) -> np.ndarray:
    """One torch step from the world's current state, with the world's hash fire mask."""
    spec = net.spec
    fire = fire_mask(world.seed, world.step_count, world.height, world.width, spec.fire_rate)
    x = torch.from_numpy(world.state.copy())[None]
    identity = torch.tensor([world.organisms[0].identity]) if spec.identity_channels else None
    with torch.no_grad():
        y = net(x, torch.from_numpy(fire)[None], identity)
    return y[0].numpy()


def trajectory_difference(spec: RuleSpec, boundary: str, start: str, steps: int = 50,
                          size: tuple[int, int] = (23, 37)) -> tuple[float, int]:
    """Largest |numba - torch| over `steps` single steps from identical inputs, and cells alive."""
    spec = RuleSpec(**{**spec.to_json_dict(), "boundary": boundary})
    rule = lively_rule(spec, seed=3)
    world = World(*size, species={"a": rule}, boundary=boundary, seed=11)
    identity = 0.5 if spec.identity_channels else None
    world.spawn("o", "a", (size[0] // 2, max(0, size[1] - 2)), identity=identity)
    if start == "random":
        state = random_state(np.random.default_rng(5), *size, spec.channels)
        if spec.identity_mode == "frozen" and spec.identity_channels:
            state[:, :, spec.identity_slice] = 0.5
        world.state[:] = state
        world.owner[:] = 1
    net = TorchNCA.from_rule(rule)
    worst, alive = 0.0, 0
    for _ in range(steps):
        expected = torch_step(net, world)
        world.step()
        worst = max(worst, float(np.abs(world.state - expected).max()))
        alive = max(alive, int((world.owner > 0).sum()))
    return worst, alive


@pytest.mark.parametrize("spec", CONFIGS, ids=["C16", "C17-K1-learned", "C20-K4-frozen"])
@pytest.mark.parametrize("boundary", ["zero", "wrap"])
@pytest.mark.parametrize("start", ["seed", "random"])
def test_numba_core_matches_torch_twin(spec, boundary, start):
    worst, alive = trajectory_difference(spec, boundary, start)
    assert worst <= 1e-4
    assert alive > 1  # something actually lived, so the comparison covered real updates


@pytest.mark.parametrize("size", [(1, 1), (1, 5), (3, 1), (17, 16), (16, 33)])
@pytest.mark.parametrize("boundary", ["zero", "wrap"])
def test_parity_on_edge_shapes(size, boundary):
    worst, _ = trajectory_difference(CONFIGS[0], boundary, "random", steps=5, size=size)
    assert worst <= 1e-4


def test_all_dead_world_stays_zero():
    world = World(20, 20, species={"a": lively_rule(RuleSpec(hidden=16), seed=1)})
    world.step(3)
    assert not world.state.any() and not world.owner.any()


def test_alpha_exactly_at_the_threshold_matches_the_torch_twin():
    # Most alphas sit exactly at float32 0.1: such a cell is not hot (0.1 is not above 0.1), and a
    # cell whose 3x3 window holds nothing higher is dead after the step, in the core and in torch.
    spec = RuleSpec(channels=16, hidden=32)
    rule = lively_rule(spec, seed=9)
    world = World(24, 24, species={"a": rule}, seed=2)
    world.spawn("o", "a", (0, 0))
    rng = np.random.default_rng(6)
    state = random_state(rng, 24, 24, 16)
    state[:, :, 3] = rng.choice(np.array([0.0, 0.1], np.float32), (24, 24))
    state[4:7, 4:7, 3] = 0.5  # and one living island
    world.state[:] = state
    world.owner[:] = 1
    padded = np.pad(state[:, :, 3], 1)
    pooled = np.max([padded[i : i + 24, j : j + 24] for i in range(3) for j in range(3)], axis=0)
    at = pooled == np.float32(0.1)
    assert at.sum() > 300 and (pooled > np.float32(0.1)).sum() == 25
    expected = torch_step(TorchNCA.from_rule(rule), world)
    world.step()
    assert np.abs(world.state - expected).max() <= 1e-4
    assert not world.owner[at].any() and not world.state[at].any()
    assert world.owner[4:7, 4:7].all()


THREADS_SCRIPT = """
import sys
import numba
import numpy as np
from nca_world.agents.spec import RuleSpec
from nca_world.sim.world import World
from tests.conftest import lively_rule, random_state

assert numba.config.NUMBA_NUM_THREADS == 4, numba.config.NUMBA_NUM_THREADS
out = {}
for threads in (1, 4, 2):
    numba.set_num_threads(threads)
    assert numba.get_num_threads() == threads
    species = {"a": lively_rule(RuleSpec(hidden=16), seed=2),
               "b": lively_rule(RuleSpec(hidden=24, fire_rate=0.7), seed=3)}
    world = World(70, 50, species=species, seed=4, boundary=sys.argv[2])
    for name, kind in (("a1", "a"), ("b1", "b"), ("a2", "a")):
        world.spawn(name, kind, (0, 0))
    world.state[:] = random_state(np.random.default_rng(0), 70, 50, 16)
    world.owner[:] = np.random.default_rng(1).integers(1, 4, (70, 50))
    world.owner[30:40] = 0  # a gap that the organisms contest
    world.step(12)
    out[f"state{threads}"], out[f"owner{threads}"] = world.state_view(), world.owner
np.savez(sys.argv[1], **out)
"""


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
def test_result_does_not_depend_on_thread_count(tmp_path, boundary):
    # numba cannot raise the thread count above the NUMBA_NUM_THREADS it started with (2 here, 1 on
    # a one-CPU machine), so the comparison runs in a fresh process started with 4.
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "NUMBA_NUM_THREADS": "4", "PYTHONPATH": str(root)}
    result = tmp_path / "threads.npz"
    subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(result), boundary], cwd=root, env=env,
                   check=True, timeout=600)
    runs = np.load(result)
    assert (runs["owner1"] > 0).sum() > 1000 and {1, 2, 3} <= set(np.unique(runs["owner1"]).tolist())
    for threads in (2, 4):
        np.testing.assert_array_equal(runs[f"state{threads}"], runs["state1"])
        np.testing.assert_array_equal(runs[f"owner{threads}"], runs["owner1"])


@pytest.mark.parametrize("count", [1, 16, 17, 33, 48, 100])
def test_both_mlp_blockings_give_the_numbers_of_a_float64_reference(count):
    """The step takes `_mlp_wide` on AVX-512 hosts and `_mlp_narrow` elsewhere: on this host both
    must give the same float32 numbers (same order of sums), close to a float64 matmul."""
    from nca_world.sim import core

    rng = np.random.default_rng(count)
    channels, hidden, updated = 17, 128, 16  # one frozen identity channel: 16 outputs written
    width = count + core.BATCH
    tile = core.aligned_zeros((3 * channels, width))
    tile[:] = rng.standard_normal(tile.shape).astype(np.float32)
    w1 = (rng.standard_normal((3 * channels, hidden)) * 0.2).astype(np.float32)
    b1 = (rng.standard_normal(hidden) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((hidden, channels)) * 0.2).astype(np.float32)
    b2 = (rng.standard_normal(channels) * 0.1).astype(np.float32)
    outs = []
    for mlp in (core._mlp_wide, core._mlp_narrow):
        out = core.aligned_zeros((channels, width))
        mlp(tile, count, w1, b1, w2, b2, updated, core.aligned_zeros((hidden, core.BATCH)), out)
        outs.append(out[:updated, :count])
    x = tile[:, :count].astype(np.float64)
    expected = x[:updated] + (np.maximum(w1.T.astype(np.float64) @ x + b1[:, None], 0).T @ w2 + b2).T[:updated]
    assert np.array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[1], expected, rtol=1e-4, atol=1e-4)

"""A world and its recording are sized before anything is allocated: too large a world is refused
with the figures, not ended by a numpy allocation traceback."""

import tempfile
import tracemalloc
from pathlib import Path

import pytest

from nca_world.agents.errors import WorldError
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.recorder import Recorder
from nca_world.sim.recorder_settings import recording_memory
from nca_world.sim.world import World, memory_needed
from tests.conftest import BASE_SCENARIO, lively_rule


def allocated(build):
    """Bytes held after `build()` (numpy reports its buffers to tracemalloc), and its result."""
    tracemalloc.start()
    try:
        result = build()
        return tracemalloc.get_traced_memory()[0], result
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("height, width, channels, hidden, species", [(256, 200, 16, 64, 1), (100, 333, 17, 32, 2)])
def test_the_world_estimate_is_what_a_world_allocates(height, width, channels, hidden, species):
    rules = {f"s{i}": Rule.random(RuleSpec(channels=channels, hidden=hidden), seed=i) for i in range(species)}
    held, _world = allocated(lambda: World(height, width, species=rules))
    assert abs(memory_needed(height, width, channels, hidden, species) - held) < 0.02 * held


@pytest.mark.parametrize("dtype, every, flush_every", [("uint8", 1, 50), ("float16", 2, 10)])
def test_the_recording_estimate_bounds_what_a_recorder_holds(dtype, every, flush_every):
    world = World(120, 96, species={"g": lively_rule(RuleSpec(channels=16, hidden=16), seed=2)}, seed=5)
    world.spawn("a", "g", (60, 48))
    world.step(3)
    with tempfile.TemporaryDirectory() as folder:
        tracemalloc.start()
        with Recorder(Path(folder) / "r.h5", world, scenario_text="", channels=[0, 1, 2, 3, 15], dtype=dtype,
                      every=every, flush_every=flush_every, keyframe_every=5) as recorder:
            for _ in range(30):
                recorder.observe(world)
                world.step_count += 1  # the same state, recorded again: frames, flushes and keyframes
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    estimate = recording_memory(120, 96, 5, 16, dtype=dtype, every=every, flush_every=flush_every)
    assert peak <= estimate <= 2.5 * peak


def test_a_world_too_large_is_refused_with_the_figures_before_allocating():
    rule = Rule.random(RuleSpec(channels=16, hidden=32), seed=0)
    needed = memory_needed(8192, 8192, 16, 32, 1)
    assert needed > 8 * 2**30  # two float32 state buffers alone
    tracemalloc.start()
    try:
        with pytest.raises(WorldError) as refused:
            World(8192, 8192, species={"g": rule}, memory_limit=2**30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value) == (f"world size: a 8192x8192 world of 16 channels: expected at most 1.00 GiB (the "
                                  f"memory available), got {needed / 2**30:.2f} GiB needed")
    assert peak < 2**20  # refused before the buffers were allocated


def test_the_command_line_refuses_a_world_beyond_the_available_memory(scenario_dir, capsys, monkeypatch):
    from nca_world.sim.cli import main
    from nca_world.sim.runner import check_memory
    from nca_world.sim.scenario import load_scenario

    monkeypatch.chdir(scenario_dir)
    monkeypatch.setattr("nca_world.sim.world.available_memory", lambda: 2 * 2**30)  # a machine with 2 GiB free
    big = BASE_SCENARIO.replace("height = 48", "height = 8192").replace("width = 64", "width = 8192")
    (scenario_dir / "big.toml").write_text(big)
    assert main(["run", "big.toml", "--out", "big.h5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nca-world: error: big.toml: world (8192x8192, 16 channels, with its recording): "
                          "expected at most 2.00 GiB (the memory available), got ") and "Traceback" not in err
    with pytest.raises(WorldError) as refused:
        check_memory(load_scenario(Path("big.toml")), memory_limit=2 * 2**30)
    assert str(refused.value) in err  # the figure is the world's and the recording's estimate
    assert not (scenario_dir / "big.h5").exists() and not (scenario_dir / "big.h5.lock").exists()
    assert main(["run", "base.toml", "--steps", "2", "--out", "small.h5"]) == 0  # what fits still runs
    assert (scenario_dir / "small.h5").is_file()

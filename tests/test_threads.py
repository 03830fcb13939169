"""The thread count: fixed or chosen by measurement; never a change in the numbers."""

import h5py
import numpy as np
import pytest

from nca_world.agents.errors import WorldError
from nca_world.sim import threads as threads_module
from nca_world.sim.cli import main
from nca_world.sim.runner import run_scenario
from nca_world.sim.scenario import load_scenario
from nca_world.sim.threads import HOLD_SECONDS, PROBE_SECONDS, ThreadTuner, candidates
from nca_world.sim.world import World


class FakeMachine:
    """numba's thread setting and a clock on which a step takes `cost[threads]` seconds."""

    def __init__(self, monkeypatch, most: int, cost: dict[int, float]):
        self.now, self.current, self.cost, self.history = 0.0, most, cost, []
        monkeypatch.setattr(threads_module.numba.config, "NUMBA_NUM_THREADS", most)
        monkeypatch.setattr(threads_module.numba, "set_num_threads", self.set)
        monkeypatch.setattr(threads_module.numba, "get_num_threads", lambda: self.current)

    def set(self, n: int) -> None:
        self.current = n
        self.history.append(n)

    def clock(self) -> float:
        return self.now

    def steps(self, tuner: ThreadTuner, n: int) -> None:
        for _ in range(n):
            self.now += self.cost[self.current]
            tuner.tick()


def test_candidates_halve_down_to_one():
    assert candidates(8) == [8, 4, 2, 1] and candidates(6) == [6, 3, 1] and candidates(1) == [1]


def test_a_busy_machine_gets_the_faster_count_and_it_is_measured_again(monkeypatch):
    machine = FakeMachine(monkeypatch, 4, {4: 0.05, 2: 0.004, 1: 0.006})  # 4 threads collapse
    tuner = ThreadTuner(None, clock=machine.clock)
    machine.steps(tuner, 3 + 25 + 17)  # each probe: >= 0.1 s and >= 3 steps
    assert machine.history == [4, 2, 1, 2] and tuner.threads == 2
    assert tuner.seconds_per_step == pytest.approx({4: 0.05, 2: 0.004, 1: 0.006})
    machine.steps(tuner, int(HOLD_SECONDS / 0.004) - 1)
    assert tuner.threads == 2  # held
    machine.steps(tuner, 2)
    assert machine.history[-1] == 4  # measured again: the load may have changed
    machine.cost = {4: 0.001, 2: 0.002, 1: 0.004}  # the machine went quiet
    machine.steps(tuner, int(PROBE_SECONDS / 0.001) + 60)
    assert tuner.threads == 4


def test_a_fixed_count_is_kept_and_a_bad_one_refused(monkeypatch):
    machine = FakeMachine(monkeypatch, 2, {2: 0.05, 1: 0.001})
    tuner = ThreadTuner(2, clock=machine.clock)
    machine.steps(tuner, 100)
    assert machine.history == [2]
    with pytest.raises(WorldError, match=r"threads: expected 1\.\.2 \(NUMBA_NUM_THREADS\), got 3"):
        ThreadTuner(3)


def test_the_count_never_changes_a_recording(scenario_dir):
    scenario = load_scenario(scenario_dir / "base.toml")
    run_scenario(scenario, steps=20, out=scenario_dir / "one.h5", progress=False, threads=1)
    run_scenario(scenario, steps=20, out=scenario_dir / "auto.h5", progress=False)
    with h5py.File(scenario_dir / "one.h5") as one, h5py.File(scenario_dir / "auto.h5") as auto:
        assert np.array_equal(one["frames"][:], auto["frames"][:])
        assert np.array_equal(one["owner"][:], auto["owner"][:])


def test_the_command_refuses_a_count_beyond_numba_before_writing_anything(scenario_dir, capsys, monkeypatch):
    monkeypatch.chdir(scenario_dir)
    before = sorted(p.name for p in scenario_dir.iterdir())
    assert main(["run", "base.toml", "--threads", "4096", "--out", "x.h5"]) == 2
    assert "threads: expected 1.." in capsys.readouterr().err
    assert sorted(p.name for p in scenario_dir.iterdir()) == before


def test_a_world_steps_with_its_own_thread_count_whatever_was_set_since():
    import numba

    from tests.test_world import grower

    most = numba.config.NUMBA_NUM_THREADS
    world = World(24, 24, species={"g": grower()}, threads=1)
    world.spawn("o", "g", (12, 12))
    world.step()
    assert numba.get_num_threads() == 1
    numba.set_num_threads(most)  # other code (a sweep, a notebook cell) changes it
    world.step()
    assert numba.get_num_threads() == 1
    world.threads = None  # chosen by measurement: the first probe tries every thread
    world.step()
    assert numba.get_num_threads() == most
    with pytest.raises(WorldError, match=r"threads: expected 1\.\."):
        World(8, 8, species={"g": grower()}, threads=most + 1)


def test_a_run_steps_with_the_count_it_was_given(scenario_dir):
    import numba

    counts = set()
    run_scenario(load_scenario(scenario_dir / "base.toml"), steps=5, out=scenario_dir / "one.h5", progress=False,
                 threads=1, on_step=lambda world: counts.add(numba.get_num_threads()))
    assert counts == {1}

"""Running scenarios: determinism, forks, killed runs, the command line."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from nca_world.sim.cli import main
from nca_world.sim.recording import open_recording
from nca_world.sim.runner import fork, run_scenario
from nca_world.sim.scenario import load_scenario


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        out["attrs"] = {k: v for k, v in f.attrs.items() if k != "software"}
    return out


def test_same_scenario_and_seed_give_identical_recordings(scenario_dir):
    scenario = load_scenario(scenario_dir / "base.toml")
    run_scenario(scenario, out=scenario_dir / "one.h5", progress=False)
    run_scenario(scenario, out=scenario_dir / "two.h5", progress=False)
    run_scenario(scenario, out=scenario_dir / "three.h5", seed=4, progress=False)
    one, two, three = (datasets(scenario_dir / f"{n}.h5") for n in ("one", "two", "three"))
    assert one.keys() == two.keys()
    for name in one:
        if name != "attrs":
            np.testing.assert_array_equal(one[name], two[name], err_msg=name)
    assert one["attrs"] == two["attrs"]
    assert not np.array_equal(one["frames"], three["frames"])  # kill_fraction depends on the seed


def test_recording_holds_frames_events_metrics_and_models(scenario_dir):
    scenario = load_scenario(scenario_dir / "base.toml")
    summary = run_scenario(scenario, out=scenario_dir / "r.h5", progress=False)
    with open_recording(summary.recording) as rec:
        assert rec.complete and len(rec) == 41 and list(rec.steps) == list(range(41))
        assert [e["event"]["kind"] for e in rec.events] == ["spawn", "spawn", "move", "cut_circle", "move",
                                                            "kill_fraction", "move"]
        assert rec.events[3]["step"] == 12 and rec.events[3]["effect"]["killed"] > 0
        table = rec.metrics_frame()
        last = table[table.step == 40].set_index("name")
        assert last.loc["a", "alive"] == (rec.owner(40) == 1).sum()
        assert rec.keyframe_steps.tolist() == [0, 10, 20, 30, 40]
        assert set(rec.models) == {"g"} and rec.models["g"].spec.channels == 16
        frame = rec.frame(40)
        assert frame.shape == (48, 64, 4) and frame.max() <= 1.0
        assert rec.scenario_text == scenario.text


def test_a_fork_reproduces_the_original_from_the_fork_step_on(scenario_dir):
    scenario = load_scenario(scenario_dir / "base.toml")
    run_scenario(scenario, out=scenario_dir / "orig.h5", progress=False)
    fork(scenario_dir / "orig.h5", 25, out=scenario_dir / "fork.h5", progress=False)
    original, forked = datasets(scenario_dir / "orig.h5"), datasets(scenario_dir / "fork.h5")
    for name in ("frames", "owner", "step", "metrics", "events"):
        np.testing.assert_array_equal(original[name], forked[name], err_msg=name)


def test_a_fork_with_a_new_scenario_changes_only_what_follows(scenario_dir):
    run_scenario(load_scenario(scenario_dir / "base.toml"), out=scenario_dir / "orig.h5", progress=False)
    text = (scenario_dir / "base.toml").read_text().replace("fraction = 0.2", "fraction = 0.9")
    (scenario_dir / "new.toml").write_text(text)
    new = load_scenario(scenario_dir / "new.toml")
    fork(scenario_dir / "orig.h5", 15, new, out=scenario_dir / "fork.h5", progress=False)
    with open_recording(scenario_dir / "orig.h5") as a, open_recording(scenario_dir / "fork.h5") as b:
        assert all(np.array_equal(a.frame(i), b.frame(i)) for i in range(16))
        assert (b.owner(20) > 0).sum() < 0.5 * (a.owner(20) > 0).sum()  # the stronger kill at step 20


def test_a_killed_run_leaves_a_readable_recording(scenario_dir):
    text = (scenario_dir / "base.toml").read_text().replace("steps = 40", "steps = 100000")
    (scenario_dir / "long.toml").write_text(text)
    process = subprocess.Popen([sys.executable, "-m", "nca_world.sim.cli", "run", "long.toml"], cwd=scenario_dir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = scenario_dir / "out.h5"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            time.sleep(0.5)
            if path.exists():
                try:
                    with open_recording(path) as rec:
                        if len(rec) >= 20:
                            break
                except Exception:
                    pass
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with open_recording(path) as rec:
        assert not rec.complete
        n = len(rec)
        assert n >= 20
        assert rec.frame(n - 1).shape == (48, 64, 4) and list(rec.steps) == list(range(n))


def test_run_and_validate_commands(scenario_dir, capsys, monkeypatch):
    monkeypatch.chdir(scenario_dir)
    assert main(["validate", "base.toml"]) == 0
    assert "base.toml: OK" in capsys.readouterr().out
    assert main(["run", "base.toml", "--steps", "10", "--set", "world.seed=9", "--out", "x.h5"]) == 0
    out = capsys.readouterr().out
    assert "ran 10 steps" in out and "x.h5" in out and " a " in out
    with open_recording(scenario_dir / "x.h5") as rec:
        assert rec.seed == 9 and len(rec) == 11


def test_the_first_step_is_timed_apart_and_a_cold_cache_is_announced(scenario_dir, monkeypatch, capsys):
    import nca_world.sim.runner as runner
    from nca_world.sim.scenario import load_scenario

    monkeypatch.setattr(runner, "kernels_cached", lambda: False)
    summary = runner.run_scenario(load_scenario(scenario_dir / "base.toml"), steps=6, out=scenario_dir / "t.h5")
    assert "compiling kernels (first run only)" in capsys.readouterr().err
    assert summary.steps == 6 and summary.first_step_seconds > 0
    assert summary.steps_per_second == pytest.approx(5 / summary.seconds)
    monkeypatch.setattr(runner, "kernels_cached", lambda: True)
    runner.run_scenario(load_scenario(scenario_dir / "base.toml"), steps=3, out=scenario_dir / "u.h5")
    assert "compiling" not in capsys.readouterr().err


def test_the_kernel_cache_is_found_where_numba_keeps_it(tmp_path, monkeypatch):
    import nca_world.sim.runner as runner

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not runner.kernels_cached()
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "core.step-70.py311.nbi").write_bytes(b"")
    assert runner.kernels_cached()

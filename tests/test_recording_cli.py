"""`nca-world run`: record.path is relative to the scenario file, --set applies to a fork of the
stored scenario, and out-of-range numbers are refused with the allowed range before step 0."""

import pytest

from nca_world.sim.cli import main
from nca_world.sim.recording import open_recording
from nca_world.sim.runner import run_scenario
from nca_world.sim.scenario import load_scenario


def test_record_path_is_relative_to_the_scenario_file_and_printed(scenario_dir, capsys, monkeypatch):
    elsewhere = scenario_dir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", "../base.toml", "--steps", "3"]) == 0  # record.path = "out.h5", beside base.toml
    out = capsys.readouterr().out
    assert f"recording to {scenario_dir / 'out.h5'}\n" in out and f"recording: {scenario_dir / 'out.h5'} (" in out
    assert not list(elsewhere.iterdir())
    with open_recording(scenario_dir / "out.h5") as recording:
        assert len(recording) == 4
    assert main(["run", "../base.toml", "--steps", "3", "--out", "mine.h5"]) == 0  # --out: relative to here
    assert f"recording to {elsewhere / 'mine.h5'}\n" in capsys.readouterr().out


@pytest.fixture
def original(scenario_dir):
    run_scenario(load_scenario(scenario_dir / "base.toml"), out=scenario_dir / "orig.h5", progress=False)
    return scenario_dir / "orig.h5"


def test_set_applies_to_a_fork_of_the_stored_scenario(original, scenario_dir, capsys, monkeypatch):
    monkeypatch.chdir(scenario_dir)
    assert main(["run", "--from", "orig.h5", "--at", "15", "--set", "run.steps=22",
                 "--set", "events.2.fraction=0.9", "--out", "fork.h5"]) == 0
    with open_recording(original) as a, open_recording(scenario_dir / "fork.h5") as b:
        assert list(b.steps) == list(range(23))  # run.steps applied
        assert "steps = 22" in b.scenario_text and "fraction = 0.9" in b.scenario_text
        assert all((a.frame(i) == b.frame(i)).all() for i in range(16))
        assert (b.owner(20) > 0).sum() < 0.5 * (a.owner(20) > 0).sum()  # the stronger kill at step 20 applied


@pytest.mark.parametrize("argv, reason", [
    (["run", "base.toml", "--steps", "-5"], "base.toml: steps: expected 1..10000000, got -5"),
    (["run", "base.toml", "--steps", "0"], "base.toml: steps: expected 1..10000000, got 0"),
    (["run", "base.toml", "--at", "3"], "base.toml: --at: expected --from RECORDING with it, got --at 3 alone"),
    (["run", "--from", "orig.h5", "--at", "-1"], "orig.h5: --at: expected a step >= 0, got -1"),
    (["run", "--from", "orig.h5", "--at", "41"], "orig.h5: --at: expected a step in 0..40, got 41"),
    (["run", "--from", "orig.h5"], "orig.h5: --at: expected the step to fork at, got none"),
    (["run", "--from", "orig.h5", "--at", "20", "--steps", "20"],
     "orig.h5: steps: expected 21..10000000 (the step to end at, after --at 20), got 20"),
    (["run", "--from", "orig.h5", "--at", "40"],  # a finished run resumed with nothing left to run
     "orig.h5: steps: expected 41..10000000 (the step to end at, after --at 40), got 40"),
    (["run", "--from", "orig.h5", "--at", "20", "--seed", "4"],
     "orig.h5: --seed: expected none in a fork (it keeps the recording's seed), got 4"),
    (["run", "--from", "orig.h5", "--at", "20", "--set", "world.seed=4"],
     "orig.h5: world: expected the recording's [world] in a fork (48x64, boundary 'zero', seed 3), got 48x64, "
     "boundary 'zero', seed 4"),
    (["run", "--from", "orig.h5", "--at", "20", "--set", "world.height=40"],
     "orig.h5: world: expected the recording's [world] in a fork (48x64, boundary 'zero', seed 3), got 40x64"),
    (["run", "--from", "orig.h5", "--at", "20", "--set", "run.stepz=50"], "orig.h5:"),
    (["run"], "run: scenario: expected a scenario file, or --from RECORDING --at STEP, got neither"),
])
def test_out_of_range_arguments_are_refused_before_step_0(original, scenario_dir, capsys, monkeypatch, argv,
                                                          reason):
    monkeypatch.chdir(scenario_dir)
    before = sorted(p.name for p in scenario_dir.iterdir())
    data = original.read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"nca-world: error: {reason}") and "Traceback" not in captured.err, captured.err
    assert "recording to" not in captured.out
    assert sorted(p.name for p in scenario_dir.iterdir()) == before and original.read_bytes() == data


def test_a_new_scenario_for_a_fork_must_keep_the_world(original, scenario_dir, capsys, monkeypatch):
    monkeypatch.chdir(scenario_dir)
    (scenario_dir / "wrapped.toml").write_text((scenario_dir / "base.toml").read_text().replace(
        "seed = 3", 'seed = 3\nboundary = "wrap"'))
    assert main(["run", "--from", "orig.h5", "--at", "20", "wrapped.toml"]) == 2
    assert "wrapped.toml: world: expected the recording's [world] in a fork (48x64, boundary 'zero', seed 3), got " \
           "48x64, boundary 'wrap', seed 3" in capsys.readouterr().err

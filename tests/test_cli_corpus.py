"""Command-line garbage: missing, wrong-kind and damaged files and out-of-range arguments for
every command. Each is refused with exit code 2, one message naming the file or option, no
traceback, quickly, and no file in the folder changes."""

import os
import time

import h5py
import numpy as np
import pytest

from nca_world.agents.modelfile import save_rule
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.cli import main


@pytest.fixture
def folder(scenario_dir):
    """The scenario folder plus a text file, an empty file, a foreign HDF5 file and a damaged model."""
    (scenario_dir / "notes.txt").write_text("my notes\n")
    (scenario_dir / "empty.h5").write_bytes(b"")
    with h5py.File(scenario_dir / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    rule = Rule.random(RuleSpec(channels=16, hidden=8), seed=0)
    save_rule(rule, scenario_dir / "nan.h5")
    with h5py.File(scenario_dir / "nan.h5", "r+") as f:
        f["w1"][0, 0] = np.nan
    save_rule(rule, scenario_dir / "shape.h5")
    with h5py.File(scenario_dir / "shape.h5", "r+") as f:
        del f["b1"]
        f["b1"] = np.zeros(3, np.float32)
    return scenario_dir


# (arguments, text the message must contain); {d} is the folder
CASES = [
    (["models", "{d}/missing.h5"], "missing.h5: no such model file"),
    (["models", "{d}/notes.txt"], "notes.txt: not a readable nca-world model file"),
    (["models", "{d}/empty.h5"], "empty.h5"),
    (["models", "{d}/foreign.h5"], "foreign.h5: format"),
    (["models", "{d}/nan.h5"], "nan.h5: w1: contains NaN"),
    (["models", "{d}/shape.h5"], "shape.h5: b1: expected shape (8,)"),
    (["models", "--stability", "{d}/grow.h5", "{d}/missing.h5"], "missing.h5"),
    (["export", "{d}/missing.h5", "--format", "demo-json"], "missing.h5"),
    (["export", "{d}/nan.h5", "--format", "demo-json"], "nan.h5"),
    (["import", "{d}/missing.json"], "missing.json: cannot read the file"),
    (["import", "{d}/notes.txt", "--out", "{d}/lib"], "notes.txt: not a JSON file"),
    (["analyze", "{d}/missing.h5"], "missing.h5"),
    (["analyze", "{d}/notes.txt"], "notes.txt"),
    (["analyze", "{d}/grow.h5"], "grow.h5"),
    (["analyze", "{d}/foreign.h5"], "foreign.h5"),
    (["analyze", "{d}/empty.h5"], "empty.h5"),
    (["run", "{d}/missing.toml"], "missing.toml: cannot read the file"),
    (["run", "{d}/notes.txt"], "notes.txt"),
    (["run", "{d}/base.toml", "--steps", "-5"], "steps"),
    (["run", "{d}/base.toml", "--steps", "0"], "steps"),
    (["run", "{d}/base.toml", "--set", "world.height=-3"], "world.height"),
    (["run", "{d}/base.toml", "--set", "nonsense"], "expected field.path=value"),
    (["run", "{d}/base.toml", "--out", "{d}/notes.txt"], "notes.txt"),
    (["run", "{d}/base.toml", "--out", "{d}"], "{d}"),
    (["run", "{d}/base.toml", "--out", "{d}/base.toml"], "base.toml"),
    (["run", "--from", "{d}/missing.h5", "--at", "3"], "missing.h5"),
    (["run", "--from", "{d}/notes.txt", "--at", "3"], "notes.txt"),
    (["run", "--from", "{d}/grow.h5", "--at", "3"], "grow.h5"),
    (["run", "{d}/base.toml", "--at", "3"], "--at"),
    (["validate", "{d}/missing.toml"], "missing.toml: cannot read the file"),
    (["validate", "{d}/grow.h5"], "grow.h5: expected UTF-8 text"),
    (["train", "{d}/missing.toml"], "missing.toml: cannot read the file"),
    (["train", "{d}/base.toml"], "base.toml"),
    (["sweep", "{d}/missing.toml"], "missing.toml"),
    (["sweep", "{d}/base.toml"], "base.toml"),
    (["report", "{d}/nowhere"], "nowhere"),
    (["report", "{d}"], "results.csv"),
]


@pytest.mark.parametrize(("arguments", "message"), CASES, ids=[" ".join(a).replace("{d}/", "") for a, _ in CASES])
def test_garbage_on_the_command_line_is_refused_cleanly(folder, capsys, arguments, message):
    arguments = [a.format(d=folder) for a in arguments]
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}
    started = time.perf_counter()
    assert main(arguments) == 2
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err
    assert err.startswith("nca-world: error: ") and message.format(d=folder) in err
    assert "Traceback" not in err and seconds < 10
    assert {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")} == before


@pytest.mark.parametrize("arguments", [["bench", "--repeats", "0"], ["view", "x.toml", "--zoom", "-1"],
                                       ["models", "--stability", "--seeds", "0", "m.h5"],
                                       ["export", "m.h5", "--format", "onnx"], ["run", "--steps", "many"],
                                       ["train", "x.toml", "--out"]])
def test_bad_option_values_exit_2_with_the_allowed_range(arguments, capsys):
    try:
        code = main(arguments)
    except SystemExit as stop:  # argparse refuses before any command runs
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("expected" in err or "invalid" in err)


def test_the_corpora_together_hold_at_least_150_malformed_inputs():
    tests = os.path.dirname(__file__)
    scenarios = len(os.listdir(os.path.join(tests, "scenarios", "bad")))
    configs = len(os.listdir(os.path.join(tests, "configs", "bad")))
    assert scenarios + configs + len(CASES) >= 150

"""Sweeps on a real Dask LocalCluster: ids that change with every setting, refusals up front,
summaries with known answers, controls and the per-step series file."""

import ast
import importlib.util
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nca_world.agents.errors import ScenarioError
from nca_world.agents.modelfile import save_rule
from nca_world.agents.spec import RuleSpec
from nca_world.sim import sweep_ids
from nca_world.sim.cli import main
from nca_world.sim.study_measures import read_series
from nca_world.sim.sweep import Sweep
from nca_world.sim.sweep_file import evaluate
from nca_world.sim.sweep_run import SweepError, run_in_process, run_sweep
from nca_world.sim.sweep_summary import summarise
from tests.conftest import lively_rule

SWEEP = """
scenario = "base.toml"
seeds = [1, 2]
steps = 12
metrics = ["alive_organisms", "total_cells", "max_displacement", "collapsed", "ideal_mse_final", "breakdown"]

[grid]
"world.boundary" = ["zero", "wrap"]
shift = [0, 3]

[derived]
"organisms.0.position" = "[16, 16 + shift]"
"""


@pytest.fixture
def sweep_file(scenario_dir):
    path = scenario_dir / "sweep.toml"
    path.write_text(SWEEP)
    return path


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=[c for c in ("seconds",) if c in table]).sort_values("id").reset_index(drop=True)


def ids(path) -> list[str]:
    return [r["id"] for r in Sweep(path).runs()]


def test_grid_expands_exactly(sweep_file):
    runs = Sweep(sweep_file).runs()
    assert len(runs) == 2 * 2 * 2 and len({r["id"] for r in runs}) == 8
    assert {tuple(r["fields"]["organisms.0.position"]) for r in runs} == {(16, 16), (16, 19)}
    assert {r["fields"]["run.steps"] for r in runs} == {12} and {r["fields"]["world.seed"] for r in runs} == {1, 2}
    assert evaluate("[48 + a, -b // 2]", {"a": 2, "b": 5}) == [50, -3]
    assert evaluate("[48 + pair[0], 60 + pair[-1]]", {"pair": [4, 12]}) == [52, 72]
    with pytest.raises(ValueError, match="does not pick an item"):
        evaluate("pair[2]", {"pair": [4, 12]})


# ------------------------------------------------------------------ A: ids hash everything

def test_run_ids_change_with_everything_that_determines_a_result(sweep_file, scenario_dir, monkeypatch):
    before = ids(sweep_file)
    assert ids(sweep_file) == before  # stable
    sweep_file.write_text(SWEEP.replace("steps = 12", "steps = 13"))
    assert set(ids(sweep_file)).isdisjoint(before)
    sweep_file.write_text(SWEEP)
    base = (scenario_dir / "base.toml").read_text()
    (scenario_dir / "base.toml").write_text(base.replace("fraction = 0.2", "fraction = 0.3"))
    assert set(ids(sweep_file)).isdisjoint(before)
    (scenario_dir / "base.toml").write_text(base)
    original = (scenario_dir / "grow.h5").read_bytes()
    save_rule(lively_rule(RuleSpec(hidden=16), seed=5), scenario_dir / "grow.h5")  # same name, new content
    assert set(ids(sweep_file)).isdisjoint(before)
    (scenario_dir / "grow.h5").write_bytes(original)
    sweep_file.write_text(SWEEP.replace('"collapsed", ', ""))
    assert set(ids(sweep_file)).isdisjoint(before)
    sweep_file.write_text(SWEEP)
    assert ids(sweep_file) == before
    monkeypatch.setattr(sweep_ids, "software_version", lambda: "99.0")
    assert set(ids(sweep_file)).isdisjoint(before)
    monkeypatch.undo()
    monkeypatch.setattr(sweep_ids, "MEASURES_VERSION", 999)
    assert set(ids(sweep_file)).isdisjoint(before)
    monkeypatch.undo()
    monkeypatch.setattr(sweep_ids, "code_version", lambda: "edited")
    assert set(ids(sweep_file)).isdisjoint(before)


def test_the_code_fingerprint_sees_code_not_comments():
    source = 'def f(x):\n    """Twice x."""\n    return 2 * x  # double\n'
    same = 'def f(x):\n    """Two times x, reworded."""\n\n    return 2*x\n'
    assert sweep_ids.code_fingerprint(source) == sweep_ids.code_fingerprint(same)
    assert sweep_ids.code_fingerprint(source) != sweep_ids.code_fingerprint(source.replace("2 *", "3 *"))
    assert len(sweep_ids.code_version()) == 64 and sweep_ids.code_version() == sweep_ids.code_version()


def test_a_rerun_skips_finished_runs_and_recomputes_after_a_change(sweep_file, tmp_path):
    out = tmp_path / "out"
    first = run_in_process(Sweep(sweep_file), out)
    marked = first.id.iloc[0]
    row = json.loads((out / "runs" / f"{marked}.json").read_text())
    (out / "runs" / f"{marked}.json").write_text(json.dumps({**row, "total_cells": -7}))
    again = run_sweep(Sweep(sweep_file), out, workers=2, progress=False)  # nothing to do: no cluster
    assert again.set_index("id").loc[marked, "total_cells"] == -7
    sweep_file.write_text(SWEEP.replace("steps = 12", "steps = 16"))
    changed = run_sweep(Sweep(sweep_file), out, workers=2, progress=False)
    assert len(changed) == 8 and (changed.error.fillna("") == "").all() and -7 not in changed.total_cells.to_list()
    assert set(changed.id).isdisjoint(first.id)
    keys = ["world.boundary", "shift", "seed"]
    grown = changed.set_index(keys).total_cells.sort_index() - first.set_index(keys).total_cells.sort_index()
    assert (grown > 0).all()  # 4 more steps of a rule that only grows: not the stale numbers


def test_local_cluster_gives_the_same_table_as_running_in_process(sweep_file, tmp_path):
    sweep = Sweep(sweep_file)
    distributed = run_sweep(sweep, tmp_path / "dask", workers=2, progress=False)
    local = run_in_process(sweep, tmp_path / "local")
    assert len(distributed) == 8 and (distributed.error.fillna("") == "").all()
    pd.testing.assert_frame_equal(comparable(distributed), comparable(local))
    assert (tmp_path / "dask" / "results.csv").is_file()
    series = read_series(tmp_path / "dask" / "series.h5")
    assert set(series["steps"].run) == set(distributed.id)
    assert (series["steps"].groupby("run").step.max() == 12).all()  # every step, not only the last frame
    last = series["organisms"][series["organisms"].step == 12].groupby("run").cells.sum()
    assert (last.sort_index() == distributed.set_index("id").total_cells.sort_index()).all()


def test_a_run_failing_at_run_time_is_a_row_with_its_error(sweep_file, scenario_dir, tmp_path):
    (scenario_dir / "grow2.h5").write_bytes((scenario_dir / "grow.h5").read_bytes())
    sweep_file.write_text(SWEEP.replace('shift = [0, 3]', 'shift = [0]\n"species.0.model" = ["grow.h5", "grow2.h5"]'))
    sweep = Sweep(sweep_file)
    (scenario_dir / "grow2.h5").unlink()  # gone after validation: the run itself fails
    table = run_in_process(sweep, tmp_path)
    failed = table[table.error.fillna("") != ""]
    assert len(failed) == 4 and failed.error.str.contains("grow2.h5").all()
    assert (table[table.error.fillna("") == ""].total_cells > 0).all()
    save_rule(lively_rule(RuleSpec(hidden=16), seed=5), scenario_dir / "grow2.h5")  # back, but not the same
    table = run_in_process(sweep, tmp_path / "again")
    failed = table[table.error.fillna("") != ""]
    assert len(failed) == 4 and failed.error.str.contains("grow2.h5 changed after the sweep was loaded").all()


# ------------------------------------------------------------------ B: refused up front

BAD_SWEEPS = [
    ('"organisms.0.position" = "[16, 16 + shift]"', '"organisms.0.position" = "[16, 16 + 6 // (shift - 3)]"',
     r"derived\.organisms\.0\.position: division by zero .*shift = 3"),
    ('shift = [0, 3]', 'shift = [0, 3]\n"world.heigth" = [40]',
     r"world\.heigth: unknown key \(did you mean 'height'\?\)"),
    ('shift = [0, 3]', 'shift = [0, 3]\n"organisms.5.position" = [[3, 3]]',
     r"grid\.organisms\.5\.position: .*does not name a field"),
    ('shift = [0, 3]', 'shift = []', r"grid\.shift: expected at least one value"),
    ('shift = [0, 3]', 'shift = [0, nan]', r"grid\.shift: expected finite numbers, got nan"),
    ('shift = [0, 3]', 'shift = [0, inf]', r"grid\.shift: expected finite numbers, got inf"),
    ('shift = [0, 3]', 'shift = [0, 300]', r"shift = 300.*organisms\.a\.position: expected inside the 48x64 grid"),
    ('seeds = [1, 2]', 'seeds = [1, -2]', r"seeds: expected integers in \[0, 2\*\*63\), got -2"),
    ('steps = 12', 'steps = -1', r"steps: Input should be greater than or equal to 0"),
    ('"organisms.0.position" = "[16, 16 + shift]"', '"organisms.0.position" = "[16, 16 + shift * 1e308 * 10]"',
     r"derived\.organisms\.0\.position: .*expected finite numbers"),
    ('"organisms.0.position" = "[16, 16 + shift]"', '"organisms.0.position" = "[16, 16 + shift / 2]"',
     r"shift = 3.*organisms\.0\.position\.1: Input should be a valid integer"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD_SWEEPS)
def test_bad_sweeps_are_refused_up_front_naming_file_field_and_reason(sweep_file, tmp_path, capsys, old, new,
                                                                      message):
    assert old in SWEEP
    sweep_file.write_text(SWEEP.replace(old, new))
    out = tmp_path / "out"
    start = time.perf_counter()
    assert main(["sweep", str(sweep_file), "--workers", "1", "--out", str(out)]) == 2
    assert time.perf_counter() - start < 10
    error = capsys.readouterr().err
    assert error.startswith("nca-world: error: ") and "Traceback" not in error
    assert str(sweep_file) in error
    assert re.search(message, error), error
    assert not out.exists()  # nothing ran, nothing was written


def test_an_invalid_base_scenario_is_refused(sweep_file, scenario_dir):
    base = (scenario_dir / "base.toml").read_text()
    (scenario_dir / "base.toml").write_text(base.replace("height = 48", "height = -48"))
    with pytest.raises(ScenarioError, match=r"sweep\.toml: scenario: the base scenario is invalid: .*world\.height"):
        Sweep(sweep_file)


@pytest.mark.parametrize(("options", "message"), [
    (["--workers", "-2"], r"--workers: expected a positive number of local workers, got -2"),
    (["--workers", "0"], r"--workers: expected a positive number of local workers, got 0"),
    (["--scheduler", "my-cluster"], r"--scheduler: expected an address like tcp://HOST:8786, got 'my-cluster'"),
    (["--scheduler", "tcp://127.0.0.1:1"], r"--scheduler: cannot reach tcp://127.0.0.1:1 within 5 s"),
])
def test_bad_options_are_refused_quickly(sweep_file, tmp_path, capsys, options, message):
    out = tmp_path / "out"
    start = time.perf_counter()
    assert main(["sweep", str(sweep_file), "--out", str(out), *options]) == 2
    assert time.perf_counter() - start < 10
    error = capsys.readouterr().err
    assert error.startswith("nca-world: error: ") and "Traceback" not in error and str(sweep_file) in error
    assert re.search(message, error), error
    if "127.0.0.1" not in options[1]:  # the API refuses the same way (without a connection attempt)
        with pytest.raises(SweepError):
            run_sweep(Sweep(sweep_file), out, scheduler=None if "--workers" in options else options[1],
                      workers=int(options[1]) if "--workers" in options else None, progress=False)
        assert not out.exists()


def test_sweep_files_are_validated(scenario_dir):
    bad = scenario_dir / "bad.toml"
    bad.write_text('scenario = "base.toml"\nseeds = [1]\n[grid]\n"world.seed" = []\n')
    with pytest.raises(ScenarioError, match=r"grid\.world\.seed: expected at least one value"):
        Sweep(bad)
    bad.write_text('scenario = "base.toml"\nseeds = [1]\n[derived]\n"world.seed" = "missing + 1"\n')
    with pytest.raises(ScenarioError, match="'missing' is not a grid parameter"):
        Sweep(bad)
    bad.write_text('scenario = "base.toml"\nseeds = [1]\n[grid]\nd = [1]\n[report]\nby = "distance"\n')
    with pytest.raises(ScenarioError, match=r"report\.by: expected a grid axis \(\['d'\]\), got 'distance'"):
        Sweep(bad)


# ------------------------------------------------------------------ D: summaries with known answers

def test_every_summary_measure_on_a_synthetic_recording(tmp_path):
    from nca_world.sim.analysis import analyze
    from tests.test_study_measures import blob, write_recording

    # organism 1 (a, 3x3 = 9 cells) moves 3 right then 4 down (5 in all); organism 2 (b, 2x2) stays, then dies
    frames = []
    for dy, dx, b_alive in [(0, 0, True), (0, 3, True), (4, 3, False)]:
        owner = np.zeros((30, 40), np.int64)
        owner[blob(10 + dy, 10 + dx, 3)] = 1
        if b_alive:
            owner[blob(10, 30, 2)] = 2
        frames.append(owner)
    path = write_recording(tmp_path / "r.h5", frames, names=("a", "b"), target_size=3)
    summary = summarise(analyze(path))
    assert summary["displacement_a"] == pytest.approx(5.0)  # centroid (11, 11) -> (15, 14)
    assert summary["max_displacement"] == pytest.approx(5.0)  # the largest, not the smallest (b moved 0)
    assert summary["displacement_b"] == pytest.approx(0.0)
    assert summary["alive_organisms"] == 1 and summary["total_cells"] == 9
    assert summary["collapsed"] is True  # b had cells and has none
    assert summary["exploded"] is False
    assert summary["mean_shape_error"] == pytest.approx(0.0, abs=1e-6)  # a is exactly its 3x3 target
    assert summary["max_shape_error"] == pytest.approx(0.0, abs=1e-6)
    assert summary["min_iou"] == 0.0  # b is dead: it overlaps its target nowhere
    # (the shape errors are over living organisms only: a dead one has no aligned error)
    assert summary["contact_length"] == 0
    # the global bounding box: frame 0 spans (10,10)-(11,31) -> frame 1 (10,13)-(12,31) -> frame 2 (14,13)-(16,15)
    assert summary["box_shift"] == pytest.approx(3.0 + 4.0)
    # ideal image: both 3x3 targets (alpha 1, rgb 0.4) at the seed cells; last frame: a moved away entirely
    assert summary["ideal_mse"] == pytest.approx((2 * 9 + 9) * (3 * 0.4**2 + 1) / (30 * 40 * 4), rel=1e-4)


def test_exploded_and_contact_on_a_synthetic_recording(tmp_path):
    from nca_world.sim.analysis import analyze
    from tests.test_study_measures import blob, write_recording

    owner = np.zeros((30, 40), np.int64)
    owner[blob(5, 5, 6)] = 1  # 36 cells > 3 x 9: exploded
    owner[5:11, 11:13] = 2  # touches organism 1 along a 6-cell edge
    path = write_recording(tmp_path / "r.h5", [owner, owner], names=("a", "b"), target_size=3)
    summary = summarise(analyze(path))
    assert summary["exploded"] is True and summary["contact_length"] == 6 and summary["total_cells"] == 48


# ------------------------------------------------------------------ E: controls

def test_controls_are_shared_run_once_and_measures_are_relative_to_them(sweep_file, tmp_path):
    # the control moves organism a to one place whatever the shift: 2 boundaries x 2 seeds = 4 controls
    sweep_file.write_text(SWEEP + '\n[control]\n"organisms.0.position" = "[16, 40]"\n')
    sweep = Sweep(sweep_file)
    runs, controls = sweep.runs(), sweep.controls()
    assert len(runs) == 8 and len(controls) == 4
    assert all(tuple(c["fields"]["organisms.0.position"]) == (16, 40) for c in controls)
    sweep_file.write_text(SWEEP + '\n[control]\n"organisms.0.position" = [16, 40]\n')  # a plain value
    assert [c["id"] for c in Sweep(sweep_file).controls()] == [c["id"] for c in controls]
    by_key = {(r["parameters"]["world.boundary"], r["parameters"]["shift"], r["seed"]): r["control"] for r in runs}
    assert by_key[("zero", 0, 1)] == by_key[("zero", 3, 1)] != by_key[("zero", 0, 2)] != by_key[("wrap", 0, 2)]
    assert {r["control"] for r in runs} == {c["id"] for c in controls}
    table = run_in_process(sweep, tmp_path)
    control_table = pd.read_csv(tmp_path / "controls.csv").set_index("id")
    assert len(control_table) == 4 and control_table.error.astype("string").fillna("").eq("").all()
    for row in table.itertuples():
        control = control_table.loc[row.control]
        assert row.ideal_mse_final_vs_control == pytest.approx(row.ideal_mse_final - control.ideal_mse_final)
        assert row.max_displacement_vs_control == pytest.approx(row.max_displacement - control.max_displacement)
        assert row.control_breakdown_a == control.breakdown_a
    assert (table.ideal_mse_final_vs_control != 0).any()
    assert len(read_series(tmp_path / "series.h5")["info"].run.unique()) == 8 + 4  # controls' series too


def test_an_existing_scheduler_by_address(sweep_file, tmp_path):
    from distributed import LocalCluster

    sweep = Sweep(sweep_file)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = run_sweep(sweep, tmp_path / "remote", scheduler=cluster.scheduler_address, progress=False)
    local = run_in_process(sweep, tmp_path / "local")
    assert len(remote) == 8 and (remote.error.fillna("") == "").all()
    pd.testing.assert_frame_equal(comparable(remote), comparable(local))


def test_sweep_command_reports_the_table(sweep_file, tmp_path, capsys):
    out = tmp_path / "out"
    run_in_process(Sweep(sweep_file), out)  # everything finished: the command starts no cluster
    assert main(["sweep", str(sweep_file), "--workers", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"8 runs (0 failed): {out / 'results.csv'}" in printed
    assert f"per-step series of every run: {out / 'series.h5'}" in printed
    assert json.loads((out / "sweep.json").read_text())["report"]["compare"] == "world.boundary"


def test_a_large_sweep_with_its_last_run_bad_is_refused_within_10_s(sweep_file, tmp_path, capsys):
    shifts = [*range(47), 48]  # 16 + 48 = 64 is just off the 64-wide grid: only the last value is bad
    seeds = list(range(1, 51))
    sweep_file.write_text(SWEEP.replace("shift = [0, 3]", f"shift = {shifts}").replace("seeds = [1, 2]",
                                                                                       f"seeds = {seeds}"))
    start = time.perf_counter()
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "out")]) == 2
    assert time.perf_counter() - start < 10
    error = capsys.readouterr().err
    assert "shift = 48, seed = 1: " in error and "expected inside the 48x64 grid, got [16, 64]" in error
    assert not (tmp_path / "out").exists()


def _imported_modules(module: str) -> set[str]:
    """The nca_world modules `module` imports anywhere in its code (inside functions too)."""
    spec = importlib.util.find_spec(module)
    found = set()
    for node in ast.walk(ast.parse(Path(spec.origin).read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nca_world"):
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("nca_world")]
        found |= {name for name in names if (found_spec := _spec(name)) is not None
                  and not found_spec.origin.endswith("__init__.py")}
    return found


def _spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except ModuleNotFoundError:  # `package.function`, not a module
        return None


def test_every_module_the_result_code_imports_is_part_of_the_run_id():
    """A module that computes results but is missing from `RESULT_MODULES` would let a sweep reuse
    runs computed by other code (fission, meeting and part_count once were)."""
    listed = set(sweep_ids.RESULT_MODULES) | set(sweep_ids.NOT_RESULTS)
    reached, todo = set(), list(sweep_ids.RESULT_MODULES)
    while todo:
        for name in _imported_modules(todo.pop()) - reached:
            reached.add(name)
            todo.append(name)
    assert reached - listed == set()
    assert all(_spec(name) is not None for name in listed)  # no stale names


def test_sweep_runs_step_with_one_thread_each(sweep_file, tmp_path, monkeypatch):
    """Workers are single-threaded (one per core): a run must not switch to numba's full count."""
    import numba

    from nca_world.sim.world import World

    counts, step = set(), World.step

    def counted(world, n=1):
        step(world, n)
        counts.add(numba.get_num_threads())

    monkeypatch.setattr(World, "step", counted)
    run_in_process(Sweep(sweep_file), tmp_path / "out")
    assert counts == {1}

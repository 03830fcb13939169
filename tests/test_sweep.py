"""Sweeps on a real Dask LocalCluster, and the statistics of the report."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from agents.errors import ScenarioError
from sim.cli import main
from sim.stats import compare_groups, error_ranges, vargha_delaney_a
from sim.sweep import Sweep, evaluate, run_in_process, run_sweep

SWEEP = """
scenario = "base.toml"
seeds = [1, 2]
steps = 12
metrics = ["alive_organisms", "total_cells", "max_displacement", "collapsed"]

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


def test_grid_expands_exactly(sweep_file):
    runs = Sweep(sweep_file).runs()
    assert len(runs) == 2 * 2 * 2 and len({r["id"] for r in runs}) == 8
    assert {tuple(r["fields"]["organisms.0.position"]) for r in runs} == {(16, 16), (16, 19)}
    assert evaluate("[48 + a, -b // 2]", {"a": 2, "b": 5}) == [50, -3]


def test_local_cluster_gives_the_same_table_as_running_in_process(sweep_file, tmp_path):
    sweep = Sweep(sweep_file)
    distributed = run_sweep(sweep, tmp_path / "dask", workers=2, progress=False)
    local = run_in_process(sweep, tmp_path / "local")
    assert len(distributed) == 8 and (distributed.error == "").all()
    pd.testing.assert_frame_equal(comparable(distributed), comparable(local))
    assert (tmp_path / "dask" / "results.csv").is_file()


def test_a_rerun_skips_finished_runs_and_a_failing_run_is_reported(sweep_file, tmp_path):
    sweep = Sweep(sweep_file)
    first = sweep.runs()[0]
    (tmp_path / "runs").mkdir(parents=True)
    marker = {"id": first["id"], "seed": first["seed"], **first["parameters"], "error": "", "total_cells": -7}
    (tmp_path / "runs" / f"{first['id']}.json").write_text(json.dumps(marker))
    text = SWEEP.replace('shift = [0, 3]', 'shift = [0, 300]')  # 16 + 300 is outside the grid
    sweep_file.write_text(text)
    table = run_sweep(Sweep(sweep_file), tmp_path, workers=2, progress=False)
    assert table.set_index("id").loc[first["id"], "total_cells"] == -7  # not run again
    failed = table[table.error != ""]
    assert len(failed) == 4 and failed.error.str.contains("organisms.a.position: expected inside").all()
    ran = table[(table.error == "") & (table.id != first["id"])]
    assert len(ran) == 3 and (ran.total_cells > 0).all()


def test_sweep_files_are_validated(scenario_dir):
    bad = scenario_dir / "bad.toml"
    bad.write_text('scenario = "base.toml"\nseeds = [1]\n[grid]\n"world.seed" = []\n')
    with pytest.raises(ScenarioError, match=r"grid\.world\.seed: expected at least one value"):
        Sweep(bad)
    bad.write_text('scenario = "base.toml"\nseeds = [1]\n[derived]\n"world.seed" = "missing + 1"\n')
    with pytest.raises(ScenarioError, match="'missing' is not a grid parameter"):
        Sweep(bad)


def test_statistics_match_hand_computed_values():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 5.0, 6.0])
    # pairs with x > y: none except ties... count: x=3 beats y=2 (1 win), x=2 ties y=2 (half)
    assert vargha_delaney_a(x, y) == pytest.approx((1 + 0.5) / 12)
    assert vargha_delaney_a(y, x) == pytest.approx(1 - 1.5 / 12)
    table = pd.DataFrame({"variant": ["A"] * 3 + ["B"] * 4, "distance": [6, 6, 12, 6, 6, 12, 12],
                          "err": [*x, *y]})
    (comparison,) = compare_groups(table, "variant", "err")
    u, p = mannwhitneyu(x, y, alternative="two-sided")
    assert comparison.u == u and comparison.p == pytest.approx(p) and comparison.a == pytest.approx(1.5 / 12)
    ranges = error_ranges(table, "variant", "distance", "err")
    assert ranges.loc[6, "A"] == 1.0 and ranges.loc[12, "B"] == 1.0 and ranges.loc[6, "B"] == 2.0


def test_sweep_and_report_commands(sweep_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--workers", "2", "--out", str(out)]) == 0
    assert "8 runs (0 failed)" in capsys.readouterr().out
    assert main(["report", str(out), "--compare", "world.boundary", "--by", "shift", "--measure", "total_cells",
                 "--title", "Boundary test"]) == 0
    report = (out / "report.md").read_text()
    assert report.startswith("# Boundary test") and "Mann-Whitney" in report and "wrap vs zero" in report
    assert (out / "boxplot.png").stat().st_size > 0

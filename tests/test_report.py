"""`nca-world report`: defaults from the sweep's own axes, clear refusals, the tests it reports."""

import json

import pandas as pd
import pytest

from nca_world.sim.cli import main
from nca_world.sim.report import ReportError, write_report
from nca_world.sim.sweep import Sweep
from nca_world.sim.sweep_run import run_in_process


@pytest.fixture
def folder(tmp_path):
    return sweep_folder(tmp_path)


def sweep_folder(tmp_path):
    """A sweep folder with a hand-made results table: model A / B x gap 2 / 4 x seeds 1..3; B's
    scores are A's plus 10 plus a little, so that no two paired differences tie."""
    rows = []
    for model, base in (("A", 0.0), ("B", 10.0)):
        for gap in (2, 4):
            for seed in (1, 2, 3):
                value = base + gap + seed / 10 + (0.001 * (3 * gap + seed) if model == "B" else 0.0)
                rows.append({"id": f"{model}{gap}{seed}", "seed": seed, "model": model, "gap": gap, "error": "",
                             "score": value, "moved": seed * 1.0,
                             "breakdown_left": "merged" if model == "A" and gap == 2 else "intact"})
    rows.append({"id": "bad", "seed": 4, "model": "A", "gap": 2, "error": "RuntimeError: boom"})
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "sweep.json").write_text(json.dumps({"grid": {"model": ["A", "B"], "gap": [2, 4]},
                                                     "report": {"compare": "model", "by": "gap", "measure": "score"}}))
    return tmp_path


def test_defaults_come_from_the_sweep_and_numbers_are_right(folder):
    report = write_report(folder).read_text()
    assert "12 runs (1 failed). Measure `score`, compared between `model` values, per `gap`." in report
    # error range across runs: per (gap, model) the seeds span 0.1 .. 0.3 (B: 0.002 more)
    assert "| 2 | 0.2000 | 0.2020 |" in report and "| 4 | 0.2000 | 0.2020 |" in report
    # all runs: A (2.1 .. 4.3) vs B (12.1 .. 14.3): every B larger, U = 0, A = 0, exact p = 2 / C(12, 6)
    assert "| A | B | 6, 6 | 0 | 0.00216 | 0.00 | [0.00, 0.00] | yes |" in report
    # paired on (gap, seed): six distinct differences -10.007 .. -10.015, all negative: W = 0,
    # exact p = 2 / 2^6; median difference -(10 + 0.011)
    assert "| A | B | 6 | -10.01 | 0.0 | 0.0312 |" in report
    # breakdowns: A 3 of 6 runs (gap 2), B none: P(all 3 in A) = C(6,3) / C(12,3) = 20 / 220, twice
    assert "| A | B | 3/6 | 0/6 | inf | 0.182 |" in report
    # Holm over the 1 + 2 + 1 + 1 tests: the smallest p (0.00216) times 5
    holm = report.split("Holm-corrected together")[1].split("## ")[0]
    assert sum(line.startswith("| ") for line in holm.splitlines()) == 2 + 5
    assert "| Mann-Whitney U | A vs B | 0.00216 | 0.0108 | yes |" in holm
    assert "- bad: RuntimeError: boom" in report


def test_older_sweep_folder_defaults_to_its_first_two_axes(folder):
    (folder / "sweep.json").write_text(json.dumps({"grid": {"model": ["A", "B"], "gap": [2, 4]}}))
    report = write_report(folder).read_text()
    assert "Measure `score`, compared between `model` values, per `gap`." in report


def test_a_single_axis_sweep_reports_all_runs_together(folder):
    (folder / "sweep.json").write_text(json.dumps({"grid": {"model": ["A", "B"]}}))
    table = pd.read_csv(folder / "results.csv").drop(columns="gap")
    table.to_csv(folder / "results.csv", index=False)
    report = write_report(folder, measure="moved").read_text()
    assert "compared between `model` values, per `(all runs)`" in report and (folder / "movement.png").is_file()


def test_unknown_names_list_the_choices(folder, capsys):
    with pytest.raises(ReportError, match=r"--measure: unknown measure 'scroe'; choose one of: score, moved"):
        write_report(folder, measure="scroe")
    with pytest.raises(ReportError, match=r"--by: unknown axis 'distance'; choose one of: model, gap"):
        write_report(folder, by="distance")
    assert main(["report", str(folder), "--compare", "variant"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("nca-world: error: ") and "choose one of: model, gap" in error
    assert "Traceback" not in error


def test_sweep_then_report_with_no_options(scenario_dir, tmp_path, capsys):
    from tests.test_sweep import SWEEP

    (scenario_dir / "sweep.toml").write_text(SWEEP)
    out = tmp_path / "out"
    run_in_process(Sweep(scenario_dir / "sweep.toml"), out)
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["report"] == {"compare": "world.boundary", "by": "shift", "measure": "ideal_mse_final"}
    assert main(["report", str(out), "--title", "Boundary test"]) == 0  # the identity study's names are not needed
    report = (out / "report.md").read_text()
    assert report.startswith("# Boundary test") and "wrap vs zero" in report
    assert "compared between `world.boundary` values, per `shift`" in report
    assert "## Breakdowns" in report and (out / "boxplot.png").stat().st_size > 0
    assert main(["report", str(out), "--measure", "total_cells"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--measure", "ideal_mse"]) == 2  # not among this sweep's metrics
    assert "choose one of: " in capsys.readouterr().err


def test_a_sweep_whose_runs_all_failed_is_refused_with_the_first_error(folder, capsys):
    table = pd.read_csv(folder / "results.csv")
    table["error"] = "RuntimeError: boom"
    table.to_csv(folder / "results.csv", index=False)
    assert main(["report", str(folder)]) == 2
    error = capsys.readouterr().err
    assert "no finished run to report on (13 failed, the first with RuntimeError: boom)" in error
    assert "Traceback" not in error


def test_runs_are_tested_against_their_controls(folder):
    table = pd.read_csv(folder / "results.csv")
    table["score_vs_control"] = table.seed / 10  # every run above its control
    table["control_breakdown_left"] = "intact"
    table.to_csv(folder / "results.csv", index=False)
    report = write_report(folder).read_text()
    # per (model, gap): 3 positive differences: W = 0, exact p = 2 / 2^3
    assert "| A, gap = 2 | 3 | 0.2 | 0.0 | 0.25 |" in report and "| B, gap = 4 | 3 | 0.2 | 0.0 | 0.25 |" in report
    holm = report.split("Holm-corrected together")[1].split("## ")[0]
    assert sum(line.startswith("| Wilcoxon signed-rank vs control |") for line in holm.splitlines()) == 4
    assert "| A | 3 | 0 |" in report  # runs broken, their controls broken


def test_the_default_measure_has_values(folder):
    table = pd.read_csv(folder / "results.csv")
    table["ideal_mse_range"] = float("nan")  # runs too short to have grown
    table["ideal_mse_final"] = table.score
    table.to_csv(folder / "results.csv", index=False)
    (folder / "sweep.json").write_text(json.dumps({"grid": {"model": ["A", "B"], "gap": [2, 4]},
                                                   "report": {"measure": "ideal_mse_range"}}))
    assert "Measure `ideal_mse_final`" in write_report(folder).read_text()
    assert "Measure `ideal_mse_range`" in write_report(folder, measure="ideal_mse_range").read_text()

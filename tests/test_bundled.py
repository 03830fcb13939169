"""Every bundled scenario and sweep file is valid and runs as it is."""

from pathlib import Path

import pytest

from nca_world.sim.recording import open_recording
from nca_world.sim.runner import run_scenario
from nca_world.sim.scenario import load_scenario
from nca_world.sim.sweep import Sweep

SCENARIOS = Path(__file__).parent.parent / "scenarios"
FILES = sorted(p for p in SCENARIOS.glob("*.toml") if "study" not in p.stem)
SWEEPS = sorted(SCENARIOS.glob("*study*.toml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_bundled_scenario_runs(path, tmp_path):
    scenario = load_scenario(path)
    header = path.read_text().splitlines()[0]
    assert header.startswith("# ") and len(header) > 20  # each explains itself
    summary = run_scenario(scenario, steps=30, out=tmp_path / "r.h5", progress=False)
    with open_recording(summary.recording) as recording:
        assert recording.complete and int(recording.steps[-1]) == 30
    assert any(cells > 0 for _, cells in summary.organisms)


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_bundled_sweeps_expand(path):
    sweep = Sweep(path)
    runs = sweep.runs()
    expected = len(sweep.file.seeds)
    for values in sweep.file.grid.values():
        expected *= len(values)
    assert len(runs) == expected == len({r["id"] for r in runs})
    first = runs[0]
    load_scenario(sweep.scenario, fields=first["fields"])  # every run's scenario is valid
    load_scenario(sweep.scenario, fields=runs[-1]["fields"])

"""Scenario files: a corpus of malformed files, each refused with its message; overrides."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents.errors import ScenarioError
from sim.cli import main
from sim.scenario import load_scenario

BAD = Path(__file__).parent / "scenarios" / "bad"
CORPUS = sorted(BAD.glob("*.toml"))


def expected(path: Path) -> str:
    return path.read_text().splitlines()[0].removeprefix("# expect: ")


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("bad", CORPUS, ids=[p.stem for p in CORPUS])
def test_malformed_scenario_is_refused_with_file_field_and_expectation(bad, scenario_dir, capsys):
    target = scenario_dir / bad.name
    shutil.copy(bad, target)
    shutil.copy(BAD / "corrupt.h5", scenario_dir / "corrupt.h5")
    assert main(["validate", str(target)]) == 2
    message = capsys.readouterr().err
    assert message.startswith(f"nca-world: error: {target}")
    assert expected(bad) in message
    assert "Traceback" not in message


def test_errors_name_the_line_where_they_can(scenario_dir):
    shutil.copy(BAD / "typo_in_organism.toml", scenario_dir / "t.toml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario_dir / "t.toml")
    assert "t.toml:15: organisms.0.positon: unknown key" in str(caught.value)
    assert "t.toml:12: organisms.0.position: missing" in str(caught.value)  # the table that lacks it


def test_validate_reports_every_problem_of_a_file(scenario_dir):
    text = (scenario_dir / "base.toml").read_text().replace("height = 48", "height = -1").replace(
        "radius = 4", "radius = -4")
    (scenario_dir / "two.toml").write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario_dir / "two.toml")
    assert "world.height" in str(caught.value) and "events.0.cut_circle.radius" in str(caught.value)


def test_a_bad_scenario_run_exits_2_without_traceback(scenario_dir):
    shutil.copy(BAD / "position_outside.toml", scenario_dir / "p.toml")
    done = subprocess.run([sys.executable, "-m", "sim.cli", "run", "p.toml"], cwd=scenario_dir,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "position" in done.stderr


def test_overrides_set_nested_fields(scenario_dir):
    scenario = load_scenario(scenario_dir / "base.toml", ["world.seed=11", "organisms.1.spawn_step=7",
                                                          "organisms.0.position=[5, 6]"])
    assert scenario.file.world.seed == 11
    assert scenario.file.organisms[1].spawn_step == 7 and scenario.file.organisms[0].position == (5, 6)
    with pytest.raises(ScenarioError, match="does not name a field"):
        load_scenario(scenario_dir / "base.toml", ["organisms.9.position=[1, 1]"])

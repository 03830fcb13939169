"""Scenario files: a corpus of malformed files, each refused with its message; overrides."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nca_world.agents.errors import ScenarioError
from nca_world.sim.cli import main
from nca_world.sim.scenario import load_scenario

BAD = Path(__file__).parent / "scenarios" / "bad"
CORPUS = sorted(BAD.glob("*.toml"))


def expected(path: Path) -> str:
    """The first line's ``# expect: ...`` (files meant to be undecodable are read leniently)."""
    raw = path.read_bytes()
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8", "replace")
    return text.splitlines()[0].removeprefix("# expect: ")


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


def test_event_fields_and_whole_table_checks_name_their_line(scenario_dir):
    text = (scenario_dir / "base.toml").read_text()
    lines = len(text.splitlines())
    extra = ("\n[[walls]]\nshape = \"rect\"\ntop_left = [1, 1]\nsize = [2, 2]\n"  # a good first wall
             "\n[[walls]]\nshape = \"circle\"\ncenter = [5, 5]\n"  # the second lacks its radius
             "\n[[events]]\nstep = 1\nkind = \"cut_circle\"\ncenter = [3, 3]\nradius = -2\n"
             "\n[[events]]\nstep = 2\nkind = \"remove\"\n")
    (scenario_dir / "t.toml").write_text(text + extra)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario_dir / "t.toml")
    message = str(caught.value)
    assert f"t.toml:{lines + 7}: walls.1: shape 'circle'" in message  # the header of the second [[walls]]
    assert f"t.toml:{lines + 15}: events.3.cut_circle.radius:" in message  # the key itself
    assert f"t.toml:{lines + 17}: events.4.remove: organism: remove needs the organism" in message


def test_validate_reports_every_problem_of_a_file(scenario_dir):
    text = (scenario_dir / "base.toml").read_text().replace("height = 48", "height = -1").replace(
        "radius = 4", "radius = -4")
    (scenario_dir / "two.toml").write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario_dir / "two.toml")
    assert "world.height" in str(caught.value) and "events.0.cut_circle.radius" in str(caught.value)


def test_a_bad_scenario_run_exits_2_without_traceback(scenario_dir):
    shutil.copy(BAD / "position_outside.toml", scenario_dir / "p.toml")
    done = subprocess.run([sys.executable, "-m", "nca_world.sim.cli", "run", "p.toml"], cwd=scenario_dir,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "position" in done.stderr


def test_overrides_set_nested_fields(scenario_dir):
    scenario = load_scenario(scenario_dir / "base.toml", ["world.seed=11", "organisms.1.spawn_step=7",
                                                          "organisms.0.position=[5, 6]"])
    assert scenario.file.world.seed == 11
    assert scenario.file.organisms[1].spawn_step == 7 and scenario.file.organisms[0].position == (5, 6)
    with pytest.raises(ScenarioError, match="does not name a field"):
        load_scenario(scenario_dir / "base.toml", ["organisms.9.position=[1, 1]"])


def test_likely_mistakes_are_warnings_that_validate_prints(scenario_dir, capsys):
    text = (scenario_dir / "base.toml").read_text()
    text = text.replace("spawn_step = 5", "spawn_step = 50").replace("step = 20\n", "step = 41\n")
    text = text.replace("position = [32, 48]", "position = [16, 16]")  # on a's cell
    text += ('\n[[events]]\nstep = 3\nkind = "cut_rect"\ntop_left = [-20, 5]\nsize = [20, 4]\n'
             '\n[[events]]\nstep = 3\nkind = "cut_line"\nstart = [0, 70]\nend = [40, 70]\nwidth = 4\n'
             '\n[[events]]\nstep = 3\nkind = "cut_rect"\ntop_left = [-19, 5]\nsize = [20, 4]\n')
    text = text.replace("from = 10\nuntil = 30", "from = 50\nuntil = 60")
    (scenario_dir / "w.toml").write_text(text)
    warnings = load_scenario(scenario_dir / "w.toml").warnings
    expected_parts = [
        "organisms.b: 'b' is planted at step 50, after the run's last step (40)",
        "events.2: happens first at step 41, after the run's last step (40): it never happens",
        "events.1: happens first at step 50",
        "organisms.b.position: the same cell as 'a' [16, 16]",
        "events.3: the cut_rect lies entirely outside the 48x64 grid",
        "events.4: the cut_line lies entirely outside the 48x64 grid",
    ]
    for part in expected_parts:
        assert any(part in w for w in warnings), part
    assert len(warnings) == len(expected_parts)  # events.5 touches row 0: no warning
    assert all(w.startswith(f"{scenario_dir / 'w.toml'}: ") for w in warnings)
    assert main(["validate", str(scenario_dir / "w.toml")]) == 0
    captured = capsys.readouterr()
    assert "OK (6 warning(s))" in captured.out and captured.err.count("nca-world: warning:") == 6


def test_a_clean_scenario_has_no_warnings(scenario_dir):
    assert load_scenario(scenario_dir / "base.toml").warnings == []


@pytest.mark.parametrize(("position", "inside"), [
    ((0, 0), True), ((47, 63), True), ((48, 0), False), ((0, 64), False), ((-1, 0), False), ((0, -1), False),
    ((47, 64), False), ((48, 63), False)])
def test_positions_at_every_edge_of_the_grid(scenario_dir, position, inside):
    text = (scenario_dir / "base.toml").read_text().replace("position = [16, 16]", f"position = {list(position)}")
    (scenario_dir / "e.toml").write_text(text)
    if inside:
        assert load_scenario(scenario_dir / "e.toml").file.organisms[0].position == position
    else:
        with pytest.raises(ScenarioError, match=r"organisms\.a\.position: expected inside the 48x64 grid"):
            load_scenario(scenario_dir / "e.toml")


def test_errors_never_dump_a_whole_table(scenario_dir):
    text = (scenario_dir / "base.toml").read_text().replace('kind = "move"', 'kind = "move"\nto = [3, 3]')
    (scenario_dir / "d.toml").write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario_dir / "d.toml")
    message = str(caught.value)
    assert "expected exactly one of by = [dy, dx] or to = [y, x]" in message
    assert "{" not in message and len(message) < 300


def test_python_users_may_omit_kind_and_pass_a_string_path(scenario_dir):
    from nca_world.sim.scenario_events import CutCircle, Move

    cut = CutCircle(step=3, center=(4, 5), radius=2.0)
    assert cut.kind == "cut_circle" and Move(step=1, organism="a", by=(0, 1)).kind == "move"
    assert load_scenario(str(scenario_dir / "base.toml")).file.world.height == 48


def test_run_prints_the_warnings_before_running(scenario_dir, capsys):
    text = (scenario_dir / "base.toml").read_text().replace("step = 20\n", "step = 41\n")
    (scenario_dir / "late.toml").write_text(text)
    assert main(["run", str(scenario_dir / "late.toml")]) == 0
    assert "nca-world: warning: " in capsys.readouterr().err

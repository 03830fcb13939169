"""docs/tutorial.md stays true: its files and tested commands run, in order, in a fresh folder.

The page becomes one bash script: a ```` ```toml ```` block whose first line is ``# file: NAME`` is
written to NAME where the shell stands at that point; a ```` ```sh ```` or ```` ```python ````
block after a ``<!-- tested -->`` line runs as it is, except for the few `REDUCTIONS` (which the
page mentions). The set-up commands it does not run (``make``, the viewer) are checked against
the Makefile and the command-line parser. The outputs are then checked with known answers.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from nca_world.agents.modelfile import load_rule
from nca_world.sim.cli import build_parser
from nca_world.sim.recording import open_recording

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"(<!-- tested -->\n)?```(\w*)\n(.*?)```", re.S)
FILE = re.compile(r"# file: (\S+)\n")
# where the test makes a step smaller than the page (the page says so)
REDUCTIONS = {"iterations = 1000/": "iterations = 15/",
              "nca-world sweep cuts.toml": "nca-world sweep cuts.toml --workers 1"}


def blocks() -> list[tuple[bool, str, str]]:
    """(tested, language, text) of every fenced block of the page, in order."""
    return [(bool(tested), language, text) for tested, language, text in BLOCK.findall(PAGE.read_text("utf-8"))]


def script() -> str:
    """The page's files and tested blocks as one bash script."""
    lines = ["set -eo pipefail", "set -x"]
    applied = dict.fromkeys(REDUCTIONS, 0)
    for tested, language, text in blocks():
        named = FILE.match(text)
        if language == "toml" and named:
            lines.append(f"cat > {shlex.quote(named.group(1))} <<'TUTORIAL_FILE'\n{text}TUTORIAL_FILE")
        elif tested and language == "sh":
            for old, new in REDUCTIONS.items():
                applied[old] += text.count(old)
                text = text.replace(old, new)
            lines.append(text)
        elif tested and language == "python":
            lines.append(f"python - <<'TUTORIAL_PYTHON'\n{text}TUTORIAL_PYTHON")
    assert applied == dict.fromkeys(REDUCTIONS, 1), f"each reduction should apply once: {applied}"
    return "\n".join(lines) + "\n"


def test_the_page_has_what_the_test_runs():
    found = blocks()
    files = [FILE.match(text).group(1) for _, language, text in found if language == "toml" and FILE.match(text)]
    assert files == ["duel.toml", "disc.toml", "cuts.toml"]
    assert sum(tested for tested, _, _ in found) >= 9
    assert all(language in ("sh", "python") for tested, language, _ in found if tested)


def test_the_commands_it_does_not_run_exist():
    """`make` targets are in the Makefile; `nca-world` lines parse (options and subcommands exist)."""
    makefile = (ROOT / "Makefile").read_text("utf-8")
    untested = [line.split("#")[0].strip() for tested, language, text in blocks()
                if language == "sh" and not tested for line in text.splitlines()]
    untested = [line for line in untested if line]
    assert untested
    for line in untested:
        words = shlex.split(line)
        if words[0] == "make":
            assert all(re.search(rf"^{target}:", makefile, re.M) for target in words[1:]), line
        else:
            assert words[0] == "nca-world", line
            build_parser().parse_args(words[1:])  # exits (fails the test) on an unknown option


def test_every_tested_step_of_the_tutorial_runs(tmp_path):
    clone, home = tmp_path / "clone", tmp_path / "home"
    home.mkdir()
    (clone / "recordings").mkdir(parents=True)
    os.symlink(ROOT / ".venv", clone / ".venv")
    shutil.copytree(ROOT / "scenarios", clone / "scenarios")  # a copy: the demo records to ../recordings
    env = {**os.environ, "HOME": str(home), "MPLBACKEND": "Agg",
           "NUMBA_NUM_THREADS": "1"}  # results do not depend on it; one thread keeps a loaded machine fast
    env.pop("NCA_WORLD_MODELS", None)
    env.pop("NCA_WORLD_MODEL_PATH", None)
    (tmp_path / "tutorial.sh").write_text(script(), encoding="utf-8")
    done = subprocess.run(["bash", str(tmp_path / "tutorial.sh")], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    work = home / "nca-tutorial"

    # 2-3: the demo with seed 8, and snapshots of it
    with open_recording(clone / "recordings" / "demo-seed8.h5") as recording:
        assert recording.complete and recording.seed == 8 and len(recording) == 701
        cut = [e for e in recording.events if e["event"]["kind"] == "cut_circle"]
        assert [e["step"] for e in cut] == [250] and cut[0]["effect"]["killed"] > 0
    with Image.open(clone / "demo.png") as four:
        assert four.size[0] >= 4 * 112 * 4 and four.size[1] > 80 * 4  # 4 panels at zoom 4, with a status line

    # 4: duel.toml ran; a bigger cut of the same state kills more cells
    killed = {}
    for name in ("duel", "duel-r10"):
        with open_recording(work / "recordings" / f"{name}.h5") as recording:
            assert recording.complete and len(recording) == 251
            events = [(e["step"], e["event"]["kind"]) for e in recording.events]
            assert events == [(0, "spawn"), (30, "spawn"), (150, "cut_circle"), (200, "move")], events
            killed[name] = recording.events[2]["effect"]["killed"]
            assert recording.events[3]["effect"]["moved"] > 100
    assert 0 < killed["duel"] < killed["duel-r10"]
    assert (work / "duel.png").is_file()

    # 5: analyze, its video and the Python block (which asserts by itself)
    with open(work / "recordings" / "duel" / "regeneration.csv", encoding="utf-8") as f:
        episodes = list(csv.DictReader(f))
    assert [(e["step"], e["name"]) for e in episodes] == [("150", "gecko")]
    assert float(episodes[0]["error_after_cut"]) > 3 * float(episodes[0]["error_before"])
    with Image.open(work / "duel.gif") as gif:
        assert gif.n_frames == 251
    assert "251 frames; gecko cells before the cut" in done.stdout

    # 6-7: the tiny training, resumed to 15 iterations, and its stability check
    assert "iterations = 15" in (work / "disc.toml").read_text("utf-8")
    rule = load_rule(work / "disc.h5")
    assert (rule.spec.channels, rule.spec.hidden, rule.target.shape) == (17, 32, (24, 24, 4))
    assert rule.provenance["iterations"] == 15
    assert (work / "disc.png").is_file() and (work / "disc.ckpt.h5").is_file()
    assert "| disc identity | MSE@100 | MSE@200 |" in done.stdout
    assert "stability: " in done.stdout and " of 1 model(s) pass" in done.stdout

    # 8: the sweep (2 radii x 2 seeds) and its report
    with open(work / "sweeps" / "cuts" / "results.csv", encoding="utf-8") as f:
        runs = list(csv.DictReader(f))
    assert sorted((r["events.0.radius"], r["seed"]) for r in runs) == [("4", "1"), ("4", "2"), ("8", "1"), ("8", "2")]
    assert all(not r["error"] and np.isfinite(float(r["max_shape_error"])) for r in runs)
    report = (work / "sweeps" / "cuts" / "report.md").read_text("utf-8")
    assert "4 runs (0 failed)" in report and "`max_shape_error`" in report
    print(done.stdout[-2000:], file=sys.stderr)

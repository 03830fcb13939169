"""docs/examples/regrowth.py runs as a user would run it, and its outputs hold known answers."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from PIL import Image

from nca_world.agents import library
from nca_world.agents.modelfile import load_rule
from nca_world.sim.recording import open_recording
from nca_world.sim.world import World

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "examples" / "regrowth.py"
# results do not depend on the thread count; one numba thread keeps a loaded machine fast
ENV = {**os.environ, "NUMBA_NUM_THREADS": "1"}


def run_example(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(out)], cwd=out.parent, env=ENV,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("example") / "out"
    done = run_example(out)
    assert done.returncode == 0, done.stderr
    assert f"outputs in {out}" in done.stdout
    return out


def series(out: Path) -> dict[str, list[dict]]:
    """regrowth.csv by organism, rows in order (the cut step appears twice: before and after)."""
    with open(out / "regrowth.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {name: [{"step": int(r["step"]), "cells": int(r["cells"]), "error": float(r["error"])}
                   for r in rows if r["organism"] == name] for name in ("gecko", "cross")}


def test_the_cut_gecko_loses_cells_and_regrows(outputs):
    summary = json.loads((outputs / "summary.json").read_text())
    gecko = series(outputs)["gecko"]
    cut = summary["cut_step"]
    before, after = summary["cells_before_cut"]["gecko"], summary["cells_after_cut"]["gecko"]
    assert [r["step"] for r in gecko[cut : cut + 2]] == [cut, cut]  # before and after the cut
    assert gecko[cut]["cells"] == before and gecko[cut + 1]["cells"] == after
    assert after == before - summary["killed"]  # the cut kills, nothing else changes in that step
    assert 0.2 * before <= summary["killed"] <= 0.45 * before  # a radius-6 disc of a ~375-cell gecko
    regrowing = gecko[cut + 1 :]
    assert regrowing[50]["cells"] >= 0.9 * before  # back to size within 50 steps
    assert abs(summary["cells_at_end"]["gecko"] - before) <= 0.15 * before
    # the shape error jumps with the cut and falls again by more than half
    assert summary["error_after_cut"]["gecko"] > 4 * summary["error_before_cut"]["gecko"]
    assert min(r["error"] for r in regrowing[:100]) < 0.5 * summary["error_after_cut"]["gecko"]
    assert summary["error_at_end"]["gecko"] < 0.6 * summary["error_after_cut"]["gecko"]


def test_the_untouched_cross_grows_as_if_alone(outputs):
    """The cross never comes near the gecko: step for step it has the cells a cross grown alone
    (same world, seed and place) has, so neither the gecko nor its cut changed it."""
    cross = series(outputs)["cross"]
    cross = [r for i, r in enumerate(cross) if i + 1 == len(cross) or cross[i + 1]["step"] != r["step"]]
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # as the example ran; the result does not depend on it
    try:
        world = World(64, 128, species={"cross": load_rule(library.find("cross"))}, seed=3)
        world.spawn("cross", "cross", at=(32, 92))
        alone = [0] * len(cross)
        alone[0] = int(world.mask("cross").sum())
        for step in range(1, len(cross)):
            world.step()
            alone[step] = int(world.mask("cross").sum())
    finally:
        numba.set_num_threads(threads)
    assert [r["step"] for r in cross] == list(range(len(cross)))
    assert [r["cells"] for r in cross] == alone
    summary = json.loads((outputs / "summary.json").read_text())
    assert summary["cells_after_cut"]["cross"] == summary["cells_before_cut"]["cross"]


def test_the_recording_of_the_scenario_matches_the_python_run(outputs):
    """scenario.toml is the same experiment: its recorded metrics equal the script's counts."""
    summary = json.loads((outputs / "summary.json").read_text())
    python = {name: {r["step"]: r["cells"] for r in rows} for name, rows in series(outputs).items()}  # after cuts
    with open_recording(outputs / "regrowth.h5") as recording:
        assert recording.complete
        assert [o["name"] for o in recording.organisms_at_end()] == ["gecko", "cross"]
        assert list(recording.steps) == list(range(0, 501, 25))
        table = recording.metrics_frame()
        events = recording.events
        assert recording.frame(0).shape == (64, 128, 5)  # rgba + the gecko's identity channel
    for name in ("gecko", "cross"):
        recorded = table[table["name"] == name].set_index("step")["alive"]
        assert {int(s): int(a) for s, a in recorded.items()} == {s: python[name][s] for s in recorded.index}
        assert len(recorded) >= 500
    assert [(e["step"], e["event"]["kind"]) for e in events] == [(0, "spawn"), (0, "spawn"), (200, "cut_circle")]
    assert events[2]["effect"]["killed"] == summary["killed"]
    assert summary["recording"] == {"frames": 21, "organisms": ["gecko", "cross"],
                                    "gecko_alive_at_end": summary["cells_at_end"]["gecko"],
                                    "metric_rows": len(table)}


def test_the_pictures(outputs):
    with Image.open(outputs / "regrowth.png") as image:
        assert image.size == (900, 600)
        pixels = np.asarray(image.convert("RGB"))
    # the plot's two series are drawn in matplotlib's first two colours
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(pixels.astype(int) - colour).sum(axis=2) < 30).sum() > 200, colour
    with Image.open(outputs / "recorded.png") as image:
        assert image.size == (3 * 2 * 128, 2 * 64)  # three frames side by side, 2 pixels per cell
        recorded = np.asarray(image.convert("RGB"))
    assert (recorded < 250).any(axis=2).sum() > 1000  # organisms on the white background


def test_it_never_replaces_a_file(outputs):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in outputs.iterdir()}
    done = run_example(outputs)
    assert done.returncode != 0
    assert "already exist" in done.stderr and "regrowth.png" in done.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in outputs.iterdir()} == before

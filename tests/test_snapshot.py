"""nca-world snapshot: panels of a scenario or a recording at given steps, with labels and a
status line; refusals before any work."""

import numpy as np
import pytest
from PIL import Image

from nca_world.sim.cli import main
from nca_world.sim.recording import open_recording
from nca_world.sim.snapshot import STATUS_HEIGHT


def test_a_scenario_snapshot_has_one_panel_per_step_and_matches_the_recording(scenario_dir):
    out = scenario_dir / "snap.png"
    assert main(["snapshot", str(scenario_dir / "base.toml"), "--at", "0,12,20", "--zoom", "3", "-o", str(out),
                 "--view", "owner", "--no-labels"]) == 0
    sheet = np.asarray(Image.open(out).convert("RGB"))
    assert sheet.shape == (48 * 3 + STATUS_HEIGHT, 3 * 64 * 3 + 2 * 6, 3)
    assert main(["run", str(scenario_dir / "base.toml")]) == 0  # records every step to out.h5
    rec = scenario_dir / "rec.png"
    assert main(["snapshot", str(scenario_dir / "out.h5"), "--at", "0,12,20", "--zoom", "3", "-o", str(rec),
                 "--view", "owner", "--no-labels"]) == 0
    recorded = np.asarray(Image.open(rec).convert("RGB"))
    # the same owner maps: the live run and its recording give the same pictures (status lines aside)
    np.testing.assert_array_equal(sheet[: 48 * 3], recorded[: 48 * 3])
    with open_recording(scenario_dir / "out.h5") as recording:
        assert (recording.owner(12) > 0).sum() > 0


def test_labels_are_drawn_where_the_organisms_are(scenario_dir):
    plain, labelled = scenario_dir / "plain.png", scenario_dir / "labelled.png"
    base = ["snapshot", str(scenario_dir / "base.toml"), "--at", "10", "--zoom", "4"]
    assert main([*base, "-o", str(plain), "--no-labels"]) == 0 and main([*base, "-o", str(labelled)]) == 0
    difference = np.any(np.asarray(Image.open(plain)) != np.asarray(Image.open(labelled)), axis=2)
    grid = difference[: 48 * 4]

    def drawn_near(y: int, x: int) -> int:  # label pixels within 8 cells of a centroid
        return int(grid[max(0, (y - 8) * 4): (y + 8) * 4, max(0, (x - 8) * 4): (x + 8) * 4].sum())

    assert drawn_near(16, 16) > 20 and drawn_near(32, 48) > 20  # a at (16, 16), b at (32, 48)
    assert drawn_near(40, 8) == 0  # nothing where no organism is


@pytest.mark.parametrize(("extra", "message"), [
    (["--at", "5,x"], "--at: expected steps separated by commas"),
    (["--at", "-1"], "--at: expected steps >= 0"),
    (["--at", "3", "--view", "identity"], "--view: expected one of"),
])
def test_bad_requests_are_refused(scenario_dir, capsys, extra, message):
    assert main(["snapshot", str(scenario_dir / "base.toml"), "-o", str(scenario_dir / "s.png"), *extra]) == 2
    assert message in capsys.readouterr().err and not (scenario_dir / "s.png").exists()


def test_an_existing_output_is_never_overwritten(scenario_dir, capsys):
    (scenario_dir / "mine.png").write_bytes(b"mine")
    assert main(["snapshot", str(scenario_dir / "base.toml"), "--at", "3", "-o", str(scenario_dir / "mine.png")]) == 2
    assert "already exists" in capsys.readouterr().err and (scenario_dir / "mine.png").read_bytes() == b"mine"


def test_an_output_that_is_not_a_png_is_refused(scenario_dir, capsys):
    assert main(["snapshot", str(scenario_dir / "base.toml"), "--at", "3", "-o", str(scenario_dir / "s.jpg")]) == 2
    assert "-o: expected a .png file, got .jpg" in capsys.readouterr().err and not (scenario_dir / "s.jpg").exists()

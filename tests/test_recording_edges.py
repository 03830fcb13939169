"""Valid edge cases run end to end: an empty world, a 1x1 world, an organism on the seam of a
torus, unicode organism names; each recording is read back and checked against itself."""

import numpy as np
import pytest

from nca_world.sim.cli import main
from nca_world.sim.recording import open_recording

HEAD = """
[world]
height = {height}
width = {width}
boundary = "{boundary}"
seed = 5

[[species]]
name = "g"
model = "grow.h5"
"""
TAIL = """
[run]
steps = {steps}

[record]
path = "{name}.h5"
channels = "all"
keyframe_every = 4
flush_every = 3
"""


def organism(name, y, x, spawn_step=0):
    return f'\n[[organisms]]\nname = "{name}"\nspecies = "g"\nposition = [{y}, {x}]\nspawn_step = {spawn_step}\n'


def run(folder, name, height, width, boundary, steps, organisms=""):
    """Write and run a scenario through the command line; the open recording."""
    text = HEAD.format(height=height, width=width, boundary=boundary) + organisms
    (folder / f"{name}.toml").write_text(text + TAIL.format(steps=steps, name=name), encoding="utf-8")
    assert main(["run", str(folder / f"{name}.toml")]) == 0
    return open_recording(folder / f"{name}.h5")


def covering_arc(occupied: np.ndarray) -> int:
    """Length of the shortest circular arc that holds every occupied index."""
    if occupied.all():
        return len(occupied)
    longest = run = 0
    for empty in np.concatenate([~occupied, ~occupied]):
        run = run + 1 if empty else 0
        longest = max(longest, run)
    return len(occupied) - min(longest, len(occupied))


def check_against_itself(recording, steps):
    """Every step is recorded; each frame's owner map gives its metric rows' cell counts and
    boxes; each keyframe quantises to its frame and its alpha sums to the recorded mass."""
    assert recording.complete and list(recording.steps) == list(range(steps + 1))
    metrics = recording.metrics
    names = {o["index"]: o["name"] for o in recording.organisms_at_end()}
    for i in range(steps + 1):
        owner = recording.owner(i)
        rows = metrics[metrics[:, 0] == i]
        assert sorted(rows[:, 1].astype(int)) == sorted(k for k in names if k <= rows.shape[0])
        for row in rows:
            cells = owner == row[1]
            assert row[2] == cells.sum()
            if cells.any() and recording.file.attrs["boundary"] == "wrap":  # boxes are the shortest arcs
                ys, xs = np.nonzero(cells)
                for coords, first, last, size in ((ys, row[6], row[8], cells.shape[0]),
                                                  (xs, row[7], row[9], cells.shape[1])):
                    occupied = np.zeros(size, bool)
                    occupied[coords] = True
                    assert last - first + 1 == covering_arc(occupied)
                    assert ((coords - first) % size <= last - first).all()
            elif cells.any():
                ys, xs = np.nonzero(cells)
                assert (row[6], row[7], row[8], row[9]) == (ys.min(), xs.min(), ys.max(), xs.max())
    for k, step in enumerate(recording.keyframe_steps):
        key = recording.keyframe(k)
        expected = (np.clip(key.state, 0, 1) * 255 + 0.5).astype(np.uint8) / np.float32(255)
        np.testing.assert_array_equal(recording.frame(int(step)), expected)
        np.testing.assert_array_equal(recording.owner(int(step)), key.owner)
        for row in metrics[metrics[:, 0] == step]:
            np.testing.assert_allclose(row[3], key.state[:, :, 3][key.owner == row[1]].sum(dtype=np.float64),
                                       rtol=1e-6)


def test_an_empty_world_records_and_forks(scenario_dir):
    with run(scenario_dir, "empty", 16, 24, "zero", 6) as recording:
        check_against_itself(recording, 6)
        assert recording.metrics.shape == (0, 10) and recording.events == []
        assert not recording.stored_frames(0, 7).any() and not recording.file["owner"][()].any()
        assert list(recording.keyframe_steps) == [0, 4]
    assert main(["run", "--from", str(scenario_dir / "empty.h5"), "--at", "0"]) == 0
    with open_recording(scenario_dir / "empty.fork-at-0.h5") as fork:
        check_against_itself(fork, 6)


@pytest.mark.parametrize("boundary", ["zero", "wrap"])
def test_a_1x1_world_records_its_one_cell(scenario_dir, boundary):
    with run(scenario_dir, f"one-{boundary}", 1, 1, boundary, 9, organism("dot", 0, 0)) as recording:
        check_against_itself(recording, 9)
        first = recording.frame(0)
        assert first.shape == (1, 1, 16) and first[0, 0, 3] == 1.0  # the seed cell: alpha 1, RGB 0
        assert recording.metrics[0].tolist()[:4] == [0, 1, 1, 1.0]


def test_an_organism_on_the_seam_of_a_torus_grows_across_it(scenario_dir):
    with run(scenario_dir, "torus", 24, 32, "wrap", 12, organism("corner", 0, 0)) as recording:
        check_against_itself(recording, 12)
        owner = recording.owner(12) == 1
        assert owner[0].any() and owner[-1].any() and owner[:, 0].any() and owner[:, -1].any()  # all four edges
        last = recording.metrics[-1]
        # its box spans the seam: every row is taken; its 25 columns (-12..12 around column 0) are
        # the arc 20..44 (columns 20..31, then 0..12 past the edge)
        assert (last[6], last[7], last[8], last[9]) == (0, 20, 23, 44)


def test_unicode_organism_names_are_recorded_and_read_back(scenario_dir, capsys):
    names = ["gecko ünï 🦎", "名前", 'quote " and \\ backslash']
    organisms = "".join(organism(n.replace("\\", "\\\\").replace('"', '\\"'), 10 + 10 * i, 16, spawn_step=i)
                        for i, n in enumerate(names))
    with run(scenario_dir, "unicode", 40, 32, "zero", 8, organisms) as recording:
        check_against_itself(recording, 8)
        assert [e["event"]["name"] for e in recording.events] == names
        assert [o["name"] for o in recording.organisms_at_end()] == names
        assert [o.name for o in recording.keyframe(2).organisms] == names
        table = recording.metrics_frame()
        assert list(table[table.step == 8]["name"]) == names
    out = capsys.readouterr().out
    assert all(f"  {name:20} alive" in out for name in names)
    assert main(["run", "--from", str(scenario_dir / "unicode.h5"), "--at", "5", "--steps", "8"]) == 0
    with open_recording(scenario_dir / "unicode.fork-at-5.h5") as fork, open_recording(
            scenario_dir / "unicode.h5") as original:
        assert [o["name"] for o in fork.organisms_at_end()] == names
        np.testing.assert_array_equal(fork.metrics, original.metrics)

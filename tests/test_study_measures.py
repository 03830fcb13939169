"""Measures that see interaction, on synthetic owner maps and recordings with known answers."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from nca_world.sim import study_measures as sm
from nca_world.sim.study_measures import Series, classify, frame_measures, relative_to_controls, run_measures

RGB = 0.4  # quantises exactly to uint8 (102 / 255)


def blob(top: int, left: int, size: int) -> tuple[slice, slice]:
    """The cells of a ``size x size`` square with its top-left corner at ``(top, left)``."""
    return slice(top, top + size), slice(left, left + size)


def write_recording(path, owners, *, names=("a", "b"), target_size=3, spawn_steps=None):
    """A real recording whose frame i has exactly the owner map ``owners[i]`` (living cells: RGB
    0.4, alpha 1); each organism is spawned at its first frame's centroid (rounded) and its
    species' target is a ``target_size`` square of the same colour."""
    from nca_world.sim import events as event_ops
    from nca_world.sim.recorder import Recorder
    from nca_world.sim.scenario_events import Spawn
    from nca_world.sim.world import World
    from tests.test_world import still

    target = np.zeros((target_size, target_size, 4), np.float32)
    target[..., :3], target[..., 3] = RGB, 1.0
    rule = dataclasses.replace(still(), target=target)
    height, width = owners[0].shape
    world = World(height, width, species={"g": rule}, seed=0)
    text = f'[world]\nheight = {height}\nwidth = {width}\n[[species]]\nname = "g"\nmodel = "g.h5"\n[run]\nsteps = 1\n'
    spawn_steps = spawn_steps or [0] * len(names)
    with Recorder(path, world, scenario_text=text, channels=[0, 1, 2, 3], flush_every=1) as recorder:
        for step, owner in enumerate(owners):
            for k, name in enumerate(names, start=1):
                if spawn_steps[k - 1] == step:
                    ys, xs = np.nonzero(owner == k)
                    event = Spawn(kind="spawn", step=step, name=name, species="g",
                                  position=(round(ys.mean()), round(xs.mean())))
                    world.step_count = step
                    recorder.event(event_ops.record_of(event, step, event_ops.apply(world, event), "scenario"))
            state = np.zeros((height, width, world.channels), np.float32)
            state[owner > 0, :3], state[owner > 0, 3] = RGB, 1.0
            world.restore(step, state, owner.astype(np.int32), world.organisms)
            recorder.observe(world)
    return path


# ------------------------------------------------------------------ per frame, from the owner map

def test_frame_measures_count_cells_components_contact_and_centroid():
    owner = np.zeros((12, 12), np.int64)
    owner[blob(1, 1, 3)] = 1  # 9 cells, one piece, centroid (2, 2)
    owner[blob(8, 8, 2)] = 1  # ... and a second piece of 4: largest component 9 of 13
    owner[1:4, 5] = 2  # a column of 3 one cell away from organism 1: not touching
    owner[6, 6] = 3  # one cell, two cells from organism 1's second piece
    measured = frame_measures(owner, [1, 2, 3, 4])
    cells, largest, touching, cy, cx = measured[1]
    assert (cells, largest, touching) == (13, 9, 0)
    assert (cy, cx) == pytest.approx(((9 * 2 + 4 * 8.5) / 13, (9 * 2 + 4 * 8.5) / 13))
    assert measured[2][:3] == (3, 3, 0)
    assert measured[3][:3] == (1, 1, 0)  # (6, 6) and (8, 8) are two apart: no contact
    owner[7, 7] = 3  # now a corner touches (8, 8): one cell of each touches the other
    assert frame_measures(owner, [1, 3])[1][2] == 1 and frame_measures(owner, [1, 3])[3][:3] == (2, 2, 1)
    assert frame_measures(owner, [4])[4][:3] == (0, 0, 0) and np.isnan(frame_measures(owner, [4])[4][3])


def test_classes_in_priority_order():
    # died beats merged, merged beats exploded, exploded beats fragmented
    cells = np.array([5, 6, 40, 40, 10, 10, 20, 12])
    largest = np.array([1, 6, 40, 10, 7, 8, 20, 12])
    touching = np.array([3, 1, 0, 0, 0, 0, 0, 5])
    iou = np.array([0.1, 0.4, 0.2, 0.2, 0.9, 0.9, 0.9, 0.5])
    classes = classify(cells, largest, touching, iou, target=10)
    assert list(classes) == ["died", "merged", "exploded", "exploded", "fragmented", "intact", "intact", "intact"]
    # the last: touching, but its own shape (IoU 0.5): an intact neighbour
    assert list(classify([40], [40], [0], [1.0], target=0)) == ["intact"]  # no target: never exploded
    assert list(classify([12], [12], [5], [np.nan], target=0)) == ["intact"]  # no IoU: never merged
    assert list(classify([12], [12], [5], [0.5], target=10, merged_iou=0.6)) == ["merged"]


def test_target_cells_are_the_silhouette_grown_by_one_cell():
    target = np.zeros((5, 6, 4), np.float32)
    target[1:4, 1:5, 3] = 1.0  # 3 x 4 living
    target[0, 0, 3] = 0.05  # not living
    assert sm.target_cells(target) == 5 * 6
    target[:, :, 3] = 1.0  # the whole frame: the ring lies outside it
    assert sm.target_cells(target) == 7 * 8 and sm.target_cells(None) == 0


# ------------------------------------------------------------------ per run, on synthetic series

def series(tracks: dict[int, list[tuple]], *, mse, spawn_steps=(0, 0), target_cells=9, step_every=50) -> Series:
    """Series of organisms 1.. with rows ``(cells, largest, touching, cy, cx[, iou])`` per frame
    (IoU 1 unless given)."""
    frames = len(mse)
    steps = pd.DataFrame({"step": np.arange(frames) * step_every, "ideal_mse": mse})
    rows = [(i * step_every, k, *row[:5], 0.0, row[5] if len(row) > 5 else 1.0)
            for k, track in tracks.items() for i, row in enumerate(track)]
    organisms = pd.DataFrame(rows, columns=list(sm.ORGANISM_COLUMNS))
    info = pd.DataFrame({"organism": list(tracks), "name": [f"o{k}" for k in tracks], "species": "g",
                         "spawn_step": list(spawn_steps)[: len(tracks)], "target_cells": target_cells})
    return Series(steps, organisms, info)


def test_error_range_and_maximum_only_after_both_have_grown():
    # frames at steps 0, 50, ..., 300; the second organism spawns at 50, so grown = 150
    mse = [9.0, 8.0, 7.0, 0.2, 0.5, 0.1, 0.3]
    still = [(9, 9, 0, 5.0, 5.0)] * 7
    measured = run_measures(series({1: still, 2: still}, mse=mse, spawn_steps=(0, 50)))
    assert measured["ideal_mse_final"] == 0.3
    assert measured["ideal_mse_max"] == 0.5  # not 9.0: the seed stage is not a breakdown
    assert measured["ideal_mse_range"] == pytest.approx(0.5 - 0.1)


def test_each_breakdown_class_on_synthetic_organisms():
    intact = (9, 9, 0, 5.0, 5.0)
    cases = {
        "died": (3, 3, 0, 5.0, 5.0),
        "merged": (14, 14, 4, 5.0, 5.0, 0.3),
        "exploded": (19, 19, 0, 5.0, 5.0),  # > 2 x 9
        "fragmented": (10, 7, 0, 5.0, 5.0),  # 7 < 0.8 x 10
        "intact": (18, 18, 0, 5.0, 5.0),  # exactly 2 x 9 is not exploded
        "touching": (9, 9, 4, 5.0, 5.0, 0.8),  # a neighbour touching it, but its own shape: intact
    }
    for expected, end in cases.items():
        measured = run_measures(series({1: [intact] * 4 + [end], 2: [intact] * 5}, mse=[0.0] * 5))
        broken = expected not in ("intact", "touching")
        assert measured["breakdown_o1"] == (expected if broken else "intact") and measured["breakdown_o2"] == "intact"
        assert measured["breakdowns"] == broken
        assert measured["touching_o1"] == (expected in ("merged", "touching")) and not measured["touching_o2"]
        step = measured["breakdown_step_o1"]
        assert step == 200 if broken else np.isnan(step)


def test_breakdown_step_is_the_first_broken_frame_after_growth():
    intact, merged = (9, 9, 0, 5.0, 5.0), (9, 9, 2, 5.0, 5.0, 0.2)
    track = [merged, intact, intact, merged, merged, intact]  # touching at step 0 is before growth
    measured = run_measures(series({1: track, 2: [intact] * 6}, mse=[0.0] * 6))
    assert measured["breakdown_step_o1"] == 150 and measured["breakdown_o1"] == "intact"


def test_movement_away_from_and_towards_the_other_organism():
    # o1 at (10, 10) moves from step 100 (grown) to the end by (3, -4): away from o2 at (10, 30)
    o1 = [(9, 9, 0, 10.0, 10.0)] * 3 + [(9, 9, 0, 11.0, 8.0), (9, 9, 0, 13.0, 6.0)]
    o2 = [(9, 9, 0, 10.0, 30.0)] * 3 + [(9, 9, 0, 10.0, 29.0), (9, 9, 0, 10.0, 28.0)]
    measured = run_measures(series({1: o1, 2: o2}, mse=[0.0] * 5))
    assert measured["moved_o1"] == pytest.approx(5.0)
    assert measured["away_o1"] == pytest.approx(4.0)  # the x part, pointing away from o2
    assert measured["moved_o2"] == pytest.approx(2.0) and measured["away_o2"] == pytest.approx(-2.0)
    assert measured["direction_o1"] == pytest.approx(np.degrees(np.arccos(4 / 5)))  # 36.9 degrees off "away"
    assert measured["direction_o2"] == pytest.approx(180.0)  # straight towards o1
    assert measured["separation_change"] == pytest.approx(np.hypot(3, 22) - 20)
    assert measured["breakdowns"] == 0


def test_measures_on_a_synthetic_recording_end_to_end(tmp_path):
    """Six organisms through the real recorder and analysis: one dies, one grows into a seventh
    (merged; the seventh keeps its shape: intact), one explodes, one fragments, one moves 4 cells, intact."""
    from nca_world.sim.analysis import analyze
    from nca_world.sim.recording import open_recording

    first = np.zeros((60, 80), np.int64)
    spots = {1: (5, 5), 2: (5, 20), 3: (5, 30), 4: (30, 5), 5: (30, 30), 6: (50, 60)}
    for k, (y, x) in spots.items():
        first[blob(y, x, 3)] = k
    last = np.zeros_like(first)
    last[blob(5, 5, 2)] = 1  # 4 cells: died
    last[5:8, 20:30] = 2  # grew up to organism 3: 30 cells, aligned IoU 9 / 30: merged
    last[blob(5, 30, 3)] = 3  # touched, but still its 3x3 self: intact
    last[blob(27, 3, 8)] = 4  # 64 cells > 2 x 25 (a 3x3 body owns 5x5): exploded
    last[blob(30, 30, 3)] = 5
    last[blob(36, 36, 3)] = 5  # 18 cells in two pieces of 9: fragmented
    last[blob(50, 64, 3)] = 6  # moved 4 to the right, intact
    frames = [first] * 3 + [last] * 2
    names = tuple(f"o{k}" for k in spots)
    path = write_recording(tmp_path / "r.h5", frames, names=names, target_size=3)
    with open_recording(path) as recording:
        got = sm.series_of(analyze(recording), recording)
    assert list(got.info.target_cells) == [25] * 6 and list(got.info.name) == list(names)
    assert len(got.steps) == 5 and got.steps.ideal_mse.iloc[0] == pytest.approx(0.0, abs=1e-6)
    got.steps["step"] *= 50  # frames 0..4 as steps 0..200: grown at 100
    got.organisms["step"] *= 50
    measured = run_measures(got)
    assert [measured[f"breakdown_{n}"] for n in names] == ["died", "merged", "intact", "exploded", "fragmented",
                                                          "intact"]
    assert measured["breakdowns"] == 4 and measured["touching_o3"] and not measured["touching_o6"]
    last_rows = got.organisms[got.organisms.step == 200].set_index("organism")
    assert last_rows.iou[2] == pytest.approx(9 / 30) and last_rows.iou[3] == pytest.approx(1.0)
    assert measured["moved_o6"] == pytest.approx(4.0)
    assert measured["moved_o3"] == 0.0 and np.isnan(measured["direction_o3"])  # did not move: no direction
    assert measured["breakdown_step_o1"] == 150 and np.isnan(measured["breakdown_step_o6"])
    intact_rows = got.organisms[got.organisms.organism == 6]
    assert (intact_rows.shape_error.abs() < 1e-6).all()  # the intact one matches its target exactly


def test_series_file_round_trip_and_recomputation(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    made = {"r1": series({1: [(9, 9, 0, 5.0, 5.0)] * 4 + [(2, 2, 0, 5.0, 5.0)], 2: [(9, 9, 0, 5.0, 9.0)] * 5},
                        mse=[1.0, 0.5, 0.2, 0.4, 0.3]),
            "r2": series({1: [(9, 9, 0, 5.0, 5.0)] * 5}, mse=[0.0, 0.1, 0.2, 0.3, 0.9], spawn_steps=(0,))}
    for run_id, s in made.items():
        sm.write_run_series(s, runs / f"{run_id}.series.h5")
    assert sm.merge_series(runs, ["r1", "r2", "missing"], tmp_path / "series.h5") == 2
    tables = sm.read_series(tmp_path / "series.h5")
    assert len(tables["steps"]) == 10 and set(tables["organisms"].run) == {"r1", "r2"}
    recomputed = sm.measures_from_series(tmp_path / "series.h5").set_index("id")
    for run_id, s in made.items():
        expected = run_measures(s)
        for key, value in expected.items():
            got = recomputed.loc[run_id, key]
            assert (pd.isna(got) and pd.isna(value)) or got == value, key
    assert sm.merge_series(runs, ["missing"], tmp_path / "empty.h5") == 0  # a sweep with nothing finished yet
    assert all(table.empty for table in sm.read_series(tmp_path / "empty.h5").values())
    assert recomputed.loc["r1", "breakdown_o1"] == "died"
    assert recomputed.loc["r2", "ideal_mse_range"] == pytest.approx(0.9 - 0.2)  # from step 100 on
    before = {name: table.sort_values(list(table.columns)).reset_index(drop=True) for name, table in tables.items()}
    (runs / "r1.series.h5").unlink()  # per-run files not kept (git holds the merged file only)
    assert sm.merge_series(runs, ["r1", "r2", "missing"], tmp_path / "series.h5") == 2
    after = sm.read_series(tmp_path / "series.h5")
    for name, table in after.items():
        pd.testing.assert_frame_equal(table.sort_values(list(table.columns)).reset_index(drop=True), before[name])


def test_measures_relative_to_the_same_runs_control():
    table = pd.DataFrame({"id": ["a", "b", "c"], "control": ["k1", "k1", "k2"], "ideal_mse_range": [0.5, 0.3, 0.2],
                          "moved_o1": [4.0, 1.0, 2.0], "breakdown_o1": ["merged", "intact", "intact"]})
    controls = pd.DataFrame({"id": ["k1", "k2"], "error": ["", "RuntimeError: x"], "ideal_mse_range": [0.1, 0.0],
                             "moved_o1": [1.5, 0.0], "breakdown_o1": ["exploded", "intact"]})
    out = relative_to_controls(table, controls)
    assert out.ideal_mse_range_vs_control.iloc[:2].tolist() == pytest.approx([0.4, 0.2])
    assert out.moved_o1_vs_control.iloc[:2].tolist() == pytest.approx([2.5, -0.5])
    assert out.control_breakdown_o1.iloc[:2].tolist() == ["exploded", "exploded"]
    assert np.isnan(out.ideal_mse_range_vs_control.iloc[2])  # its control failed: no comparison

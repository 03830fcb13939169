"""Analysis on synthetic recordings with known answers, and on a real bundled scenario."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nca_world.agents.errors import RecordingError
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim import analysis as analysis_module
from nca_world.sim.analysis import analyze, contact_lengths
from nca_world.sim.cli import main
from nca_world.sim.events import record_of
from nca_world.sim.recorder import Recorder
from nca_world.sim.scenario_events import CutCircle, Spawn
from nca_world.sim.world import World

SHAPE = np.zeros((9, 9, 4), np.float32)
SHAPE[2:7, 1:8] = (0.2, 0.6, 0.3, 1.0)  # a 5x7 green block in a 9x9 target frame


def species(target: np.ndarray = SHAPE) -> Rule:
    rule = Rule.random(RuleSpec(hidden=8), seed=0)
    return Rule(rule.spec, rule.w1, rule.b1, rule.w2, rule.b2, target=target)


def synthetic(path: Path, frames, positions, events=(), size=(40, 60), *, rule: Rule | None = None,
              channels=(0, 1, 2, 3), identities=None, spawn_steps=None) -> Path:
    """A recording of the given (state, owner) frames at steps 0, 1, ...; organisms spawned at
    `positions` (their seed cells) at `spawn_steps` (default 0) with `identities`, `events`
    logged as (step, event) or (step, event, effect, source) tuples."""
    world = World(*size, species={"block": rule or species()})
    identities = identities or [None] * len(positions)
    spawn_steps = spawn_steps or [0] * len(positions)
    for k, position in enumerate(positions, start=1):
        world.spawn(f"o{k}", "block", position, identities[k - 1])
    with Recorder(path, world, scenario_text="", channels=list(channels), keyframe_every=1000) as recorder:
        for step, (state, owner) in enumerate(frames):
            world.step_count = step
            for k, position in enumerate(positions, start=1):
                if spawn_steps[k - 1] == step:
                    spawn = Spawn(kind="spawn", step=step, name=f"o{k}", species="block", position=position,
                                  identity=identities[k - 1])
                    recorder.event(record_of(spawn, step, {"index": k}, "scenario"))
            for when, event, *logged in events:
                if when == step:
                    effect, source = logged if logged else ({}, "scenario")
                    recorder.event(record_of(event, step, effect, source))
            world.state[:] = state
            world.owner[:] = owner
            recorder.observe(world)
    return path


def block_at(top: int, left: int, size=(40, 60), index: int = 1, state=None, owner=None):
    state = np.zeros((*size, 16), np.float32) if state is None else state
    owner = np.zeros(size, np.int32) if owner is None else owner
    state[top : top + 5, left : left + 7, :4] = SHAPE[2:7, 1:8]
    owner[top : top + 5, left : left + 7] = index
    return state, owner


def test_a_translated_shape_has_an_exact_track_and_zero_aligned_error(tmp_path):
    frames = [block_at(15, 10 + t) for t in range(20)]  # one cell to the right per step
    result = analyze(synthetic(tmp_path / "move.h5", frames, [(17, 13)]))
    track = result.organisms[result.organisms.organism == 1]
    np.testing.assert_allclose(track.centroid_x, 13 + np.arange(20))
    np.testing.assert_allclose(track.centroid_y, 17.0)
    np.testing.assert_allclose(track.velocity_x.iloc[1:], 1.0)
    assert track.shape_error.max() < 1e-4 and (track.iou > 0.99).all()
    paper = result.paper.ideal_mse.to_numpy()
    assert paper[0] < 1e-4 and paper[-1] > 0.01 and np.all(np.diff(paper[:8]) > 0)  # the paper's error grows
    assert result.paper.box_shift.iloc[1:].eq(1.0).all()


def test_a_cut_and_its_regrowth_are_found(tmp_path):
    frames = []
    for t in range(40):
        state, owner = block_at(15, 20)
        hole = 0 if t < 10 else max(0, 5 - (t - 10) // 4)  # a 5-wide hole regrows one column per 4 steps
        state[15:20, 21 : 21 + hole] = 0.0
        owner[15:20, 21 : 21 + hole] = 0
        frames.append((state, owner))
    cut = CutCircle(kind="cut_circle", step=10, center=(17, 23), radius=3, organism="o1")
    result = analyze(synthetic(tmp_path / "cut.h5", frames, [(17, 23)], events=[(10, cut)]))
    row = result.regeneration.iloc[0]
    assert row.kind == "cut_circle" and row.step == 10 and row["name"] == "o1"
    assert row.error_before < 1e-4 and row.error_after_cut > 0.05
    assert row.regrowth_steps == 20  # the hole closes at step 30
    assert row.settled_error < 1e-4


def test_debris_and_collapse_are_flagged(tmp_path):
    state, owner = block_at(15, 20)
    state[30:32, 40:43, 3] = 1.0  # 6 living cells far from the body, still owned by it
    owner[30:32, 40:43] = 1
    empty = (np.zeros_like(state), np.zeros_like(owner))
    result = analyze(synthetic(tmp_path / "debris.h5", [(state, owner), empty], [(17, 23)]))
    first, last = result.organisms.iloc[0], result.organisms.iloc[1]
    assert first.debris_cells == 6 and first.debris and not first.collapsed
    assert last.collapsed and last.alive == 0


def test_contact_length_of_two_touching_organisms(tmp_path):
    state, owner = block_at(10, 10)
    state, owner = block_at(10, 17, state=state, owner=owner, index=2)  # touching along 5 cells
    assert contact_lengths(owner) == {(1, 2): 5}
    result = analyze(synthetic(tmp_path / "touch.h5", [(state, owner)], [(12, 13), (12, 20)]))
    assert result.contacts.contact_length.tolist() == [5]


def test_chunked_reading_gives_the_same_tables(tmp_path, monkeypatch):
    path = synthetic(tmp_path / "move.h5", [block_at(15, 10 + t) for t in range(11)], [(17, 13)])
    whole = analyze(path)
    monkeypatch.setattr(analysis_module, "CHUNK", 3)
    chunked = analyze(path)
    assert whole.organisms.equals(chunked.organisms) and whole.paper.equals(chunked.paper)


def test_a_real_regeneration_recording(tmp_path):
    scenario = Path(__file__).parent.parent / "scenarios" / "regeneration.toml"
    out = tmp_path / "regen.h5"
    assert main(["run", str(scenario), "--steps", "420", "--out", str(out)]) == 0
    assert main(["analyze", str(out), "--out", str(tmp_path / "report")]) == 0
    result = analyze(out)
    gecko = result.organisms[result.organisms.name == "gecko"].set_index("step")
    assert gecko.shape_error.loc[199] < 0.01 and not gecko.collapsed.any()
    regrowth = result.regeneration
    assert regrowth.step.tolist() == [200, 350]
    assert (regrowth.error_after_cut > 2 * regrowth.error_before).all()  # the cuts show
    assert (regrowth.settled_error < 0.6 * regrowth.error_after_cut).all()  # and heal
    for name in ("organisms.csv", "regeneration.csv", "shape_error_and_mass.png", "damage_montage.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    (tmp_path / "text.h5").write_text("no")
    with pytest.raises(RecordingError, match="not a readable HDF5 recording"):
        analyze(tmp_path / "text.h5")
    from nca_world.agents.modelfile import save_rule

    save_rule(species(), tmp_path / "model.h5")
    with pytest.raises(RecordingError, match="format: expected 'nca-world-recording'"):
        analyze(tmp_path / "model.h5")


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_video_export_in_a_viewer_view(tmp_path, suffix):
    import imageio.v3 as iio

    from nca_world.sim.figures import export_video
    from nca_world.sim.recording import open_recording

    path = synthetic(tmp_path / "move.h5", [block_at(15, 10 + t) for t in range(6)], [(17, 13)])
    with open_recording(path) as recording:
        video = export_video(recording, tmp_path / f"move{suffix}", view="owner", scale=2)
    frames = iio.imread(video)
    assert len(frames) == 6 and frames.shape[1:3] == ((80 + 16, 120) if suffix == ".gif" else (96, 128))  # + step band
    assert tuple(frames[0][17 * 2, 13 * 2][:3]) == pytest.approx((230, 159, 0), abs=40)  # organism 1's colour


# ---------------------------------------------------------------- absolute values (issue 18)

def quantised(values) -> np.ndarray:
    """What a uint8 recording stores for these values, read back."""
    return np.round(np.asarray(values, np.float64) * 255) / 255


def test_the_aligned_shape_error_is_the_hand_computed_mean_square_error(tmp_path):
    """Error = sum of squared RGBA differences over the target's 9 x 9 frame / (4 * 81)."""
    colour, stored = np.asarray(SHAPE[4, 4], np.float64), quantised(SHAPE[4, 4])
    missing = block_at(15, 20)
    missing[0][15:20, 26] = 0.0  # the block's last column (5 cells) is gone
    missing[1][15:20, 26] = 0
    recoloured = block_at(15, 20)
    recoloured[0][15:20, 20:27, 0] = 0.6  # red 0.2 -> 0.6 in every cell
    table = analyze(synthetic(tmp_path / "error.h5", [block_at(15, 20), missing, recoloured], [(17, 23)])).organisms
    exact = 35 * ((stored - colour) ** 2).sum() / 324  # only the uint8 rounding of 0.3
    assert table.shape_error[0] == pytest.approx(exact, abs=1e-7) and exact < 1e-5  # FFT sums in float32
    absent = (5 * (colour**2).sum() + 30 * ((stored - colour) ** 2).sum()) / 324  # 5 x 1.49 / 324 = 0.0230
    assert table.shape_error[1] == pytest.approx(absent, rel=1e-5) and absent == pytest.approx(0.023, abs=1e-3)
    assert table.iou[1] == pytest.approx(30 / 35)
    red = stored.copy()
    red[0] = quantised(0.6)
    assert table.shape_error[2] == pytest.approx(35 * ((red - colour) ** 2).sum() / 324, rel=1e-5)  # 0.0173
    assert table.iou[2] == 1.0


def test_y_velocity_and_track_of_a_shape_moving_down(tmp_path):
    frames = [block_at(5 + 2 * t, 20) for t in range(8)]  # two rows down per step
    track = analyze(synthetic(tmp_path / "down.h5", frames, [(7, 23)])).organisms
    np.testing.assert_allclose(track.centroid_y, 7 + 2 * np.arange(8))
    np.testing.assert_allclose(track.velocity_y.iloc[1:], 2.0)
    np.testing.assert_allclose(track.velocity_x.iloc[1:], 0.0)
    assert track.top.tolist() == (5 + 2 * np.arange(8)).tolist()
    assert track.bottom.tolist() == (9 + 2 * np.arange(8)).tolist()


def test_an_organism_over_three_times_its_target_area_has_exploded(tmp_path):
    frames = []
    for extra in (5, 6):  # the target holds 35 living cells: 105 is the limit
        state, owner = np.zeros((40, 60, 16), np.float32), np.zeros((40, 60), np.int32)
        state[10:20, 10:20, 3], owner[10:20, 10:20] = 1.0, 1
        state[20, 10 : 10 + extra, 3], owner[20, 10 : 10 + extra] = 1.0, 1
        frames.append((state, owner))
    table = analyze(synthetic(tmp_path / "big.h5", frames, [(15, 15)])).organisms
    assert table.alive.tolist() == [105, 106] and table.exploded.tolist() == [False, True]


def test_identity_purity_is_the_fraction_of_cells_nearest_their_own_identity(tmp_path):
    rule = Rule.random(RuleSpec(hidden=8, identity_channels=1), seed=0)
    rule = Rule(rule.spec, rule.w1, rule.b1, rule.w2, rule.b2, target=SHAPE)
    state, owner = block_at(10, 10)
    state, owner = block_at(10, 30, state=state, owner=owner, index=2)
    state[10:15, 10:17, 15] = 1.0  # o1 (identity 1): 30 cells at 1.0, a column of 5 at 0.2 (nearer o2's 0)
    state[10:15, 16, 15] = 0.2
    state[10:15, 30:37, 15] = 0.0  # o2 (identity 0): 28 cells at 0.0, a row of 7 at 0.9 (nearer o1's 1)
    state[12, 30:37, 15] = 0.9
    path = synthetic(tmp_path / "identity.h5", [(state, owner)], [(12, 13), (12, 33)], rule=rule,
                     channels=(0, 1, 2, 3, 15), identities=[1.0, 0.0])
    table = analyze(path).organisms
    assert table.identity_purity.tolist() == pytest.approx([30 / 35, 28 / 35])


L_SHAPE = np.zeros((9, 9, 4), np.float32)
L_SHAPE[1:8, 2:4] = (0.2, 0.4, 0.6, 1.0)  # a 7-high bar ...
L_SHAPE[6:8, 4:7] = (0.2, 0.4, 0.6, 1.0)  # ... with a foot to the right: no right-angle turn maps it on itself


def test_rotations_find_a_turned_shape(tmp_path):
    turned = np.rot90(L_SHAPE, 1)  # a quarter turn counter-clockwise
    state, owner = np.zeros((40, 60, 16), np.float32), np.zeros((40, 60), np.int32)
    state[10:19, 20:29, :4] = turned
    owner[10:19, 20:29] = np.where(turned[..., 3] > 0, 1, 0)
    path = synthetic(tmp_path / "turned.h5", [(state, owner)], [(14, 24)], rule=species(L_SHAPE))
    plain, turns = analyze(path).organisms.iloc[0], analyze(path, rotations=True).organisms.iloc[0]
    assert turns.shape_error == pytest.approx(0.0, abs=1e-6) and turns.iou == 1.0 and turns.rotation == 1
    organism = np.where(owner[10:19, 20:29, None] > 0, quantised(turned), 0)
    assert plain.shape_error == pytest.approx(brute_force_error(organism, L_SHAPE), rel=1e-5)
    assert plain.shape_error > 0.05 and plain.rotation == 0


def brute_force_error(organism: np.ndarray, target: np.ndarray) -> float:
    """The aligned error with plain loops: every placement of the target's frame against the
    organism image, squared differences inside, the organism's squares outside, / (4 h w)."""
    h, w = target.shape[:2]
    big_h, big_w = organism.shape[:2]
    best = np.inf
    for top in range(-h, big_h + 1):
        for left in range(-w, big_w + 1):
            canvas = np.zeros((big_h + 2 * h, big_w + 2 * w, 4))
            canvas[h : h + big_h, w : w + big_w] = organism
            window = canvas[top + h : top + 2 * h, left + w : left + 2 * w].copy()
            outside = (canvas**2).sum() - (window**2).sum()
            best = min(best, (((window - target) ** 2).sum() + outside) / (4 * h * w))
    return best


# ---------------------------------------------------------------- what a damage event hit

def test_a_viewer_cut_is_credited_only_to_the_organism_that_lost_cells(tmp_path):
    frames = []
    for t in range(30):
        state, owner = block_at(10, 10)
        state, owner = block_at(10, 40, state=state, owner=owner, index=2)
        if 10 <= t < 16:  # o1's last two columns are cut at step 10 and are back at step 16
            state[10:15, 15:17] = 0.0
            owner[10:15, 15:17] = 0
        frames.append((state, owner))
    viewer_cut = CutCircle(kind="cut_circle", step=10, center=(12, 16), radius=2.5)  # no organism named
    missed = CutCircle(kind="cut_circle", step=20, center=(35, 55), radius=2)  # nobody there
    result = analyze(synthetic(tmp_path / "viewer.h5", frames, [(12, 13), (12, 43)],
                               events=[(10, viewer_cut, {"killed": 10}, "viewer"),
                                       (20, missed, {"killed": 0}, "viewer")]))
    assert result.regeneration.name.tolist() == ["o1"] and result.regeneration.regrowth_steps.tolist() == [6]
    summary = result.summary()
    assert summary.count("regrown") == 1 and "on o1: " in summary and "on o2" not in summary


def test_a_drag_cut_over_several_steps_is_one_episode_on_the_organism_it_crossed(tmp_path):
    frames = []
    for t in range(30):
        state, owner = block_at(10, 10)
        state, owner = block_at(10, 40, state=state, owner=owner, index=2)
        gone = 0 if t < 10 else 3 - max(0, t - 16) if t < 19 else 0  # columns 14, 15, 16 cut at 10, 11, 12 ...
        cut = min(gone, t - 9) if t < 13 else gone  # ... and grown back one a step from step 17 on
        state[10:15, 17 - cut : 17] = 0.0
        owner[10:15, 17 - cut : 17] = 0
        frames.append((state, owner))
    drag = [(10 + i, CutCircle(kind="cut_circle", step=10 + i, center=(12, 16 - i), radius=0.5), {"killed": 1},
             "viewer") for i in range(3)]
    result = analyze(synthetic(tmp_path / "drag.h5", frames, [(12, 13), (12, 43)], events=drag))
    assert len(result.regeneration) == 1  # not one line per step of the drag, and none for o2
    row = result.regeneration.iloc[0]
    assert row.step == 10 and row["name"] == "o1" and row.regrowth_steps == 19 - 12  # whole again at 19
    assert row.error_after_cut == pytest.approx(15 * float((SHAPE[4, 4] ** 2).sum()) / 324, rel=1e-3)


def test_an_organism_before_its_spawn_has_no_measures_and_a_dead_one_no_box(tmp_path):
    frames = [block_at(10, 40, index=2, state=block_at(10, 10)[0], owner=block_at(10, 10)[1]) if t >= 3
              else block_at(10, 10) for t in range(5)]
    frames.append((np.zeros_like(frames[0][0]), np.zeros_like(frames[0][1])))  # both gone at step 5
    table = analyze(synthetic(tmp_path / "late.h5", frames, [(12, 13), (12, 43)], spawn_steps=[0, 3])).organisms
    late = table[table.organism == 2].set_index("step")
    for column in ("alive", "mass", "centroid_y", "top", "bottom", "shape_error", "iou", "debris_cells"):
        assert late.loc[:2, column].isna().all(), column  # not iou 0.0 and a box of -1
    assert late.alive.loc[3] == 35 and late.top.loc[3] == 10 and late.iou.loc[3] == 1.0
    assert late.alive.loc[5] == 0 and late.iou.loc[5] == 0.0 and pd.isna(late.top.loc[5]) and late.collapsed.loc[5]
    assert not late.collapsed.loc[:4].any()


# ---------------------------------------------------------------- recordings with nothing in them

def test_a_recording_killed_before_its_first_flush_gives_empty_tables(tmp_path, capsys):
    world = World(40, 60, species={"block": species()})
    world.spawn("o1", "block", (12, 13))
    world.step_count = 1  # no keyframe (it would flush)
    recorder = Recorder(tmp_path / "killed.h5", world, scenario_text="", channels=[0, 1, 2, 3],
                        keyframe_every=1000, flush_every=1000)
    recorder.event(record_of(Spawn(kind="spawn", step=1, name="o1", species="block", position=(12, 13)), 1,
                             {"index": 1}, "scenario"))
    for _ in range(3):
        recorder.observe(world)  # frames wait for a flush that never comes
        world.step_count += 1
    recorder.file.flush()
    result = analyze(tmp_path / "killed.h5")
    assert len(result.organisms) == 0 and len(result.paper) == 0 and len(result.regeneration) == 0
    assert "velocity_y" in result.organisms and str(result.organisms.alive.dtype) == "Int64"
    assert "nothing to analyse" in result.summary()
    assert main(["analyze", str(tmp_path / "killed.h5"), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "organisms.csv").read_text().startswith("step,organism,name,alive")
    recorder.close(complete=False)


def test_an_empty_world_gives_empty_organism_tables(tmp_path):
    frames = [(np.zeros((40, 60, 16), np.float32), np.zeros((40, 60), np.int32))] * 3
    result = analyze(synthetic(tmp_path / "empty.h5", frames, []))
    assert len(result.organisms) == 0 and result.paper.step.tolist() == [0, 1, 2]
    assert result.paper.box_top.isna().all() and result.paper.box_shift.isna().all()
    assert main(["analyze", str(tmp_path / "empty.h5"), "--out", str(tmp_path / "report")]) == 0


# ---------------------------------------------------------------- the command line refuses before working

@pytest.fixture
def moving(tmp_path) -> Path:
    return synthetic(tmp_path / "move.h5", [block_at(15, 10 + t) for t in range(4)], [(17, 13)])


@pytest.mark.parametrize("arguments, message", [
    (["--video", "x.avi"], "x.avi: --video: expected a file ending in .gif or .mp4, got '.avi'"),
    (["--video", "noext"], "noext: --video: expected a file ending in .gif or .mp4, got 'no suffix'"),
    (["--out", "{tmp}/a-file.txt"], "a-file.txt: --out: expected a folder (or a new name), got an existing file"),
    (["--video", "a-file.txt/v.gif"], "v.gif: --video: expected a path through folders, got a file on the way"),
    (["--view", "identity", "--video", "v.gif"], "move.h5: --view: expected one of ['rgb', 'alpha', 'owner']"),
    (["--view", "hidden"], "got 'hidden'"),
])
def test_bad_outputs_are_refused_before_the_analysis(moving, tmp_path, capsys, monkeypatch, arguments, message):
    (tmp_path / "a-file.txt").write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(analysis_module, "_measure_frame", lambda *a: calls.append(a))
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    assert main(["analyze", str(moving), "--out", str(tmp_path / "report"), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nca-world: error: ") and message in err and "Traceback" not in err, err
    assert not calls and not (tmp_path / "report").exists()  # refused before any work
    assert not list(tmp_path.glob("*.avi")) and not list(tmp_path.glob("*.gif"))


def test_the_video_lands_where_the_user_asked(moving, tmp_path, monkeypatch, capsys):
    here = tmp_path / "somewhere"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["analyze", str(moving), "--out", str(tmp_path / "report"), "--video", "demo.gif",
                 "--view", "owner"]) == 0
    assert (here / "demo.gif").stat().st_size > 0
    assert not (tmp_path / "report" / "demo.gif").exists() and not (tmp_path / "demo.gif").exists()
    assert "and demo.gif" in capsys.readouterr().out


def test_gif_frames_last_one_over_fps_seconds_in_milliseconds(moving, tmp_path):
    from PIL import Image

    from nca_world.sim.figures import export_video
    from nca_world.sim.recording import open_recording

    with open_recording(moving) as recording:
        export_video(recording, tmp_path / "slow.gif", fps=10)
    with Image.open(tmp_path / "slow.gif") as gif:
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
        assert durations == [100] * 4 and gif.info.get("loop") == 0  # imageio takes ms: was 1/fps, i.e. 0 ms


def test_montage_frames_are_the_true_ones_around_an_event():
    from nca_world.sim.figures import montage_index

    steps = np.arange(0, 400, 5)  # a frame every 5 steps; an event at step 250 shows in frame 250
    assert steps[montage_index(steps, 250, -1)] == 245  # before: the last frame before the event
    assert steps[montage_index(steps, 250, 0)] == 250
    assert steps[montage_index(steps, 250, 22)] == 275  # the first frame at or after
    assert steps[montage_index(steps, 3, -10)] == 0 and steps[montage_index(steps, 390, 50)] == 395  # clipped


def test_video_frames_are_zoomed_and_carry_their_step(moving, tmp_path):
    from PIL import Image

    from nca_world.sim.figures import export_video
    from nca_world.sim.recording import open_recording

    with open_recording(moving) as recording:
        height, width = recording.height, recording.width
        export_video(recording, tmp_path / "big.gif", scale=3)
        first_frame = np.asarray(Image.open(tmp_path / "big.gif").convert("RGB"))
    assert first_frame.shape == (height * 3 + 16, width * 3, 3)
    band = first_frame[height * 3:]
    assert (band < 128).any(axis=2).sum() > 10  # "step N" is written under the frame

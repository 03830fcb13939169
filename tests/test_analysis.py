"""Analysis on synthetic recordings with known answers, and on a real bundled scenario."""

from pathlib import Path

import numpy as np
import pytest

from agents.errors import RecordingError
from agents.spec import Rule, RuleSpec
from sim import analysis as analysis_module
from sim.analysis import analyze, contact_lengths
from sim.cli import main
from sim.events import record_of
from sim.recorder import Recorder
from sim.scenario import CutCircle, Spawn
from sim.world import World

SHAPE = np.zeros((9, 9, 4), np.float32)
SHAPE[2:7, 1:8] = (0.2, 0.6, 0.3, 1.0)  # a 5x7 green block in a 9x9 target frame


def species(target: np.ndarray = SHAPE) -> Rule:
    rule = Rule.random(RuleSpec(hidden=8), seed=0)
    return Rule(rule.spec, rule.w1, rule.b1, rule.w2, rule.b2, target=target)


def synthetic(path: Path, frames, positions, events=(), size=(40, 60)) -> Path:
    """A recording of the given (state, owner) frames at steps 0, 1, ...; organisms spawned at
    `positions` (their seed cells), `events` logged as (step, event) pairs."""
    world = World(*size, species={"block": species()})
    for k, position in enumerate(positions, start=1):
        world.spawn(f"o{k}", "block", position)
    with Recorder(path, world, scenario_text="", channels=[0, 1, 2, 3], keyframe_every=1000) as recorder:
        for k, position in enumerate(positions, start=1):
            spawn = Spawn(kind="spawn", step=0, name=f"o{k}", species="block", position=position)
            recorder.event(record_of(spawn, 0, {"index": k}, "scenario"))
        for step, (state, owner) in enumerate(frames):
            world.step_count = step
            for when, event in events:
                if when == step:
                    recorder.event(record_of(event, step, {}, "scenario"))
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
    from agents.modelfile import save_rule

    save_rule(species(), tmp_path / "model.h5")
    with pytest.raises(RecordingError, match="format: expected 'nca-world-recording'"):
        analyze(tmp_path / "model.h5")


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_video_export_in_a_viewer_view(tmp_path, suffix):
    import imageio.v3 as iio

    from sim.figures import export_video
    from sim.recorder import open_recording

    path = synthetic(tmp_path / "move.h5", [block_at(15, 10 + t) for t in range(6)], [(17, 13)])
    with open_recording(path) as recording:
        video = export_video(recording, tmp_path / f"move{suffix}", view="owner", scale=2)
    frames = iio.imread(video)
    assert len(frames) == 6 and frames.shape[1:3] == ((80, 120) if suffix == ".gif" else (80, 128))
    assert tuple(frames[0][17 * 2, 13 * 2][:3]) == pytest.approx((230, 159, 0), abs=40)  # organism 1's colour

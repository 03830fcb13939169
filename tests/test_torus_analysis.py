"""Analysis on a torus: an organism planted across both edges (top/bottom and left/right at once)
gets every measure of the same organism in the middle of the grid, up to the translation."""

from pathlib import Path

import numpy as np
import pytest

from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.analysis import analyze, contact_lengths, largest_component
from nca_world.sim.events import record_of
from nca_world.sim.recorder import Recorder
from nca_world.sim.scenario_events import CutCircle, Spawn
from nca_world.sim.world import World

H, W = 40, 60  # height != width, so a swapped modulus shows
TORUS = f'[world]\nheight = {H}\nwidth = {W}\nboundary = "wrap"\n'
COLOUR = (0.2, 0.6, 0.4, 1.0)  # exact in uint8 (51, 153, 102, 255), so aligned errors are exactly 0
SHAPE = np.zeros((9, 9, 4), np.float32)
SHAPE[2:7, 1:8] = COLOUR  # a 5 x 7 block in a 9 x 9 target frame: seed cell 2 rows below its top, 3 right of its left


def species(identity_channels: int = 0) -> Rule:
    rule = Rule.random(RuleSpec(hidden=8, identity_channels=identity_channels), seed=0)
    return Rule(rule.spec, rule.w1, rule.b1, rule.w2, rule.b2, target=SHAPE)


def recording(path: Path, frames, positions, events=(), scenario: str = TORUS, *, identities=None) -> Path:
    """A recording of (state, owner) frames at steps 0, 1, ... of a 40 x 60 world, organisms
    spawned at step 0 at `positions` (with `identities`, recorded in channel 15, if given),
    `events` logged as (step, event, effect)."""
    identity = identities is not None
    identities = identities or [None] * len(positions)
    world = World(H, W, species={"block": species(1 if identity else 0)},
                  boundary="wrap" if "wrap" in scenario else "zero")
    for k, position in enumerate(positions, start=1):
        world.spawn(f"o{k}", "block", position, identities[k - 1])
    channels = [0, 1, 2, 3, 15] if identity else [0, 1, 2, 3]
    with Recorder(path, world, scenario_text=scenario, channels=channels, keyframe_every=1000) as recorder:
        for k, position in enumerate(positions, start=1):
            spawn = Spawn(kind="spawn", step=0, name=f"o{k}", species="block", position=position,
                          identity=identities[k - 1])
            recorder.event(record_of(spawn, 0, {"index": k}, "scenario"))
        for step, (state, owner) in enumerate(frames):
            world.step_count = step
            for when, event, effect in events:
                if when == step:
                    recorder.event(record_of(event, step, effect, "viewer"))
            world.state[:] = state
            world.owner[:] = owner
            recorder.observe(world)
    return path


def empty():
    return np.zeros((H, W, 16), np.float32), np.zeros((H, W), np.int32)


def plant(frame, top: int, left: int, index: int):
    """The 5 x 7 block of organism `index` with its top-left cell at (top, left), wrapped."""
    state, owner = frame
    rows, columns = np.arange(top, top + 5) % H, np.arange(left, left + 7) % W
    rows_, columns_ = np.ix_(rows, columns)
    state[rows_, columns_, :4] = COLOUR
    owner[np.ix_(rows, columns)] = index
    return state, owner


def test_every_measure_across_both_edges_equals_the_same_block_in_the_middle(tmp_path):
    # o1 walks diagonally in the middle; o2 walks the same way across the bottom-right corner
    frames = [plant(plant(empty(), 10 + t, 15 + t, 1), 36 + t, 55 + t, 2) for t in range(6)]
    result = analyze(recording(tmp_path / "corner.h5", frames, [(12, 18), (38, 58)]))
    table = result.organisms
    middle, corner = table[table.organism == 1].reset_index(), table[table.organism == 2].reset_index()
    t = np.arange(6)
    np.testing.assert_allclose(middle.centroid_y, 12 + t)
    np.testing.assert_allclose(middle.centroid_x, 18 + t)
    np.testing.assert_allclose(corner.centroid_y, (38 + t) % H)  # 38, 39, 0, 1, 2, 3
    np.testing.assert_allclose(corner.centroid_x, (58 + t) % W)  # 58, 59, 0, 1, 2, 3
    assert corner.top.tolist() == ((36 + t) % H).tolist() and corner.left.tolist() == ((55 + t) % W).tolist()
    assert (corner.bottom - corner.top).eq(4).all() and (corner.right - corner.left).eq(6).all()  # 5 x 7 boxes
    for frame in (middle, corner):
        assert frame.alive.eq(35).all() and frame.debris_cells.eq(0).all() and not frame.debris.any()
        np.testing.assert_allclose(frame.mass, 35.0)
        np.testing.assert_allclose(frame.shape_error, 0.0, atol=1e-6)
        np.testing.assert_allclose(frame.iou, 1.0)
        np.testing.assert_allclose(frame.velocity_y.iloc[1:], 1.0)  # not -39 when it crosses the edge
        np.testing.assert_allclose(frame.velocity_x.iloc[1:], 1.0)  # not -59
        np.testing.assert_allclose(frame.track_y - frame.track_y.iloc[0], t)
    assert result.paper.ideal_mse.iloc[0] == pytest.approx(0.0, abs=1e-9)  # the ideal image wraps too
    lines = result.summary().splitlines()
    assert lines[1].split()[:5] == ["o1", "35", "0.0000", "1.00", "7.1"]  # moved hypot(5, 5)
    assert lines[2].split()[:5] == ["o2", "35", "0.0000", "1.00", "7.1"]  # not 80-odd


def test_the_box_of_all_living_cells_and_its_shift_across_the_edges(tmp_path):
    frames = [plant(empty(), 37 + t, 56 + t, 1) for t in range(4)]
    paper = analyze(recording(tmp_path / "box.h5", frames, [(39, 59)])).paper
    assert paper.box_top.tolist() == [37, 38, 39, 0] and paper.box_left.tolist() == [56, 57, 58, 59]
    assert (paper.box_bottom - paper.box_top).eq(4).all() and (paper.box_right - paper.box_left).eq(6).all()
    np.testing.assert_allclose(paper.box_shift.iloc[1:], np.sqrt(2))  # not 39 when the box wraps


def test_on_a_zero_boundary_world_the_same_cells_are_split(tmp_path):
    """The same frame read as a plain grid: the old numbers (the torus ones are not applied)."""
    frames = [plant(empty(), 38, 57, 1)]
    row = analyze(recording(tmp_path / "plain.h5", frames, [(0, 0)], scenario="")).organisms.iloc[0]
    assert row.centroid_y == pytest.approx(16.0) and row.top == 0 and row.bottom == 39
    assert row.debris_cells == 35 - 12  # four pieces: the largest is the 3 x 4 one at the top left
    wrapped = analyze(tmp_path / "plain.h5", boundary="wrap").organisms.iloc[0]  # told it is a torus
    assert wrapped.centroid_y == 0.0 and wrapped.debris_cells == 0


def test_contacts_across_the_edges():
    owner = np.zeros((H, W), np.int32)
    owner[10:15, 55:60] = 1  # touching organism 2 across the left/right edge along 5 rows
    owner[10:15, 0:3] = 2
    owner[0, 20:24] = 3  # and organism 4 across the top/bottom edge along 4 columns
    owner[39, 20:24] = 4
    assert contact_lengths(owner) == {}
    assert contact_lengths(owner, wrap=True) == {(1, 2): 5, (3, 4): 4}


def test_debris_joins_up_across_a_seam_when_the_body_goes_all_the_way_round():
    body = np.zeros((H, 5), bool)
    body[0:20, 1] = True  # piece A, with an arm along row 0 to column 3
    body[0, 1:4] = True
    body[20:40, 3] = True  # piece B: touches A only across the bottom/top seam, at (39, 3) - (0, 3)
    assert largest_component(body) == 22
    assert largest_component(body, wrap_rows=True) == 42
    band = np.zeros((4, W), bool)
    band[1, :] = True
    band[3, [0, W - 1]] = True  # two cells that touch each other only across the left/right seam
    assert largest_component(band[2:]) == 1 and largest_component(band[2:], wrap_columns=True) == 2
    assert largest_component(band, wrap_columns=True) == W  # row 3 touches row 1 only if rows wrap too
    assert largest_component(band, wrap_columns=True, wrap_rows=True) == W  # rows 3 and 1 are 2 apart
    band[0, 5] = True  # row 0 touches row 3 across the top/bottom seam, and the corner (3, 59) - (0, 0)
    band[0, 0] = True
    assert largest_component(band, wrap_rows=True) == W + 2 + 1 and largest_component(band) == W + 2
    assert largest_component(band, wrap_rows=True, wrap_columns=True) == W + 4


def test_a_cut_across_the_corner_is_credited_to_the_organism_it_hit_only(tmp_path):
    """A viewer cut (no organism named) at the corner of a torus hits o2 across the edges."""
    frames = []
    for t in range(20):
        frame = plant(plant(empty(), 10, 15, 1), 38, 57, 2)  # o2: rows 38, 39, 0, 1, 2; columns 57 .. 63
        if 5 <= t < 13:  # o2's cells within 1.5 of (0, 0) are gone, and come back at step 13
            state, owner = frame
            for y, x in [(39, 59), (39, 0), (39, 1), (0, 59), (0, 0), (0, 1), (1, 59), (1, 0), (1, 1)]:
                state[y, x] = 0.0
                owner[y, x] = 0
        frames.append(frame)
    cut = CutCircle(kind="cut_circle", step=5, center=(0, 0), radius=1.5)
    result = analyze(recording(tmp_path / "cut.h5", frames, [(12, 18), (0, 0)],
                               events=[(5, cut, {"killed": 9})]))
    assert result.regeneration.name.tolist() == ["o2"]  # not o1, which it never touched
    row = result.regeneration.iloc[0]
    assert row.regrowth_steps == 8 and row.error_before == pytest.approx(0.0, abs=1e-6)
    assert row.error_after_cut == pytest.approx(9 * sum(v * v for v in COLOUR) / (4 * 81), rel=1e-5)
    assert "regrown in 8 steps" in result.summary() and result.summary().count("regrown") == 1


def test_a_ragged_organism_rolled_across_both_edges_keeps_every_measure(tmp_path):
    """Body, debris and identity values in the middle, and the same frame rolled by (23, 38) so
    that the body straddles both corners' edges: every measure agrees, the centroid moves by the roll."""
    state, owner = plant(empty(), 15, 20, 1)
    state[15:17, 26, :4], owner[15:17, 26] = 0.0, 0  # a notch in the body
    state[25:27, 35:38, :4], owner[25:27, 35:38] = COLOUR, 1  # 6 cells of debris
    state[..., 15] = np.where(owner == 1, 1.0, 0.0)
    state[17, 20:24, 15] = 0.1  # 4 cells whose identity is nearer another organism's 0.0
    frames = [(state, owner), (np.roll(state, (23, 38), (0, 1)), np.roll(owner, (23, 38), (0, 1)))]
    middle = analyze(recording(tmp_path / "middle.h5", frames[:1], [(17, 23), (5, 5)], identities=[1.0, 0.0]))
    corner = analyze(recording(tmp_path / "corner.h5", frames[1:], [(0, 1), (5, 5)], identities=[1.0, 0.0]))
    a, b = middle.organisms.iloc[0], corner.organisms.iloc[0]
    assert b.top == 38 and b.left == 58 and b.bottom - b.top == a.bottom - a.top == 11  # rows 15 .. 26
    assert b.right - b.left == a.right - a.left == 17  # columns 20 .. 37
    assert a.debris_cells == b.debris_cells == 6 and a.debris and b.debris
    assert a.alive == b.alive == 35 - 2 + 6 and a.mass == b.mass
    assert a.identity_purity == b.identity_purity == pytest.approx((39 - 4) / 39)
    assert a.shape_error == pytest.approx(b.shape_error, abs=1e-7) and a.iou == b.iou
    assert a.shape_error == pytest.approx((2 + 6) * sum(v * v for v in COLOUR) / (4 * 81), rel=1e-5)  # notch + debris
    assert (b.centroid_y, b.centroid_x) == pytest.approx(((a.centroid_y + 23) % H, (a.centroid_x + 38) % W))
    assert (a.centroid_y, a.centroid_x) == pytest.approx(((35 * 17 - 15 - 16 + 3 * 25 + 3 * 26) / 39,  # 18.38
                                                          (35 * 23 - 2 * 26 + 2 * (35 + 36 + 37)) / 39))  # 24.85

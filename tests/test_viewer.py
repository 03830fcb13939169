"""The viewer under SDL's dummy video driver, driven by real pygame events on the queue."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import numpy as np
import pygame
import pytest
from PIL import Image

from nca_world.sim.cli import main
from nca_world.sim.recording import open_recording
from nca_world.sim.render import organism_colour
from nca_world.sim.runner import Run, build_world, restore_at, run_scenario
from nca_world.sim.scenario import load_scenario
from nca_world.sim.viewer import Viewer
from nca_world.sim.viewer_sources import LiveSource, ReplaySource

ZOOM = 4


@pytest.fixture
def live(scenario_dir):
    scenario = load_scenario(scenario_dir / "base.toml")
    source = LiveSource(Run(scenario, build_world(scenario), None), record_to=scenario_dir / "live.h5")
    viewer = Viewer(source, zoom=ZOOM, screenshot_dir=scenario_dir)
    viewer.state.paused = True
    source.advance(8)  # organism "a" has grown a little; "b" spawns at step 5
    yield viewer
    viewer.close()


def key(code, text=""):
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=code, unicode=text, mod=0))


def mouse(kind, cell, button=1):
    position = (cell[1] * ZOOM + 1, cell[0] * ZOOM + 1)
    if kind == "motion":
        pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=position, rel=(0, 0), buttons=(0, 0, 0)))
    else:
        event = pygame.MOUSEBUTTONDOWN if kind == "down" else pygame.MOUSEBUTTONUP
        pygame.event.post(pygame.event.Event(event, pos=position, button=button))


def test_pause_and_single_step(live):
    start = live.source.step
    live.run(max_frames=3)
    assert live.source.step == start  # paused
    key(pygame.K_PERIOD, ".")
    live.run(max_frames=1)
    assert live.source.step == start + 1
    key(pygame.K_SPACE, " ")
    live.state.speed = 3  # one step a frame
    live.run(max_frames=4)
    assert live.source.step == start + 1 + 4 and not live.state.paused


def test_brush_damage_kills_the_cells_inside_the_brush(live):
    world = live.source.world
    assert world.owner[16, 16] > 0
    live.state.brush = 3
    mouse("down", (16, 16))
    mouse("up", (16, 16))
    live.run(max_frames=1)
    yy, xx = np.mgrid[: world.height, : world.width]
    disc = (yy - 16) ** 2 + (xx - 16) ** 2 <= 9
    assert not world.owner[disc].any() and not world.state[disc].any()


def test_a_paused_viewer_counts_again_after_a_cut(live):
    """Counts and labels are kept while nothing changes (a paused frame drawn again), and redone
    after a cut at the same step."""
    world = live.source.world
    live.state.labels = True
    live.run(max_frames=2)
    counted = dict((name, cells) for _, name, cells in live.source.organisms())
    assert counted["a"] == int((world.owner == world.organism("a").index).sum()) > 0
    version = live.source.version
    live.run(max_frames=1)
    assert live.source.version == version  # nothing happened: the counts are reused
    live.state.brush = 3
    mouse("down", (16, 16))
    mouse("up", (16, 16))
    live.run(max_frames=1)
    assert live.source.version != version and live.source.step == version[0]  # same step, a new event
    after = dict((name, cells) for _, name, cells in live.source.organisms())
    assert after["a"] == int((world.owner == world.organism("a").index).sum()) < counted["a"]


def test_spawn_and_right_drag_move(live):
    world = live.source.world
    mouse("motion", (40, 10))
    key(pygame.K_s, "s")
    live.run(max_frames=1)
    spawned = world.organisms[-1]
    assert spawned.name == "g-1" and world.owner[40, 10] == spawned.index
    before = world.mask("a").copy()
    mouse("down", (16, 16), button=3)
    mouse("motion", (18, 21))
    mouse("up", (18, 21), button=3)
    live.run(max_frames=1)
    np.testing.assert_array_equal(world.mask("a"), np.roll(np.roll(before, 2, 0), 5, 1))


def test_view_switching_and_a_screenshot_in_organism_colours(live, scenario_dir):
    views = []
    for _ in range(5):
        views.append(live.state.view)
        key(pygame.K_v, "v")
        live.run(max_frames=1)
    assert views == ["rgb", "alpha", "owner", "hidden", "rgb"]
    key(pygame.K_v, "v")  # alpha -> owner
    live.run(max_frames=1)
    assert live.state.view == "owner"
    live.state.labels = False  # names would cover cells of the grid checked below
    key(pygame.K_F12)
    live.run(max_frames=1)
    shots = list(scenario_dir.glob("nca-world-step*.png"))
    assert len(shots) == 1
    image = np.asarray(Image.open(shots[0]).convert("RGB"))
    owner = live.source.world.owner
    height, width = owner.shape
    assert image.shape[:2] == live.surface.get_size()[::-1]  # the whole window: grid and status line
    assert image.shape[0] > height * ZOOM and image.shape[1] == width * ZOOM
    grid = image[: height * ZOOM : ZOOM, ::ZOOM]  # one pixel per cell
    assert (grid[owner == 1] == organism_colour(1)).all()
    assert (grid[owner == 0] == (255, 255, 255)).all()
    status = image[height * ZOOM :]
    assert (status != status[0, 0]).any(2).sum() > 50  # the status line has text
    key(pygame.K_F12)
    live.run(max_frames=1)
    assert len(list(scenario_dir.glob("nca-world-step*.png"))) == 2  # a second shot of a step: a new file


def test_a_recorded_live_session_replays_to_the_same_state(live, scenario_dir):
    key(pygame.K_r, "r")
    live.run(max_frames=1)
    live.state.brush = 2
    mouse("down", (16, 18))
    mouse("up", (16, 18))
    mouse("motion", (5, 50))
    key(pygame.K_s, "s")
    live.state.paused = False
    live.state.speed = 4  # two steps a frame
    live.run(max_frames=6)
    mouse("down", (32, 48), button=3)
    mouse("motion", (30, 44))
    mouse("up", (30, 44), button=3)
    live.run(max_frames=3)
    key(pygame.K_SPACE, " ")  # pause, so the world stays where the recording stops
    key(pygame.K_r, "r")
    live.run(max_frames=1)
    world = live.source.world
    with open_recording(scenario_dir / "live.h5") as recording:
        assert recording.complete
        sources = [r["source"] for r in recording.events]
        assert sources.count("viewer") >= 3
        assert int(recording.steps[-1]) == world.step_count
        replayed = restore_at(recording, world.step_count).world
    np.testing.assert_array_equal(replayed.state, world.state)
    np.testing.assert_array_equal(replayed.owner, world.owner)


def test_replay_seeks_steps_back_and_shows_event_marks(scenario_dir):
    summary = run_scenario(load_scenario(scenario_dir / "base.toml"), out=scenario_dir / "r.h5", progress=False)
    with Viewer(ReplaySource(open_recording(summary.recording)), zoom=ZOOM) as viewer:
        viewer.state.paused = True
        width = viewer.surface.get_width()
        timeline_y = 48 * ZOOM + 40 + 5
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(width // 2, timeline_y), button=1))
        viewer.run(max_frames=1)
        assert viewer.source.step == 20
        key(pygame.K_COMMA, ",")
        viewer.run(max_frames=1)
        assert viewer.source.step == 19
        assert 12 in viewer.source.event_steps
        image = Viewer.draw(viewer)
        assert image is None  # drawn to the (dummy) window


def test_rgb_array_mode_returns_the_picture(live):
    live.render_mode = "rgb_array"
    live.screen = None
    image = live.draw()
    assert image.shape == (48 * ZOOM + 40, 64 * ZOOM, 3)
    assert (image[16 * ZOOM, 16 * ZOOM] != 255).any()  # the organism is not background


def test_missing_and_corrupt_files_give_a_clear_message(tmp_path, capsys):
    assert main(["view", str(tmp_path / "nope.h5")]) == 2
    assert "no such recording" in capsys.readouterr().err
    (tmp_path / "bad.h5").write_text("garbage")
    assert main(["view", str(tmp_path / "bad.h5")]) == 2
    assert "not a readable HDF5 recording" in capsys.readouterr().err


def test_view_without_a_display_fails_at_once_and_names_the_headless_commands(scenario_dir, monkeypatch, capsys):
    from nca_world.sim.cli import main

    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["view", str(scenario_dir / "base.toml")]) == 2
    err = capsys.readouterr().err
    assert "view: no display: neither DISPLAY nor WAYLAND_DISPLAY is set" in err
    assert "nca-world run SCENARIO" in err and "--video" in err


def test_recording_onto_an_existing_file_is_refused_in_the_status_line(live, scenario_dir):
    (scenario_dir / "live.h5").write_text("my notes")
    message = live.source.toggle_recording()
    assert message.startswith("cannot record: ") and not live.source.recording
    assert (scenario_dir / "live.h5").read_text() == "my notes"


def test_view_refuses_an_existing_record_to_before_opening(scenario_dir, capsys):
    from nca_world.sim.cli import main

    (scenario_dir / "kept.h5").write_text("kept")
    assert main(["view", str(scenario_dir / "base.toml"), "--record-to", str(scenario_dir / "kept.h5")]) == 2
    assert "--record-to: expected a new file" in capsys.readouterr().err


def test_names_are_drawn_at_the_organisms_and_l_hides_them(scenario_dir):
    scenario = load_scenario(scenario_dir / "base.toml")
    source = LiveSource(Run(scenario, build_world(scenario), None))
    source.advance(10)
    viewer = Viewer(source, zoom=ZOOM, render_mode="rgb_array")
    labelled = viewer.draw()
    viewer.handle(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_l, unicode="l", mod=0))
    plain = viewer.draw()
    viewer.close()
    height = 48 * ZOOM
    changed = (labelled[:height] != plain[:height]).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 20  # text drawn, and only where names are: around a (16, 16) and b (32, 48)
    near_a = (np.abs(ys / ZOOM - 16) < 6) & (np.abs(xs / ZOOM - 16) < 10)
    near_b = (np.abs(ys / ZOOM - 32) < 6) & (np.abs(xs / ZOOM - 48) < 10)
    assert near_a.any() and near_b.any() and (near_a | near_b).all()
    assert viewer.state.labels is False


def test_the_identity_view_greys_species_without_identity_and_shows_its_scale():
    from nca_world.agents.spec import Rule, RuleSpec
    from nca_world.sim.render import IDENTITY_ABSENT, identity_ramp, render
    from nca_world.sim.world import World

    world = World(20, 30, species={"id": Rule.random(RuleSpec(channels=17, hidden=8, identity_channels=1), seed=1),
                                   "plain": Rule.random(RuleSpec(channels=17, hidden=8), seed=2)}, seed=0)
    world.spawn("marked", "id", (10, 8), identity=0.0)
    world.spawn("unmarked", "plain", (10, 22))

    class Still:  # a run frozen at the spawned state, with no recorder
        def __init__(self) -> None:
            self.world, self.recorder, self.applied_this_step = world, None, 0

    source = LiveSource(Still())
    image = render(source.layers(), "identity")
    assert tuple(image[10, 22]) == IDENTITY_ABSENT  # the species without identity is grey
    assert tuple(image[10, 8]) == tuple(np.rint(identity_ramp(0.0) * 255).astype(int))  # identity 0: blue
    assert tuple(image[0, 0]) == (255, 255, 255)
    viewer = Viewer(source, zoom=ZOOM, render_mode="rgb_array")
    viewer.state.view = "identity"
    drawn = viewer.draw()
    viewer.close()
    status = drawn[:40]  # the scale's box at the top right
    blue, red = np.rint(identity_ramp(0.0) * 255), np.rint(identity_ramp(1.0) * 255)
    assert (status == blue).all(axis=2).sum() >= 10 and (status == red).all(axis=2).sum() >= 10  # the scale

"""The viewer's model picker: library models that fit the world, a pick and a click that seed one
(adding its species), and the session recorded, replayed and forked exactly."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import dataclasses

import numpy as np
import pygame
import pytest

from nca_world.agents import library
from nca_world.agents.modelfile import save_rule
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim import picker_panel
from nca_world.sim.picker import THUMB
from nca_world.sim.recording import open_recording
from nca_world.sim.runner import Run, build_world, fork, restore_at
from nca_world.sim.scenario import load_scenario
from nca_world.sim.viewer import Viewer
from nca_world.sim.viewer_sources import LiveSource, ReplaySource
from tests.test_add_species import late
from tests.test_viewer import ZOOM, key, mouse
from tests.test_world import grower

CELLS = 96  # a grid large enough that the panel shows every row and leaves part of the grid free


@pytest.fixture
def live(scenario_dir, monkeypatch):
    """A live viewer of `base.toml` (16 channels) on a 96x96 grid, with a library of two
    fitting models (`sprout` without a target, `targeted` with one), a 17-channel one (`wide`)
    and an unreadable file."""
    folder = scenario_dir / "lib"
    folder.mkdir()
    save_rule(late(), folder / "sprout.h5")
    red = grower()
    red.w2[0, 0] = 0.2
    grey, black = np.zeros((6, 6, 4), np.float32), np.zeros((6, 6, 4), np.float32)
    grey[..., 3], black[..., 3] = 0.5, 1.0  # black at half opacity (mid-grey over white), and opaque
    save_rule(dataclasses.replace(red, target=grey), folder / "targeted.h5")
    save_rule(dataclasses.replace(Rule.random(RuleSpec(channels=17, hidden=8), seed=0), target=black),
              folder / "wide.h5")
    (folder / "broken.h5").write_text("not a model")
    monkeypatch.setenv("NCA_WORLD_MODEL_PATH", str(folder))
    monkeypatch.setenv("NCA_WORLD_MODELS", str(scenario_dir / "user"))
    monkeypatch.setattr(library, "ZOO", scenario_dir / "no-zoo")
    scenario = load_scenario(scenario_dir / "base.toml", [f"world.width={CELLS}", f"world.height={CELLS}"])
    source = LiveSource(Run(scenario, build_world(scenario), None), record_to=scenario_dir / "live.h5")
    viewer = Viewer(source, zoom=ZOOM, screenshot_dir=scenario_dir)
    viewer.state.paused = True
    source.advance(8)
    yield viewer
    viewer.close()


def choose(viewer, name):
    """Open the picker (m) and click the row of model `name`."""
    if not viewer.state.picking:
        key(pygame.K_m, "m")
        viewer.run(max_frames=1)
    row = [c.name for c in viewer.picker.choices].index(name) - viewer.picker.scroll
    x = picker_panel.left(viewer.surface.get_width()) + 10
    y = picker_panel.HEADER + row * picker_panel.ROW + 5
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, y), button=1))
    viewer.run(max_frames=1)


def click(viewer, cell):
    mouse("down", cell)
    mouse("up", cell)
    viewer.run(max_frames=1)


def test_the_picker_lists_fitting_models_first_and_greys_the_others_with_the_reason(live):
    key(pygame.K_m, "m")
    live.run(max_frames=4)  # a thumbnail a frame
    choices = live.picker.choices
    assert [(c.name, c.fits) for c in choices] == [("sprout", True), ("targeted", True), ("broken", False),
                                                   ("wide", False)]
    assert choices[3].reason == "17 channels, world has 16"
    assert choices[2].reason.startswith("unreadable: ") and "broken.h5" in choices[2].reason
    assert set(live.picker.thumbnails) == {"sprout", "targeted", "wide"}
    assert (live.picker.thumbnails["targeted"] == 128).all()  # its target (alpha 0.5 over white), rounded
    assert live.picker.thumbnails["sprout"].shape == (THUMB, THUMB, 3)
    grown = live.picker.thumbnails["sprout"]
    assert (grown != 255).any(2).mean() > 0.5  # grown (one ring a step) over most of its grid
    image = np.asarray(pygame.surfarray.array3d(live.surface)).transpose(1, 0, 2)
    x0 = picker_panel.left(live.surface.get_width())
    row = picker_panel.HEADER + 3 * picker_panel.ROW + 3
    assert (image[row + THUMB // 2, x0 + 4 + THUMB // 2] == 165).all()  # "wide"'s black target, faded
    choose(live, "wide")
    assert live.picker.chosen is None and live.state.picking and "17 channels, world has 16" in live.state.message


def test_a_pick_and_a_click_add_the_species_and_seed_it_there(live):
    world = live.source.world
    choose(live, "sprout")
    assert live.picker.chosen.name == "sprout" and not live.state.picking  # a fitting choice closes the panel
    click(live, (40, 10))
    assert list(world.rules) == ["g", "sprout"]
    planted = world.organisms[-1]
    assert (planted.name, planted.species) == ("sprout-1", "sprout") and world.owner[40, 10] == planted.index
    live.source.advance(3)
    assert world.mask("sprout-1").sum() > 1  # it grows by its own rule
    click(live, (40, 10))  # one click, one organism: the next click cuts
    assert world.owner[40, 10] == 0 and len(world.organisms) == 3
    choose(live, "sprout")
    click(live, (20, 30))
    assert list(world.rules) == ["g", "sprout"] and world.organisms[-1].name == "sprout-2"  # no second species


def test_a_session_with_picked_species_replays_bit_for_bit(live, scenario_dir):
    choose(live, "sprout")
    click(live, (40, 10))  # added before recording starts: the file holds it in /models
    live.source.advance(2)
    key(pygame.K_r, "r")
    live.run(max_frames=1)
    live.source.advance(3)
    choose(live, "targeted")
    click(live, (10, 40))  # added while recording: embedded as it joins
    live.source.advance(4)
    live.state.brush = 2
    click(live, (40, 12))
    live.source.advance(2)
    key(pygame.K_r, "r")
    live.run(max_frames=1)
    world = live.source.world
    with open_recording(scenario_dir / "live.h5") as recording:
        kinds = [r["event"]["kind"] for r in recording.events if r["source"] == "viewer"]
        assert kinds == ["add_species", "spawn", "cut_circle"]
        assert list(recording.file["models"]) == ["g", "sprout"]  # the world's species when recording started
        assert set(recording.models) == {"g", "sprout", "targeted"}
        replayed = restore_at(recording, world.step_count).world
        assert list(replayed.rules) == ["g", "sprout", "targeted"]
        with Viewer(ReplaySource(recording), zoom=ZOOM) as viewer:  # `nca-world view REC`
            viewer.source.advance(len(recording))
            names = [name for _, name, cells in viewer.source.organisms() if cells]
            assert "sprout-1" in names and "targeted-2" in names  # (numbered by the session's spawns)
            viewer.draw()
    np.testing.assert_array_equal(replayed.state, world.state)
    np.testing.assert_array_equal(replayed.owner, world.owner)


def test_a_live_recording_with_a_species_added_mid_run_forks_to_the_same_frames(live, scenario_dir):
    key(pygame.K_r, "r")
    live.run(max_frames=1)
    start = live.source.step
    live.source.advance(2)
    choose(live, "sprout")
    click(live, (40, 10))
    live.source.advance(12)
    key(pygame.K_r, "r")
    live.run(max_frames=1)
    at = start + 6  # after the addition, before the end
    fork(scenario_dir / "live.h5", at, None, steps=live.source.step, out=scenario_dir / "fork.h5", progress=False)
    with open_recording(scenario_dir / "live.h5") as original, open_recording(scenario_dir / "fork.h5") as forked:
        assert list(forked.steps) == list(original.steps)
        for i in range(len(original)):
            np.testing.assert_array_equal(forked.frame(i), original.frame(i))
            np.testing.assert_array_equal(forked.owner(i), original.owner(i))

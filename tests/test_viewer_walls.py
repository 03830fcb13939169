"""Walls in the viewer (the brush modes, logged and replayed) and in renders (a distinct colour)."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import numpy as np
import pygame

from nca_world.sim.recording import open_recording
from nca_world.sim.render import WALL_COLOUR, render
from nca_world.sim.runner import restore_at
from nca_world.sim.viewer_sources import ReplaySource
from nca_world.sim.viewer_state import BRUSH_MODES
from tests.test_viewer import key, live, mouse  # noqa: F401  (the fixture)


def disc(world, center, radius):
    yy, xx = np.mgrid[: world.height, : world.width]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def test_the_brush_paints_and_erases_walls_and_a_recording_replays_them(live, scenario_dir):  # noqa: F811
    world = live.source.world
    key(pygame.K_r, "r")  # record
    live.run(max_frames=1)
    assert world.owner[16, 16] > 0
    live.state.brush = 3
    key(pygame.K_w, "w")
    live.run(max_frames=1)
    assert BRUSH_MODES[live.state.brush_mode] == "wall"
    mouse("down", (16, 16))
    mouse("up", (16, 16))
    live.run(max_frames=1)
    painted = disc(world, (16, 16), 3)
    np.testing.assert_array_equal(world.walls, painted)
    assert not world.owner[painted].any() and not world.state[painted].any()
    image = live.draw()
    assert image is None or (image[16 * 4 + 1, 16 * 4 + 1] == WALL_COLOUR).all()
    key(pygame.K_w, "w")  # erase-wall: a smaller disc becomes floor again
    live.state.brush = 1
    mouse("down", (16, 16))
    mouse("up", (16, 16))
    live.run(max_frames=1)
    np.testing.assert_array_equal(world.walls, painted & ~disc(world, (16, 16), 1))
    live.state.paused = False
    live.state.speed = 3
    live.run(max_frames=4)
    key(pygame.K_SPACE, " ")
    key(pygame.K_r, "r")  # stop recording
    live.run(max_frames=1)
    assert not world.owner[world.walls].any()
    with open_recording(scenario_dir / "live.h5") as recording:
        kinds = [r["event"]["kind"] for r in recording.events if r["source"] == "viewer"]
        assert kinds == ["add_walls", "remove_walls"]
        np.testing.assert_array_equal(recording.walls(len(recording) - 1), world.walls)
        replayed = restore_at(recording, world.step_count).world
        replay = ReplaySource(recording)
        replay.index = len(recording) - 1
        shown = render(replay.layers(), "owner")
        assert (shown[world.walls] == WALL_COLOUR).all() and not (shown[~world.walls] == WALL_COLOUR).all(axis=1).any()
    np.testing.assert_array_equal(replayed.walls, world.walls)
    np.testing.assert_array_equal(replayed.state, world.state)
    np.testing.assert_array_equal(replayed.owner, world.owner)


def test_a_render_draws_walls_in_every_view(live):  # noqa: F811
    world = live.source.world
    wall = np.zeros((world.height, world.width), bool)
    wall[2:4, 5:30] = True
    world.set_walls(wall)
    layers = world.layers()
    for view in layers.views():
        image = render(layers, view)
        assert (image[wall] == WALL_COLOUR).all(), view
    assert world.render(zoom=2).shape == (2 * world.height, 2 * world.width, 3)

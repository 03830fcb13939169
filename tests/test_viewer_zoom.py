"""The viewer's zoom and pan under SDL's dummy driver: clicks land on the cell drawn under them at
every zoom and shift, a big world is rendered only where the window shows it, and pan and zoom
are views, not events (a session that zooms and pans records what one that does not records)."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from fractions import Fraction

import numpy as np
import pygame
import pytest

from nca_world.sim.recording import open_recording
from nca_world.sim.render import Layers, crop, organism_colour
from nca_world.sim.runner import Run, build_world, restore_at
from nca_world.sim.scenario import load_scenario
from nca_world.sim.viewer import Viewer
from nca_world.sim.viewer_sources import LiveSource

ZOOM = 4


class LoggingSource(LiveSource):
    """A live source that keeps the events the viewer applies."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.applied = []

    def apply(self, event) -> None:
        self.applied.append(event)
        super().apply(event)


def live_viewer(folder, record_to="live.h5"):
    scenario = load_scenario(folder / "base.toml")
    source = LoggingSource(Run(scenario, build_world(scenario), None), record_to=folder / record_to)
    viewer = Viewer(source, zoom=ZOOM, render_mode="rgb_array")
    viewer.state.paused = True
    source.advance(8)  # organism "a" has grown around (16, 16)
    return viewer


@pytest.fixture
def live(scenario_dir):
    viewer = live_viewer(scenario_dir)
    yield viewer
    viewer.close()


def post(viewer, kind, **fields):
    viewer.handle(pygame.event.Event(kind, **fields))


def key(viewer, code, text=""):
    post(viewer, pygame.KEYDOWN, key=code, unicode=text, mod=0)


def click(viewer, position, button=1):
    post(viewer, pygame.MOUSEBUTTONDOWN, pos=position, button=button)
    post(viewer, pygame.MOUSEBUTTONUP, pos=position, button=button)


def pixel_of(viewer, cell):
    """A window position whose pixel shows `cell`, found from the viewport's own arithmetic."""
    view = viewer.view
    x, y = (int(v) for v in view.screen_of(*cell))
    assert viewer.cell_at((x, y)) == cell, (cell, view.zoom, view.shift)
    return x, y


@pytest.mark.parametrize("zoom, window, pan", [(3, (60, 90), (9, 20)), (Fraction(1, 2), (14, 20), (3, 4)),
                                               (6, (100, 100), (40, 33)), (1, (48, 64), (0, 0))])
def test_a_cut_hits_the_cells_under_the_click_at_every_zoom_and_shift(live, zoom, window, pan):
    world = live.source.world
    post(live, pygame.VIDEORESIZE, w=window[1], h=window[0] + 40, size=(window[1], window[0] + 40))
    live.view.zoom_to(zoom, (0, 0))
    live.view.pan(*pan)
    assert live.view.shift == pan and live.surface.get_size() == (window[1], window[0] + 40)
    target = (16, 17) if zoom != Fraction(1, 2) else (17, 17)  # a cell a downsampled pixel shows
    position = pixel_of(live, target)
    live.state.brush = 3
    assert world.owner[target] > 0
    click(live, position)
    assert [(e.kind, e.center) for e in live.source.applied] == [("cut_circle", target)]
    yy, xx = np.mgrid[: world.height, : world.width]
    disc = (yy - target[0]) ** 2 + (xx - target[1]) ** 2 <= 9
    assert not world.owner[disc].any() and world.owner[~disc].any()
    live.draw()  # the brush circle drawn where the cut was, at this zoom


def test_keys_and_the_middle_button_pan_and_ctrl_wheel_zooms_at_the_cursor(live):
    assert live.view.zoom == ZOOM and live.view.shift == (0, 0) and live.view.size == (192, 256)
    key(live, pygame.K_z, "z")  # zoom 6 around the middle of the view
    assert live.view.zoom == 6 and live.view.shift == (48, 64)
    key(live, pygame.K_RIGHT)
    key(live, pygame.K_DOWN)
    assert live.view.shift == (48 + 192 // 4, 64 + 256 // 4)
    post(live, pygame.MOUSEBUTTONDOWN, pos=(100, 100), button=2)
    post(live, pygame.MOUSEMOTION, pos=(130, 110), rel=(30, 10), buttons=(0, 1, 0))  # the world follows the mouse
    post(live, pygame.MOUSEBUTTONUP, pos=(130, 110), button=2)
    assert live.view.shift == (96 - 10, 128 - 30)
    post(live, pygame.MOUSEMOTION, pos=(40, 30), rel=(0, 0), buttons=(0, 0, 0))
    under = live.cell_at((40, 30))
    brush = live.state.brush
    pygame.key.set_mods(pygame.KMOD_CTRL)
    try:
        post(live, pygame.MOUSEWHEEL, x=0, y=1)
    finally:
        pygame.key.set_mods(0)
    assert live.view.zoom == 8 and live.cell_at((40, 30)) == under and live.state.brush == brush
    post(live, pygame.MOUSEWHEEL, x=0, y=1)  # without Ctrl the wheel still sets the brush radius
    assert live.state.brush == brush + 1 and live.view.zoom == 8
    key(live, pygame.K_x, "x")
    key(live, pygame.K_0, "0")  # back to the whole world
    assert live.view.zoom == ZOOM and live.view.shift == (0, 0)
    assert live.source.applied == []  # none of it is an event


class BigSource:
    """A 2048 x 2048 world of 256 organisms (owner map only) that counts what is read from it."""

    def __init__(self) -> None:
        yy, xx = np.mgrid[:2048, :2048]
        self.owner = (1 + (yy // 128) * 16 + xx // 128).astype(np.uint16)  # 16 x 16 squares, organisms 1..256
        self.regions = []
        self.step = self.version = 0

    def layers(self, region=None):
        self.regions.append(region)
        layers = Layers(None, None, self.owner, {})
        return layers if region is None else crop(layers, slice(*region[:2]), slice(*region[2:]))

    def organisms(self):
        return [(k, f"o{k}", 128 * 128) for k in range(1, 257)]

    def species(self):
        return []

    def close(self):
        pass


def test_a_big_world_below_zoom_1_is_rendered_only_where_the_window_shows_it():
    source = BigSource()
    viewer = Viewer(source, render_mode="rgb_array")
    try:
        assert viewer.view.zoom == Fraction(1, 3) and viewer.view.size == (683, 683)  # the whole world fits
        image = viewer.draw()
        assert viewer.rendered == (683, 683, 3) and source.regions[-1] == (1, 2048, 1, 2048)
        key(viewer, pygame.K_z, "z")  # zoom 1/2: the window shows a part of the world
        viewer.view.pan(100, 50)
        viewer.state.labels = False
        image = viewer.draw()
        y0, y1, x0, x1 = source.regions[-1]
        assert viewer.rendered == (683, 683, 3)  # one pixel a shown cell, never the 2048 x 2048 grid
        assert (y1 - y0, x1 - x0) == (2 * 682 + 1, 2 * 682 + 1) and y0 > 0 and x0 > 0
        for y, x in [(0, 0), (5, 600), (682, 682), (300, 17)]:  # each pixel in its cell's organism colour
            cell = viewer.cell_at((x, y))
            assert tuple(image[y, x]) == organism_colour(int(source.owner[cell])), (x, y, cell)
        key(viewer, pygame.K_0, "0")
        for _ in range(4):
            key(viewer, pygame.K_z, "z")  # 1/3 -> 1/2 -> 1 -> 2 -> 3
        viewer.draw()
        y0, y1, x0, x1 = source.regions[-1]
        assert viewer.view.zoom == 3 and (y1 - y0, x1 - x0) == (228, 228) and viewer.rendered == (228, 228, 3)
    finally:
        viewer.close()


def session(folder, record_to, zoomed):
    """A recorded live session: a cut, a spawn and a move at chosen cells; with `zoomed`, the view
    zooms (below 1 too) and pans between them. The viewer and the recording's path."""
    viewer = live_viewer(folder, record_to)
    key(viewer, pygame.K_r, "r")

    def view(zoom, pan):
        if zoomed:
            viewer.view.zoom_to(zoom, (0, 0))
            viewer.view.pan(*pan)
            key(viewer, pygame.K_RIGHT)

    view(6, (30, 40))
    viewer.state.brush = 2
    click(viewer, pixel_of(viewer, (16, 18)))
    viewer.source.advance(3)
    view(Fraction(1, 2), (0, 0))
    post(viewer, pygame.MOUSEMOTION, pos=pixel_of(viewer, (5, 51)), rel=(0, 0), buttons=(0, 0, 0))
    key(viewer, pygame.K_s, "s")
    viewer.source.advance(4)
    view(3, (20, 100))
    post(viewer, pygame.MOUSEBUTTONDOWN, pos=pixel_of(viewer, (32, 48)), button=3)
    post(viewer, pygame.MOUSEMOTION, pos=pixel_of(viewer, (30, 45)), rel=(0, 0), buttons=(0, 0, 1))
    post(viewer, pygame.MOUSEBUTTONUP, pos=pixel_of(viewer, (30, 45)), button=3)
    viewer.source.advance(2)
    key(viewer, pygame.K_r, "r")
    return viewer, folder / record_to


def test_a_session_that_zooms_and_pans_records_and_replays_like_one_that_does_not(scenario_dir):
    zoomed, zoomed_path = session(scenario_dir, "zoomed.h5", True)
    plain, plain_path = session(scenario_dir, "plain.h5", False)
    try:
        assert zoomed.view.zoom != plain.view.zoom
        with open_recording(zoomed_path) as a, open_recording(plain_path) as b:
            kinds = [r["event"]["kind"] for r in a.events if r["source"] == "viewer"]
            assert kinds == ["cut_circle", "spawn", "move"]
            assert a.events == b.events  # the same cells, whatever the view
            assert [r["event"].get("center") or r["event"].get("position") for r in a.events
                    if r["source"] == "viewer"][:2] == [[16, 18], [5, 51]]
            world = zoomed.source.world
            replayed = restore_at(a, world.step_count).world
            np.testing.assert_array_equal(replayed.state, world.state)
            np.testing.assert_array_equal(replayed.owner, world.owner)
            np.testing.assert_array_equal(world.state, plain.source.world.state)
    finally:
        zoomed.close()
        plain.close()

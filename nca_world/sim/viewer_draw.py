"""Painting one frame of the viewer onto a pygame surface (`Painter`): the cells in view, the
organisms' names, the last cut, the model picker's panel, the status line, the identity view's
colour scale, a replay's timeline and the help box."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nca_world.sim import picker_panel
from nca_world.sim.census import centroids
from nca_world.sim.picker import Picker
from nca_world.sim.render import IDENTITY_ABSENT, crop, identity_ramp, organism_colour, render
from nca_world.sim.viewer_sources import LiveSource, ReplaySource
from nca_world.sim.viewer_state import SPEEDS, ViewState
from nca_world.sim.viewport import Viewport

STATUS_HEIGHT = 40
TIMELINE_HEIGHT = 14
HELP = [
    "space pause   . step   , back (replay)   + - speed   v view   [ ] hidden channel",
    "left-drag cut / wall / erase (w: brush mode, wheel: radius)   right-drag move organism",
    "1-9 species   i identity   s seed   z x zoom (ctrl+wheel)   0 whole world   arrows, middle-drag pan",
    "m models (live)   r record (live)   l names on/off   F12 screenshot   h help   q quit",
]


class Painter:
    """Paints frames with `pygame` in `font`; keeps each organism's label, drawn once."""

    def __init__(self, pygame: Any, font: Any) -> None:
        self.pygame, self.font = pygame, font
        self.rendered: tuple[int, ...] = ()  # the shape of the last image rendered (only the cells in view)
        self.names: dict[str, Any] = {}  # organism labels drawn once, by name
        self._centroids: tuple[Any, tuple] | None = None  # (key, centroids) of the last labelled view

    def paint(self, surface: Any, view: Viewport, source: LiveSource | ReplaySource, state: ViewState,
              picker: Picker | None, *, steps_per_s: float, fps: float) -> None:
        """Paint the grid of `source` as `view` shows it, the status line (with the stepping rate
        and frame rate given) and, for a replay, the timeline, as `state` says."""
        pg, s = self.pygame, state
        surface.fill((240, 240, 240))
        visible = view.visible()
        layers = source.layers(None if visible is None else visible.region)
        if s.view not in layers.views():
            s.view = layers.views()[0]
        organisms = source.organisms()
        if visible is not None:
            if visible.stride > 1:  # below zoom 1: every stride-th cell, from the phase the region starts at
                layers = crop(layers, slice(None, None, visible.stride), slice(None, None, visible.stride))
            image = render(layers, s.view, s.hidden_channel)
            self.rendered = image.shape
            # the (H, W, 3) rows as they are: surfarray wants (W, H, 3), and transposing a 1000 x 1800
            # image into it took more time than rendering it
            grid = pg.image.frombuffer(np.ascontiguousarray(image), (image.shape[1], image.shape[0]), "RGB")
            if visible.scale > 1:
                grid = pg.transform.scale(grid, (image.shape[1] * visible.scale, image.shape[0] * visible.scale))
            surface.blit(grid, visible.origin[::-1])
            if s.labels:
                key = (source.version, visible.region, visible.stride)
                self._labels(surface, layers.owner, visible, organisms, key)
        if s.last_cut and s.last_cut[3] > time.perf_counter():
            y, x, radius, _ = s.last_cut
            centre = tuple(int(v) for v in view.screen_of(y, x))
            pg.draw.circle(surface, (200, 0, 0), centre, max(1, int(radius * float(view.zoom))), 1)
        if s.picking and picker is not None:
            picker.grow_one()
            picker_panel.draw(pg, surface, self.font, picker, view.size[0])
        self._status(surface, view, source, state, organisms, steps_per_s, fps)
        if s.view == "identity" and layers.identity is not None and layers.identity.shape[2] == 1:
            self._identity_bar(surface)
        if isinstance(source, ReplaySource):
            self._timeline(surface, view, source)
        if s.help:
            self._help(surface)

    def _labels(self, surface: Any, owner: np.ndarray, visible: Any, organisms: list[tuple[int, str, int]],
                key: tuple) -> None:
        """Each organism's name at the centroid of its cells in view (one pass over the owner map
        as rendered: the cells in view, strided below zoom 1; again only when `key`, the source's
        version and the view, changes)."""
        if self._centroids is None or self._centroids[0] != key:
            self._centroids = (key, centroids(owner, max((index for index, _, _ in organisms), default=0)))
        counts, mean_y, mean_x = self._centroids[1]
        for index, name, _ in organisms:
            if not counts[index]:
                continue
            x = visible.origin[1] + (mean_x[index] + 0.5) * visible.scale
            y = visible.origin[0] + (mean_y[index] + 0.5) * visible.scale
            if name not in self.names:
                self.names[name] = self.font.render(name, True, (0, 0, 0), (255, 255, 255))
            text = self.names[name]
            surface.blit(text, text.get_rect(center=(int(x), int(y))))

    def _identity_bar(self, surface: Any) -> None:
        """The identity view's colour scale (0 to 1) and the grey of species without identity, in a
        box at the grid's top right corner."""
        pg = self.pygame
        room = surface.get_width()
        width, top = max(20, min(120, room - 70)), 6
        left = max(0, room - width - 64)
        pg.draw.rect(surface, (255, 255, 255), (left - 4, top - 4, width + 64, 34))
        pg.draw.rect(surface, (160, 160, 160), (left - 4, top - 4, width + 64, 34), 1)
        ramp = identity_ramp(np.linspace(0.0, 1.0, width))
        for x, colour in enumerate(np.rint(ramp * 255).astype(int)):
            pg.draw.line(surface, tuple(colour), (left + x, top), (left + x, top + 10))
        for value in (0.0, 0.5, 1.0):
            text = self.font.render(f"{value:g}", True, (20, 20, 20))
            surface.blit(text, (left + int(value * (width - 1)) - text.get_width() // 2, top + 12))
        pg.draw.rect(surface, IDENTITY_ABSENT, (left + width + 10, top, 10, 10))
        surface.blit(self.font.render("none", True, (20, 20, 20)), (left + width + 24, top - 2))

    def _status(self, surface: Any, view: Viewport, source: LiveSource | ReplaySource, s: ViewState,
                organisms: list[tuple[int, str, int]], steps_per_s: float, fps: float) -> None:
        pg = self.pygame
        top = view.size[0]
        speed = SPEEDS[s.speed]
        pace = "max" if speed == float("inf") else (f"{speed:g}" if speed >= 1 else f"1/{round(1 / speed)}")
        line = (f"step {source.step}  {steps_per_s:6.0f} steps/s  "
                f"{fps:4.0f} fps  x{pace}  zoom {view.zoom}  view {s.view}"
                f"{f' [{s.hidden_channel}]' if s.view == 'hidden' else ''}"
                f"{'  paused' if s.paused else ''}"
                f"{'  REC' if isinstance(source, LiveSource) and source.recording else ''}")
        if s.message and s.message_until > time.perf_counter():
            line += f"  | {s.message}"
        surface.blit(self.font.render(line, True, (20, 20, 20)), (4, top + 3))
        x = 4
        for index, name, cells in organisms[:12]:
            pg.draw.rect(surface, organism_colour(index), (x, top + 22, 10, 10))
            label = self.font.render(f"{name} {cells}", True, (20, 20, 20))
            surface.blit(label, (x + 13, top + 20))
            x += 13 + label.get_width() + 10

    def _timeline(self, surface: Any, view: Viewport, source: ReplaySource) -> None:
        pg = self.pygame
        top, width = view.size[0] + STATUS_HEIGHT, surface.get_width()
        pg.draw.rect(surface, (210, 210, 210), (0, top, width, TIMELINE_HEIGHT))
        last = max(1, int(source.recording_file.steps[-1]))
        for step in source.event_steps:
            x = int(step / last * (width - 1))
            pg.draw.line(surface, (200, 60, 60), (x, top), (x, top + TIMELINE_HEIGHT))
        x = int(source.index / max(1, len(source) - 1) * (width - 1))
        pg.draw.rect(surface, (30, 30, 30), (max(0, x - 2), top, 4, TIMELINE_HEIGHT))

    def _help(self, surface: Any) -> None:
        box = self.pygame.Surface((surface.get_width(), 20 * len(HELP) + 8), self.pygame.SRCALPHA)
        box.fill((0, 0, 0, 170))
        for i, text in enumerate(HELP):
            box.blit(self.font.render(text, True, (255, 255, 255)), (6, 4 + 20 * i))
        surface.blit(box, (0, 0))

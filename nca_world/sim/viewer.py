"""The real-time pygame viewer's window and loop (`Viewer`): a live run (with mouse damage, moves
and spawns) or a replay, shown at a zoom, stepped at a speed, saved as screenshots.

A thin layer over `sim.render`, in parts: the sources (`sim.viewer_sources`), the state the
input changes (`sim.viewer_state`), the keys and mouse (`sim.viewer_controls`, which lists them:
`handle` is a pure method fed pygame events, so tests drive it without a screen), and the
painting of a frame (`sim.viewer_draw`). Here: `tick` advances the source, `draw` paints the
window, `run` loops. Every interactive action is an event object of `sim.scenario_events`,
applied and logged exactly like a scripted one.

Zoom and pan are views (`sim.viewport`), not events: only the cells in the window are read and
rendered (a replay reads just their region of the recording), below zoom 1 by striding.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nca_world.agents.errors import NcaWorldError
from nca_world.sim.picker import Picker
from nca_world.sim.viewer_controls import Controls
from nca_world.sim.viewer_draw import STATUS_HEIGHT, TIMELINE_HEIGHT, Painter
from nca_world.sim.viewer_sources import LiveSource, ReplaySource
from nca_world.sim.viewer_state import SPEEDS, ViewState
from nca_world.sim.viewport import Viewport

FRAME_BUDGET_S = 0.015  # at full speed, stepping stops after this much time so drawing keeps up (30+ fps)
DEFAULT_ROOM = (768, 1024)  # the grid area's size where the screen's is unknown (and in tests)
HEADLESS_HINT = ("for a machine without a screen: `nca-world run SCENARIO` records a run, and "
                 "`nca-world analyze RECORDING --video run.mp4` renders it")


def missing_display() -> str | None:
    """Why a window cannot open here (no X11 or Wayland display), or None.

    SDL would otherwise fall back to an off-screen driver and show nothing while the viewer runs
    on. An explicit ``SDL_VIDEODRIVER`` (``dummy`` in tests) is trusted.
    """
    if os.environ.get("SDL_VIDEODRIVER") or not sys.platform.startswith("linux"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "no display: neither DISPLAY nor WAYLAND_DISPLAY is set"


class Viewer:
    """A pygame window (``render_mode="human"``) or an off-screen renderer (``"rgb_array"``)."""

    def __init__(self, source: LiveSource | ReplaySource, *, zoom: float | None = None,
                 render_mode: str = "human", fps: int = 60, screenshot_dir: Path = Path(".")) -> None:
        """`zoom`: pixels a cell, a whole number or 1/k (default: the whole world fits the screen);
        the window holds the world at that zoom, or as much of it as the screen does."""
        import pygame  # imported here: nothing happens at import time of this module

        self.pygame, self.source, self.render_mode, self.fps = pygame, source, render_mode, fps
        self.screenshot_dir = screenshot_dir
        self.state = ViewState()
        height, width = source.layers().owner.shape
        self.grid = (height, width)
        pygame.display.init()
        pygame.font.init()
        self.font = pygame.font.Font(None, 18)
        room = self._room()
        self.view = Viewport(self.grid, room)
        self.view.zoom_to(zoom or self.view.fit(room), (0, 0))
        self.view.resize(tuple(min(p, r) for p, r in zip(self.view.world_pixels(), room, strict=True)))
        self.painter = Painter(pygame, self.font)
        self.controls = Controls(self)
        self.clock = pygame.time.Clock()
        self.screen = None
        if render_mode == "human":
            driver = pygame.display.get_driver()
            if driver in ("offscreen", "dummy") and not os.environ.get("SDL_VIDEODRIVER"):
                pygame.display.quit()
                raise NcaWorldError(f"view: no window can open (SDL chose its {driver!r} driver); {HEADLESS_HINT}")
            self.screen = pygame.display.set_mode(self._window_size(), pygame.RESIZABLE)
            pygame.display.set_caption("nca-world")
        self.surface = pygame.Surface(self._window_size())
        self.closed = False
        self.steps_done, self.started = 0, time.perf_counter()

    # ------------------------------------------------------------------ geometry

    def _room(self) -> tuple[int, int]:
        """The grid area the screen has room for, ``(rows, columns)`` pixels."""
        try:
            info = self.pygame.display.Info()
            room = (max(200, info.current_h - 160), max(200, info.current_w - 80))
        except self.pygame.error:
            room = DEFAULT_ROOM
        if room[0] <= 0 or room[1] <= 0 or os.environ.get("SDL_VIDEODRIVER") == "dummy":
            room = DEFAULT_ROOM
        return room

    @property
    def zoom(self) -> float:
        """Pixels a cell (below 1: the world downsampled)."""
        return float(self.view.zoom)

    @property
    def picker(self) -> Picker | None:
        """The model picker, once opened (`Controls.toggle_picker`)."""
        return self.controls.picker

    @property
    def rendered(self) -> tuple[int, ...]:
        """The shape of the last image rendered (only the cells in view)."""
        return self.painter.rendered

    def _bottom(self) -> int:
        return STATUS_HEIGHT + (TIMELINE_HEIGHT if isinstance(self.source, ReplaySource) else 0)

    def _window_size(self) -> tuple[int, int]:
        return self.view.size[1], self.view.size[0] + self._bottom()

    def resize(self, width: int, height: int) -> None:
        """The window is now `width` x `height` pixels: the zoom stays, the window shows more or
        less of the world."""
        self.view.resize((height - self._bottom(), width))
        self.surface = self.pygame.Surface(self._window_size())
        if self.screen is not None:
            self.screen = self.pygame.display.set_mode(self._window_size(), self.pygame.RESIZABLE)

    def cell_at(self, position: tuple[int, int]) -> tuple[int, int] | None:
        """The grid cell drawn at a window position, or None off the world (`Viewport.cell_at`)."""
        return self.view.cell_at(position)

    # ------------------------------------------------------------------ input

    def handle(self, event: Any) -> None:
        """Change the view state (and apply interactive events) for one pygame event (`Controls`)."""
        self.controls.handle(event)

    def say(self, message: str) -> None:
        """Show `message` in the status line for a few seconds."""
        self.state.say(message)

    # ------------------------------------------------------------------ time

    def advance(self, steps: int) -> None:
        """Advance the source by `steps` (counted for the status line's steps a second)."""
        self.source.advance(steps)
        self.steps_done += steps

    def tick(self) -> None:
        """Advance the source by the current speed (never longer than one frame's budget)."""
        s = self.state
        if s.paused:
            return
        speed = SPEEDS[s.speed]
        if speed == float("inf"):
            deadline = time.perf_counter() + FRAME_BUDGET_S
            while time.perf_counter() < deadline:
                self.advance(1)
            return
        s.frame_debt += speed
        whole = int(s.frame_debt)
        s.frame_debt -= whole
        if whole:
            self.advance(whole)

    # ------------------------------------------------------------------ drawing

    def draw(self) -> np.ndarray | None:
        """Paint the grid, the status line (and the timeline); returns the image in rgb_array mode."""
        pg = self.pygame
        steps_per_s = self.steps_done / max(1e-6, time.perf_counter() - self.started)
        self.painter.paint(self.surface, self.view, self.source, self.state, self.picker,
                           steps_per_s=steps_per_s, fps=self.clock.get_fps())
        if self.screen is not None:
            self.screen.blit(self.surface, (0, 0))
            pg.display.flip()
            return None
        return np.ascontiguousarray(pg.surfarray.array3d(self.surface).transpose(1, 0, 2))

    def screenshot(self, path: Path | None = None) -> Path:
        """Save the window as it is drawn (the grid at the window's zoom, the status line with the
        organisms' names, the timeline of a replay) as a PNG; an existing file is never replaced."""
        if path is None:
            self.screenshot_dir.mkdir(parents=True, exist_ok=True)
            path = self.screenshot_dir / f"nca-world-step{self.source.step:06d}.png"
            number = 2
            while path.exists():
                path = self.screenshot_dir / f"nca-world-step{self.source.step:06d}-{number}.png"
                number += 1
        self.draw()
        self.pygame.image.save(self.surface, str(path))
        return path

    # ------------------------------------------------------------------ loop

    def run(self, max_frames: int | None = None) -> None:
        """The window's loop: events, stepping, drawing, at most `fps` frames a second."""
        frames = 0
        while not self.closed and (max_frames is None or frames < max_frames):
            for event in self.pygame.event.get():
                self.handle(event)
            self.tick()
            self.draw()
            self.clock.tick(self.fps)
            frames += 1

    def close(self) -> None:
        """Close the source and the window; safe to call twice."""
        if getattr(self, "_done", False):
            return
        self._done = True
        self.source.close()
        self.pygame.display.quit()

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

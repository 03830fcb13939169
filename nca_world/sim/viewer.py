"""The real-time pygame viewer: a live run (with mouse damage, moves and spawns) or a replay.

A thin layer over `sim.render`: `handle` is a pure method fed pygame events (so tests drive it
without a screen), `tick` advances the source, `draw` paints. Every interactive action is an
event object of `sim.scenario`, applied and logged exactly like a scripted one.

Keys: space pause, ``.`` one step, ``,`` one frame back (replay), ``+``/``-`` speed, ``v`` next
view, ``[``/``]`` hidden channel, ``1``-``9`` species to seed, ``i`` identity to seed, ``s`` seed
at the cursor, ``m`` the model picker (live), ``r`` start/stop recording (live), ``w`` brush mode
(cut / wall / erase-wall, live), ``z``/``x`` zoom in/out, ``0`` the whole world, arrows pan, F12
screenshot, ``h`` help, ``q``/Esc quit. Mouse: left-drag cuts, paints walls or erases them, by the
brush mode (wheel sets the radius, Ctrl+wheel zooms at the cursor), middle-drag pans, right-drag
moves the organism under the cursor; with a model chosen in the picker a click seeds it (adding
its species to the world when new, a logged `AddSpecies`); in a replay, click or drag the
timeline to seek.

Zoom and pan are views (`sim.viewport`), not events: only the cells in the window are read and
rendered (a replay reads just their region of the recording), below zoom 1 by striding.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nca_world.agents.errors import NcaWorldError
from nca_world.agents.spec import Rule
from nca_world.sim import picker_panel
from nca_world.sim.census import cell_counts, centroids
from nca_world.sim.picker import Picker
from nca_world.sim.recorder import Recorder
from nca_world.sim.recorder_settings import recorded_channels
from nca_world.sim.recording import Recording
from nca_world.sim.render import (
    IDENTITY_ABSENT,
    Layers,
    crop,
    identity_ramp,
    layers_from_frame,
    organism_colour,
    render,
)
from nca_world.sim.runner import Run
from nca_world.sim.scenario import AddSpecies, AddWalls, CutCircle, Move, RemoveWalls, Spawn
from nca_world.sim.viewport import Viewport

STATUS_HEIGHT = 40
TIMELINE_HEIGHT = 14
# steps per displayed frame: one step every 8 frames ... as fast as the frame budget allows
SPEEDS = (1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16, 64, float("inf"))
FRAME_BUDGET_S = 0.015  # at full speed, stepping stops after this much time so drawing keeps up (30+ fps)
IDENTITY_CHOICES = (1.0, 0.5, 0.0)
BRUSH_MODES = ("cut", "wall", "erase-wall")  # what a left-drag does in a live world
PAN_FRACTION = 4  # an arrow key pans by a quarter of the view
DEFAULT_ROOM = (768, 1024)  # the grid area's size where the screen's is unknown (and in tests)
HELP = [
    "space pause   . step   , back (replay)   + - speed   v view   [ ] hidden channel",
    "left-drag cut / wall / erase (w: brush mode, wheel: radius)   right-drag move organism",
    "1-9 species   i identity   s seed   z x zoom (ctrl+wheel)   0 whole world   arrows, middle-drag pan",
    "m models (live)   r record (live)   l names on/off   F12 screenshot   h help   q quit",
]


class LiveSource:
    """A running world; interactive events go through the run, so a recording logs them."""

    def __init__(self, run: Run, record_to: Path | None = None) -> None:
        self.run, self.record_to = run, record_to
        self.spawned = 0

    @property
    def world(self):
        return self.run.world

    @property
    def step(self) -> int:
        return self.world.step_count

    def layers(self, region: tuple[int, int, int, int] | None = None) -> Layers:
        """The world's layers (views of its state), or those of `region` ``(y0, y1, x0, x1)``."""
        layers = self.world.layers()
        return layers if region is None else crop(layers, slice(*region[:2]), slice(*region[2:]))

    def organisms(self) -> list[tuple[int, str, int]]:
        counts = cell_counts(self.world.owner, len(self.world.organisms))
        return [(o.index, o.name, int(counts[o.index])) for o in self.world.organisms]

    def species(self) -> list[str]:
        return list(self.world.rules)

    def advance(self, steps: int) -> None:
        for _ in range(steps):
            self.run.advance()

    def apply(self, event: Any) -> None:
        self.run.apply(event, "viewer")

    def add_species(self, name: str, rule: Rule) -> str:
        """The world's species that runs `rule`: one with the same spec and weights, else a new one
        called `name` (made unique) added now by a logged `AddSpecies` (the model is embedded)."""
        weights = rule.weights()
        for species, existing in self.world.rules.items():
            if existing.spec == rule.spec and all(np.array_equal(a, weights[k]) for k, a in existing.weights().items()):
                return species
        species, number = name, 1
        while species in self.world.rules:
            number += 1
            species = f"{name}-{number}"
        self.run.models[species] = rule
        self.apply(AddSpecies(kind="add_species", step=self.step, name=species, model=name))
        return species

    @property
    def recording(self) -> bool:
        return self.run.recorder is not None

    def toggle_recording(self) -> str:
        """Start recording (a keyframe now, then every step) or stop and close the file."""
        if self.run.recorder is not None:
            self.run.observe()  # the state at the moment recording stops is the last frame
            self.run.recorder.close(complete=True)
            path, self.run.recorder = self.run.recorder.path, None
            return f"saved {path}"
        record = self.run.scenario.file.record
        path = self.record_to or Path("recordings") / f"live-{time.strftime('%Y%m%d-%H%M%S')}.h5"
        try:
            self.run.recorder = Recorder(path, self.world, scenario_text=self.run.scenario.text,
                                         channels=recorded_channels(record.channels, self.world), dtype=record.dtype,
                                         compression=record.compression, every=1, keyframe_every=record.keyframe_every,
                                         flush_every=record.flush_every, overwrite="never")
            for name, rule in self.run.models.items():  # species the scenario adds later, for forks
                self.run.recorder.embed(name, rule)
            self.run.recorder.keyframe(self.world)
        except NcaWorldError as error:  # an existing file, a full disk: say so in the status line, keep viewing
            self.run.recorder = None
            return f"cannot record: {error}"
        return f"recording to {path}"

    def close(self) -> None:
        if self.run.recorder is not None:
            self.toggle_recording()


class ReplaySource:
    """A recording, frame by frame; follows a file that is still being written."""

    def __init__(self, recording: Recording) -> None:
        self.recording_file = recording
        self.index = 0
        models = recording.models
        self.state_channels = next(iter(models.values())).spec.channels
        self.identity_channels = max(rule.spec.identity_channels for rule in models.values())
        self._names = {o["index"]: o["name"] for o in recording.organisms_at_end()}
        self._without_identity = frozenset(o["index"] for o in recording.organisms_at_end()
                                           if not models[o["species"]].spec.identity_channels)
        self.event_steps = sorted({r["step"] for r in recording.events})
        self._layers: tuple[tuple[int, Any], Layers] | None = None  # the last read, kept while paused
        self._counts: tuple[int, np.ndarray] | None = None  # cells of each organism in a frame
    @property
    def step(self) -> int:
        return int(self.recording_file.steps[self.index])

    def __len__(self) -> int:
        return len(self.recording_file)

    def layers(self, region: tuple[int, int, int, int] | None = None) -> Layers:
        """The layers of the current frame, or of its `region` ``(y0, y1, x0, x1)`` (only that is read)."""
        key = (self.index, region)
        if self._layers is not None and self._layers[0] == key:
            return self._layers[1]
        recording = self.recording_file
        layers = layers_from_frame(recording.frame(self.index, region), recording.channels,
                                   recording.owner(self.index, region), self.state_channels, self.identity_channels)
        walls = recording.walls(self.index)
        if region is not None:
            walls = walls[region[0] : region[1], region[2] : region[3]]
        layers = dataclasses.replace(layers, without_identity=self._without_identity,
                                     walls=walls if walls.any() else None)
        self._layers = (key, layers)
        return layers

    def organisms(self) -> list[tuple[int, str, int]]:
        if self._counts is None or self._counts[0] != self.index:
            owner = self.recording_file.owner(self.index)
            self._counts = (self.index, cell_counts(owner, max(self._names, default=0)))
        counts = self._counts[1]
        return [(k, name, int(counts[k])) for k, name in sorted(self._names.items())]

    def species(self) -> list[str]:
        return []

    def advance(self, steps: int) -> None:
        if self.index + steps >= len(self):
            self.recording_file.refresh()
        self.index = min(len(self) - 1, self.index + steps)

    def seek(self, fraction: float) -> None:
        self.recording_file.refresh()
        self.index = round(min(max(fraction, 0.0), 1.0) * (len(self) - 1))

    def back(self) -> None:
        self.index = max(0, self.index - 1)

    def close(self) -> None:
        self.recording_file.close()


@dataclass
class ViewState:
    """Everything the keys and the mouse change (pure data, so `handle` is easy to test)."""

    paused: bool = False
    speed: int = SPEEDS.index(1)
    view: str = "rgb"
    hidden_channel: int = 4
    brush: float = 5.0
    brush_mode: int = 0  # index in BRUSH_MODES
    species: int = 0
    identity: int = 0
    help: bool = False
    labels: bool = True  # organism names at their centroids
    cutting: bool = False
    moving: str | None = None
    move_anchor: tuple[int, int] = (0, 0)
    seeking: bool = False
    message: str = ""
    message_until: float = 0.0
    last_cut: tuple[int, int, float, float] | None = None  # y, x, radius, until
    frame_debt: float = 0.0
    cursor: tuple[int, int] = (0, 0)
    picking: bool = False  # the model picker's panel is open
    pointer: tuple[int, int] = (0, 0)  # the mouse's last window position (x, y)
    panning: tuple[int, int] | None = None  # a middle-drag's last window position


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
        self.rendered: tuple[int, ...] = ()  # the shape of the last image rendered (only the cells in view)
        self.names: dict[str, Any] = {}  # organism labels drawn once, by name
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
        self.picker: Picker | None = None  # made when first opened (it reads the model library)

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

    def _bottom(self) -> int:
        return STATUS_HEIGHT + (TIMELINE_HEIGHT if isinstance(self.source, ReplaySource) else 0)

    def _window_size(self) -> tuple[int, int]:
        return self.view.size[1], self.view.size[0] + self._bottom()

    def cell_at(self, position: tuple[int, int]) -> tuple[int, int] | None:
        """The grid cell drawn at a window position, or None off the world (`Viewport.cell_at`)."""
        return self.view.cell_at(position)

    # ------------------------------------------------------------------ input

    def handle(self, event: Any) -> None:
        """Change the view state (and apply interactive events) for one pygame event."""
        pg, s = self.pygame, self.state
        if event.type == pg.QUIT:
            self.closed = True
        elif event.type == pg.VIDEORESIZE:  # the zoom stays; the window shows more or less of the world
            self.view.resize((event.h - self._bottom(), event.w))
            self.surface = pg.Surface(self._window_size())
            if self.screen is not None:
                self.screen = pg.display.set_mode(self._window_size(), pg.RESIZABLE)
        elif event.type == pg.KEYDOWN:
            self._key(event)
        elif event.type == pg.MOUSEWHEEL and s.picking and self.picker is not None:
            picker_panel.scroll(self.picker, event.y, self.view.size[0])
        elif event.type == pg.MOUSEWHEEL and pg.key.get_mods() & pg.KMOD_CTRL:
            self.view.step_zoom(1 if event.y > 0 else -1, s.pointer)
        elif event.type == pg.MOUSEWHEEL:
            s.brush = float(min(64, max(1, s.brush + event.y)))
        elif event.type == pg.MOUSEBUTTONDOWN and event.button == 2:
            s.pointer = s.panning = event.pos
        elif event.type == pg.MOUSEBUTTONDOWN:
            self._press(event)
        elif event.type == pg.MOUSEBUTTONUP:
            s.cutting, s.moving, s.seeking, s.panning = False, None, False, None
        elif event.type == pg.MOUSEMOTION and s.panning is not None:
            self.view.pan(s.panning[1] - event.pos[1], s.panning[0] - event.pos[0])  # the world follows the mouse
            s.pointer = s.panning = event.pos
        elif event.type == pg.MOUSEMOTION:
            self._drag(event)

    def _key(self, event: Any) -> None:
        pg, s, source = self.pygame, self.state, self.source
        key, text = event.key, getattr(event, "unicode", "")
        if key in (pg.K_ESCAPE, pg.K_q):
            self.closed = True
        elif key == pg.K_SPACE:
            s.paused = not s.paused
        elif text == "." or key == pg.K_PERIOD:
            s.paused = True
            self._advance(1)
        elif (text == "," or key == pg.K_COMMA) and isinstance(source, ReplaySource):
            s.paused = True
            source.back()
        elif text == "+" or key in (pg.K_PLUS, pg.K_EQUALS, pg.K_KP_PLUS):
            s.speed = min(len(SPEEDS) - 1, s.speed + 1)
        elif text == "-" or key in (pg.K_MINUS, pg.K_KP_MINUS):
            s.speed = max(0, s.speed - 1)
        elif key == pg.K_v:
            views = source.layers().views()
            s.view = views[(views.index(s.view) + 1) % len(views)] if s.view in views else views[0]
        elif text in "[]" and text:
            hidden = sorted(source.layers().hidden) or [s.hidden_channel]
            position = hidden.index(s.hidden_channel) if s.hidden_channel in hidden else 0
            s.hidden_channel = hidden[(position + (1 if text == "]" else -1)) % len(hidden)]
        elif key == pg.K_h:
            s.help = not s.help
        elif key == pg.K_l:
            s.labels = not s.labels
        elif key == pg.K_F12:
            self.say(f"saved {self.screenshot()}")
        elif key in (pg.K_z, pg.K_x):
            self.view.step_zoom(1 if key == pg.K_z else -1)
        elif text == "0" or key in (pg.K_0, pg.K_HOME):
            self.view.zoom_to(self.view.fit(self.view.size), (0, 0))
        elif key in (pg.K_UP, pg.K_DOWN, pg.K_LEFT, pg.K_RIGHT):
            rows, columns = (n // PAN_FRACTION for n in self.view.size)
            self.view.pan({pg.K_UP: -rows, pg.K_DOWN: rows}.get(key, 0),
                          {pg.K_LEFT: -columns, pg.K_RIGHT: columns}.get(key, 0))
        elif isinstance(source, LiveSource):
            self._live_key(key, text)
        elif key == pg.K_m:
            self.say("the model picker is for live worlds (view a scenario)")

    def _live_key(self, key: int, text: str) -> None:
        pg, s, source = self.pygame, self.state, self.source
        if text.isdigit() and text != "0" and int(text) <= len(source.species()):
            s.species = int(text) - 1
            self.say(f"seeding {source.species()[s.species]}")
        elif key == pg.K_i:
            s.identity = (s.identity + 1) % len(IDENTITY_CHOICES)
            self.say(f"seed identity {IDENTITY_CHOICES[s.identity]}")
        elif key == pg.K_s:
            self.seed_at(s.cursor)
        elif key == pg.K_r:
            self.say(source.toggle_recording())
        elif key == pg.K_m:
            self.toggle_picker()
        elif key == pg.K_w:
            s.brush_mode = (s.brush_mode + 1) % len(BRUSH_MODES)
            self.say(f"brush: {BRUSH_MODES[s.brush_mode]}")

    def toggle_picker(self) -> None:
        """Open or close the model picker's panel."""
        world = self.source.world
        if self.picker is None:
            self.picker = Picker(world.channels, world.alive_threshold)
        self.state.picking = not self.state.picking
        self.say("choose a model, then click in the world" if self.state.picking else "model picker closed")

    def _press(self, event: Any) -> None:
        s = self.state
        s.cursor, s.pointer = self.cell_at(event.pos) or s.cursor, event.pos
        if isinstance(self.source, ReplaySource):
            if event.pos[1] >= self.view.size[0] + STATUS_HEIGHT:
                s.seeking = True
                self.source.seek(event.pos[0] / max(1, self.surface.get_width() - 1))
            return
        if event.button == 1 and self.picker is not None and self._pick(event.pos):
            return
        cell = self.cell_at(event.pos)
        if cell is None:
            return
        if event.button == 1:
            s.cutting = True
            self.cut(cell)
        elif event.button == 3:
            owner = int(self.source.world.owner[cell])
            if owner:
                s.moving, s.move_anchor = self.source.world.organisms[owner - 1].name, cell

    def _drag(self, event: Any) -> None:
        s = self.state
        s.pointer = event.pos
        cell = self.cell_at(event.pos)
        if cell is not None:
            s.cursor = cell
        if s.seeking and isinstance(self.source, ReplaySource):
            self.source.seek(event.pos[0] / max(1, self.surface.get_width() - 1))
        elif s.cutting and cell is not None:
            self.cut(cell)
        elif s.moving and cell is not None and cell != s.move_anchor:
            by = (cell[0] - s.move_anchor[0], cell[1] - s.move_anchor[1])
            self.source.apply(Move(kind="move", step=self.source.step, organism=s.moving, by=by))
            s.move_anchor = cell

    # ------------------------------------------------------------------ interactive events

    def cut(self, cell: tuple[int, int]) -> None:
        """Cut a disc of the brush radius at `cell` (a logged `CutCircle`), or by the brush mode
        make it walls (`AddWalls`) or floor again (`RemoveWalls`)."""
        radius, mode, step = self.state.brush, BRUSH_MODES[self.state.brush_mode], self.source.step
        if mode == "cut":
            event: Any = CutCircle(kind="cut_circle", step=step, center=cell, radius=radius)
        else:
            kind = AddWalls if mode == "wall" else RemoveWalls
            event = kind(step=step, shape="circle", center=cell, radius=radius)
        self.source.apply(event)
        self.state.last_cut = (cell[0], cell[1], radius, time.perf_counter() + 0.6)

    def _pick(self, position: tuple[int, int]) -> bool:
        """A left click with the picker in use: on the open panel it chooses the model under it
        (the panel closes when it fits); in the world, with a model chosen, it seeds that model at
        the cell (one click, one organism; the next click cuts again). Whether the click was taken."""
        picker, width, height = self.picker, self.surface.get_width(), self.view.size[0]
        if self.state.picking and picker_panel.inside(position, width, height):
            index = picker_panel.row_at(picker, position, width, height)
            if index is not None:
                self.say(picker.choose(index))
                self.state.picking = not picker.choices[index].fits  # a fitting choice closes the panel
            return True
        cell, chosen = self.cell_at(position), picker.chosen
        if chosen is None or cell is None:
            return False
        picker.chosen = None
        try:
            species = self.source.add_species(chosen.name, chosen.rule)
        except NcaWorldError as error:  # the memory for one more species: say so, keep viewing
            self.say(f"cannot add {chosen.name}: {error}")
            return True
        self.state.species = self.source.species().index(species)
        self.seed_at(cell)
        return True

    def seed_at(self, cell: tuple[int, int]) -> None:
        """Plant the selected species with the selected identity at `cell` (a logged `Spawn`)."""
        source = self.source
        species = source.species()[self.state.species]
        rule = source.world.rules[species]
        identity = IDENTITY_CHOICES[self.state.identity] if rule.spec.identity_channels else None
        source.spawned += 1
        name = f"{species}-{source.spawned}"
        while any(o.name == name for o in source.world.organisms):
            source.spawned += 1
            name = f"{species}-{source.spawned}"
        source.apply(Spawn(kind="spawn", step=source.step, name=name, species=species, position=cell,
                           identity=identity))
        self.say(f"seeded {name}")

    def say(self, message: str) -> None:
        """Show `message` in the status line for a few seconds."""
        self.state.message, self.state.message_until = message, time.perf_counter() + 3.0

    # ------------------------------------------------------------------ time

    def _advance(self, steps: int) -> None:
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
                self._advance(1)
            return
        s.frame_debt += speed
        whole = int(s.frame_debt)
        s.frame_debt -= whole
        if whole:
            self._advance(whole)

    # ------------------------------------------------------------------ drawing

    def draw(self) -> np.ndarray | None:
        """Paint the grid, the status line (and the timeline); returns the image in rgb_array mode."""
        pg, s = self.pygame, self.state
        self.surface.fill((240, 240, 240))
        visible = self.view.visible()
        layers = self.source.layers(None if visible is None else visible.region)
        if s.view not in layers.views():
            s.view = layers.views()[0]
        organisms = self.source.organisms()
        if visible is not None:
            if visible.stride > 1:  # below zoom 1: every stride-th cell, from the phase the region starts at
                layers = crop(layers, slice(None, None, visible.stride), slice(None, None, visible.stride))
            image = render(layers, s.view, s.hidden_channel)
            self.rendered = image.shape
            grid = pg.surfarray.make_surface(np.ascontiguousarray(image.transpose(1, 0, 2)))
            if visible.scale > 1:
                grid = pg.transform.scale(grid, (image.shape[1] * visible.scale, image.shape[0] * visible.scale))
            self.surface.blit(grid, visible.origin[::-1])
            if s.labels:
                self._labels(layers.owner, visible, organisms)
        if s.last_cut and s.last_cut[3] > time.perf_counter():
            y, x, radius, _ = s.last_cut
            centre = tuple(int(v) for v in self.view.screen_of(y, x))
            pg.draw.circle(self.surface, (200, 0, 0), centre, max(1, int(radius * self.zoom)), 1)
        if s.picking and self.picker is not None:
            self.picker.grow_one()
            picker_panel.draw(pg, self.surface, self.font, self.picker, self.view.size[0])
        self._status(organisms)
        if s.view == "identity" and layers.identity is not None and layers.identity.shape[2] == 1:
            self._identity_bar()
        if isinstance(self.source, ReplaySource):
            self._timeline()
        if s.help:
            self._help()
        if self.screen is not None:
            self.screen.blit(self.surface, (0, 0))
            pg.display.flip()
            return None
        return np.ascontiguousarray(pg.surfarray.array3d(self.surface).transpose(1, 0, 2))

    def _labels(self, owner: np.ndarray, visible: Any, organisms: list[tuple[int, str, int]]) -> None:
        """Each organism's name at the centroid of its cells in view (one pass over the owner map
        as rendered: the cells in view, strided below zoom 1)."""
        counts, mean_y, mean_x = centroids(owner, max((index for index, _, _ in organisms), default=0))
        for index, name, _ in organisms:
            if not counts[index]:
                continue
            x = visible.origin[1] + (mean_x[index] + 0.5) * visible.scale
            y = visible.origin[0] + (mean_y[index] + 0.5) * visible.scale
            if name not in self.names:
                self.names[name] = self.font.render(name, True, (0, 0, 0), (255, 255, 255))
            text = self.names[name]
            self.surface.blit(text, text.get_rect(center=(int(x), int(y))))

    def _identity_bar(self) -> None:
        """The identity view's colour scale (0 to 1) and the grey of species without identity, in a
        box at the grid's top right corner."""
        pg = self.pygame
        room = self.surface.get_width()
        width, top = max(20, min(120, room - 70)), 6
        left = max(0, room - width - 64)
        pg.draw.rect(self.surface, (255, 255, 255), (left - 4, top - 4, width + 64, 34))
        pg.draw.rect(self.surface, (160, 160, 160), (left - 4, top - 4, width + 64, 34), 1)
        ramp = identity_ramp(np.linspace(0.0, 1.0, width))
        for x, colour in enumerate(np.rint(ramp * 255).astype(int)):
            pg.draw.line(self.surface, tuple(colour), (left + x, top), (left + x, top + 10))
        for value in (0.0, 0.5, 1.0):
            text = self.font.render(f"{value:g}", True, (20, 20, 20))
            self.surface.blit(text, (left + int(value * (width - 1)) - text.get_width() // 2, top + 12))
        pg.draw.rect(self.surface, IDENTITY_ABSENT, (left + width + 10, top, 10, 10))
        self.surface.blit(self.font.render("none", True, (20, 20, 20)), (left + width + 24, top - 2))

    def _status(self, organisms: list[tuple[int, str, int]]) -> None:
        pg, s = self.pygame, self.state
        top = self.view.size[0]
        elapsed = max(1e-6, time.perf_counter() - self.started)
        speed = SPEEDS[s.speed]
        pace = "max" if speed == float("inf") else (f"{speed:g}" if speed >= 1 else f"1/{round(1 / speed)}")
        line = (f"step {self.source.step}  {self.steps_done / elapsed:6.0f} steps/s  "
                f"{self.clock.get_fps():4.0f} fps  x{pace}  zoom {self.view.zoom}  view {s.view}"
                f"{f' [{s.hidden_channel}]' if s.view == 'hidden' else ''}"
                f"{'  paused' if s.paused else ''}"
                f"{'  REC' if isinstance(self.source, LiveSource) and self.source.recording else ''}")
        if s.message and s.message_until > time.perf_counter():
            line += f"  | {s.message}"
        self.surface.blit(self.font.render(line, True, (20, 20, 20)), (4, top + 3))
        x = 4
        for index, name, cells in organisms[:12]:
            pg.draw.rect(self.surface, organism_colour(index), (x, top + 22, 10, 10))
            label = self.font.render(f"{name} {cells}", True, (20, 20, 20))
            self.surface.blit(label, (x + 13, top + 20))
            x += 13 + label.get_width() + 10

    def _timeline(self) -> None:
        pg, source = self.pygame, self.source
        top, width = self.view.size[0] + STATUS_HEIGHT, self.surface.get_width()
        pg.draw.rect(self.surface, (210, 210, 210), (0, top, width, TIMELINE_HEIGHT))
        last = max(1, int(source.recording_file.steps[-1]))
        for step in source.event_steps:
            x = int(step / last * (width - 1))
            pg.draw.line(self.surface, (200, 60, 60), (x, top), (x, top + TIMELINE_HEIGHT))
        x = int(source.index / max(1, len(source) - 1) * (width - 1))
        pg.draw.rect(self.surface, (30, 30, 30), (max(0, x - 2), top, 4, TIMELINE_HEIGHT))

    def _help(self) -> None:
        box = self.pygame.Surface((self.surface.get_width(), 20 * len(HELP) + 8), self.pygame.SRCALPHA)
        box.fill((0, 0, 0, 170))
        for i, text in enumerate(HELP):
            box.blit(self.font.render(text, True, (255, 255, 255)), (6, 4 + 20 * i))
        self.surface.blit(box, (0, 0))

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


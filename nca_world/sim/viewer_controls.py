"""What the viewer's keys and mouse do (`Controls.handle`, fed pygame events, so tests drive it
without a screen): changes of the view state and the viewport, and the interactive events
(`sim.scenario_events`) they apply to a live world, logged exactly like scripted ones.

Keys: space pause, ``.`` one step, ``,`` one frame back (replay), ``+``/``-`` speed, ``v`` next
view, ``[``/``]`` hidden channel, ``1``-``9`` species to seed, ``i`` identity to seed, ``s`` seed
at the cursor, ``m`` the model picker (live), ``r`` start/stop recording (live), ``w`` brush mode
(cut / wall / erase-wall, live), ``z``/``x`` zoom in/out, ``0`` the whole world, arrows pan, F12
screenshot, ``h`` help, ``l`` names on/off, ``q``/Esc quit. Mouse: left-drag cuts, paints walls or
erases them, by the brush mode (wheel sets the radius, Ctrl+wheel zooms at the cursor),
middle-drag pans, right-drag moves the organism under the cursor; with a model chosen in the
picker a click seeds it (adding its species to the world when new, a logged `AddSpecies`); in a
replay, click or drag the timeline to seek.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from nca_world.agents.errors import NcaWorldError
from nca_world.sim import picker_panel
from nca_world.sim.picker import Picker
from nca_world.sim.scenario_events import AddWalls, CutCircle, Move, RemoveWalls, Spawn
from nca_world.sim.viewer_draw import STATUS_HEIGHT
from nca_world.sim.viewer_sources import LiveSource, ReplaySource
from nca_world.sim.viewer_state import BRUSH_MODES, IDENTITY_CHOICES, SPEEDS

if TYPE_CHECKING:
    from nca_world.sim.viewer import Viewer

PAN_FRACTION = 4  # an arrow key pans by a quarter of the view


class Controls:
    """The input of `viewer`: its state, viewport and source change by the events handled."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.picker: Picker | None = None  # made when first opened (it reads the model library)

    def handle(self, event: Any) -> None:
        """Change the view state (and apply interactive events) for one pygame event."""
        viewer = self.viewer
        pg, s, view = viewer.pygame, viewer.state, viewer.view
        if event.type == pg.QUIT:
            viewer.closed = True
        elif event.type == pg.VIDEORESIZE:
            viewer.resize(event.w, event.h)
        elif event.type == pg.KEYDOWN:
            self._key(event)
        elif event.type == pg.MOUSEWHEEL and s.picking and self.picker is not None:
            picker_panel.scroll(self.picker, event.y, view.size[0])
        elif event.type == pg.MOUSEWHEEL and pg.key.get_mods() & pg.KMOD_CTRL:
            view.step_zoom(1 if event.y > 0 else -1, s.pointer)
        elif event.type == pg.MOUSEWHEEL:
            s.brush = float(min(64, max(1, s.brush + event.y)))
        elif event.type == pg.MOUSEBUTTONDOWN and event.button == 2:
            s.pointer = s.panning = event.pos
        elif event.type == pg.MOUSEBUTTONDOWN:
            self._press(event)
        elif event.type == pg.MOUSEBUTTONUP:
            s.cutting, s.moving, s.seeking, s.panning = False, None, False, None
        elif event.type == pg.MOUSEMOTION and s.panning is not None:
            view.pan(s.panning[1] - event.pos[1], s.panning[0] - event.pos[0])  # the world follows the mouse
            s.pointer = s.panning = event.pos
        elif event.type == pg.MOUSEMOTION:
            self._drag(event)

    def _key(self, event: Any) -> None:
        viewer = self.viewer
        pg, s, source, view = viewer.pygame, viewer.state, viewer.source, viewer.view
        key, text = event.key, getattr(event, "unicode", "")
        if key in (pg.K_ESCAPE, pg.K_q):
            viewer.closed = True
        elif key == pg.K_SPACE:
            s.paused = not s.paused
        elif text == "." or key == pg.K_PERIOD:
            s.paused = True
            viewer.advance(1)
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
            s.say(f"saved {viewer.screenshot()}")
        elif key in (pg.K_z, pg.K_x):
            view.step_zoom(1 if key == pg.K_z else -1)
        elif text == "0" or key in (pg.K_0, pg.K_HOME):
            view.zoom_to(view.fit(view.size), (0, 0))
        elif key in (pg.K_UP, pg.K_DOWN, pg.K_LEFT, pg.K_RIGHT):
            rows, columns = (n // PAN_FRACTION for n in view.size)
            view.pan({pg.K_UP: -rows, pg.K_DOWN: rows}.get(key, 0),
                     {pg.K_LEFT: -columns, pg.K_RIGHT: columns}.get(key, 0))
        elif isinstance(source, LiveSource):
            self._live_key(key, text)
        elif key == pg.K_m:
            s.say("the model picker is for live worlds (view a scenario)")

    def _live_key(self, key: int, text: str) -> None:
        pg, s, source = self.viewer.pygame, self.viewer.state, self.viewer.source
        if text.isdigit() and text != "0" and int(text) <= len(source.species()):
            s.species = int(text) - 1
            s.say(f"seeding {source.species()[s.species]}")
        elif key == pg.K_i:
            s.identity = (s.identity + 1) % len(IDENTITY_CHOICES)
            s.say(f"seed identity {IDENTITY_CHOICES[s.identity]}")
        elif key == pg.K_s:
            self.seed_at(s.cursor)
        elif key == pg.K_r:
            s.say(source.toggle_recording())
        elif key == pg.K_m:
            self.toggle_picker()
        elif key == pg.K_w:
            s.brush_mode = (s.brush_mode + 1) % len(BRUSH_MODES)
            s.say(f"brush: {BRUSH_MODES[s.brush_mode]}")

    def toggle_picker(self) -> None:
        """Open or close the model picker's panel."""
        world, s = self.viewer.source.world, self.viewer.state
        if self.picker is None:
            self.picker = Picker(world.channels, world.alive_threshold)
        s.picking = not s.picking
        s.say("choose a model, then click in the world" if s.picking else "model picker closed")

    def _press(self, event: Any) -> None:
        viewer = self.viewer
        s, source = viewer.state, viewer.source
        s.cursor, s.pointer = viewer.cell_at(event.pos) or s.cursor, event.pos
        if isinstance(source, ReplaySource):
            if event.pos[1] >= viewer.view.size[0] + STATUS_HEIGHT:
                s.seeking = True
                source.seek(event.pos[0] / max(1, viewer.surface.get_width() - 1))
            return
        if event.button == 1 and self.picker is not None and self._pick(event.pos):
            return
        cell = viewer.cell_at(event.pos)
        if cell is None:
            return
        if event.button == 1:
            s.cutting = True
            self.cut(cell)
        elif event.button == 3:
            owner = int(source.world.owner[cell])
            if owner:
                s.moving, s.move_anchor = source.world.organisms[owner - 1].name, cell

    def _drag(self, event: Any) -> None:
        viewer = self.viewer
        s, source = viewer.state, viewer.source
        s.pointer = event.pos
        cell = viewer.cell_at(event.pos)
        if cell is not None:
            s.cursor = cell
        if s.seeking and isinstance(source, ReplaySource):
            source.seek(event.pos[0] / max(1, viewer.surface.get_width() - 1))
        elif s.cutting and cell is not None:
            self.cut(cell)
        elif s.moving and cell is not None and cell != s.move_anchor:
            by = (cell[0] - s.move_anchor[0], cell[1] - s.move_anchor[1])
            source.apply(Move(kind="move", step=source.step, organism=s.moving, by=by))
            s.move_anchor = cell

    # ------------------------------------------------------------------ interactive events

    def cut(self, cell: tuple[int, int]) -> None:
        """Cut a disc of the brush radius at `cell` (a logged `CutCircle`), or by the brush mode
        make it walls (`AddWalls`) or floor again (`RemoveWalls`)."""
        s, source = self.viewer.state, self.viewer.source
        radius, mode, step = s.brush, BRUSH_MODES[s.brush_mode], source.step
        if mode == "cut":
            event: Any = CutCircle(kind="cut_circle", step=step, center=cell, radius=radius)
        else:
            kind = AddWalls if mode == "wall" else RemoveWalls
            event = kind(step=step, shape="circle", center=cell, radius=radius)
        source.apply(event)
        s.last_cut = (cell[0], cell[1], radius, time.perf_counter() + 0.6)

    def _pick(self, position: tuple[int, int]) -> bool:
        """A left click with the picker in use: on the open panel it chooses the model under it
        (the panel closes when it fits); in the world, with a model chosen, it seeds that model at
        the cell (one click, one organism; the next click cuts again). Whether the click was taken."""
        viewer, picker = self.viewer, self.picker
        s, width, height = viewer.state, viewer.surface.get_width(), viewer.view.size[0]
        if s.picking and picker_panel.inside(position, width, height):
            index = picker_panel.row_at(picker, position, width, height)
            if index is not None:
                s.say(picker.choose(index))
                s.picking = not picker.choices[index].fits  # a fitting choice closes the panel
            return True
        cell, chosen = viewer.cell_at(position), picker.chosen
        if chosen is None or cell is None:
            return False
        picker.chosen = None
        try:
            species = viewer.source.add_species(chosen.name, chosen.rule)
        except NcaWorldError as error:  # the memory for one more species: say so, keep viewing
            s.say(f"cannot add {chosen.name}: {error}")
            return True
        s.species = viewer.source.species().index(species)
        self.seed_at(cell)
        return True

    def seed_at(self, cell: tuple[int, int]) -> None:
        """Plant the selected species with the selected identity at `cell` (a logged `Spawn`)."""
        s, source = self.viewer.state, self.viewer.source
        species = source.species()[s.species]
        rule = source.world.rules[species]
        identity = IDENTITY_CHOICES[s.identity] if rule.spec.identity_channels else None
        source.spawned += 1
        name = f"{species}-{source.spawned}"
        while any(o.name == name for o in source.world.organisms):
            source.spawned += 1
            name = f"{species}-{source.spawned}"
        source.apply(Spawn(kind="spawn", step=source.step, name=name, species=species, position=cell,
                           identity=identity))
        s.say(f"seeded {name}")

"""Applying events to a world: spawn, cuts, noise, kills, moves, identity changes, removal,
takeovers, new species, walls and fission (a ``split``, logged by the world).

Every event is one of the typed objects of `sim.scenario_events` (scripted or interactive alike); its
log record (`record_of`) turns back into the same event (`event_of`) for replays. Randomness
comes from ``(world seed, step, event number)`` only, so a run replays exactly. On a torus
(``boundary = "wrap"``) cuts go on across the edges and a move's centroid is that of the
organism's unwrapped body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from nca_world.agents.errors import WorldError
from nca_world.agents.spec import Rule
from nca_world.sim.meeting import shape_mask
from nca_world.sim.metrics import body_on_torus, minimum_image
from nca_world.sim.scenario_events import (
    AddSpecies,
    AddWalls,
    Convert,
    CutCircle,
    CutLine,
    CutRect,
    Event,
    KillFraction,
    Move,
    Noise,
    Remove,
    RemoveWalls,
    SetIdentity,
    Spawn,
    Split,
)
from nca_world.sim.world import World


def event_rng(world: World, number: int) -> np.random.Generator:
    """The random stream of the `number`-th event applied at the world's current step."""
    return np.random.default_rng([world.seed, world.step_count, number])


def region(world: World, event: Any) -> np.ndarray:
    """Bool ``(H, W)``: the cells an event may touch (one organism's, or all)."""
    if event.organism is None:
        return np.ones((world.height, world.width), bool)
    return world.mask(event.organism)


def kill(world: World, cells: np.ndarray) -> int:
    """Zero every channel and the owner of `cells`; returns how many were alive."""
    alive = int((world.owner[cells] > 0).sum())
    world.state[cells] = 0.0
    world.owner[cells] = 0
    return alive


def circle_mask(height: int, width: int, center: tuple[int, int], radius: float, wrap: bool = False) -> np.ndarray:
    """The disc of `radius` around `center` in a ``height x width`` grid; on a torus (`wrap`)
    distances are minimum-image ones, so a disc at an edge goes on across it."""
    yy, xx = np.mgrid[:height, :width]
    dy, dx = yy - center[0], xx - center[1]
    if wrap:
        dy, dx = minimum_image(dy, height), minimum_image(dx, width)
    return dy**2 + dx**2 <= radius**2


def line_mask(height: int, width: int, start: tuple[int, int], end: tuple[int, int], thickness: float,
              wrap: bool = False) -> np.ndarray:
    """Cells within ``thickness / 2`` of the segment from `start` to `end`; on a torus (`wrap`),
    of the segment or any of its copies one period away (so it goes on across the edges)."""
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    a, b = np.asarray(start, np.float64), np.asarray(end, np.float64)
    direction = b - a
    length2 = float(direction @ direction)
    shifts = [(sy, sx) for sy in (-height, 0, height) for sx in (-width, 0, width)] if wrap else [(0, 0)]
    mask = np.zeros((height, width), bool)
    for sy, sx in shifts:
        py, px = yy - a[0] - sy, xx - a[1] - sx  # the cell relative to the copy's start
        t = np.zeros_like(yy) if length2 == 0 else np.clip((py * direction[0] + px * direction[1]) / length2, 0.0, 1.0)
        mask |= (py - t * direction[0]) ** 2 + (px - t * direction[1]) ** 2 <= (thickness / 2) ** 2
    return mask


def rect_mask(height: int, width: int, top_left: tuple[int, int], size: tuple[int, int],
              wrap: bool = False) -> np.ndarray:
    """The rectangle ``[top, top + h) x [left, left + w)``: clipped to the grid, or on a torus
    (`wrap`) taken modulo the grid's height and width."""
    (top, left), (h, w) = top_left, size
    box = np.zeros((height, width), bool)
    if wrap:
        rows = np.arange(top, top + min(h, height)) % height
        columns = np.arange(left, left + min(w, width)) % width
        box[np.ix_(rows, columns)] = True
    else:
        box[max(0, top) : max(0, top + h), max(0, left) : max(0, left + w)] = True
    return box


def cut_mask(event: Any, height: int, width: int, wrap: bool) -> np.ndarray | None:
    """The cells a cut event's shape covers, before any `organism` limit (None for other events)."""
    if isinstance(event, CutCircle):
        return circle_mask(height, width, event.center, event.radius, wrap)
    if isinstance(event, CutRect):
        return rect_mask(height, width, event.top_left, event.size, wrap)
    if isinstance(event, CutLine):
        return line_mask(height, width, event.start, event.end, event.width, wrap)
    return None


def convert(world: World, event: Convert, number: int) -> tuple[int, int]:
    """Apply a takeover; returns the new organism's number and how many cells it took."""
    wrap = world.boundary == "wrap"
    if event.fraction is not None:
        cells = event_rng(world, number).random((world.height, world.width)) < event.fraction
    elif event.center is not None:
        cells = circle_mask(world.height, world.width, event.center, event.radius, wrap)  # type: ignore[arg-type]
    else:
        cells = rect_mask(world.height, world.width, event.top_left, event.size, wrap)  # type: ignore[arg-type]
    organism, taken = world.convert(event.organism, event.name, event.species, cells,  # type: ignore[arg-type]
                                    event.identity)
    return organism.index, taken


def translate(world: World, name: str, offset: tuple[int, int]) -> int:
    """Move organism `name`'s cells by `offset`: source cleared, destination overwritten; cells
    leaving the grid (zero boundary) or landing on a wall are dropped, on a torus they wrap.
    Returns cells moved."""
    mask = world.mask(name)
    ys, xs = np.nonzero(mask)
    values = world.state[ys, xs].copy()
    index = world.organism(name).index
    kill(world, mask)
    ty, tx = ys + offset[0], xs + offset[1]
    if world.boundary == "wrap":
        ty, tx = ty % world.height, tx % world.width
    else:
        keep = (ty >= 0) & (ty < world.height) & (tx >= 0) & (tx < world.width)
        ty, tx, values = ty[keep], tx[keep], values[keep]
    floor = ~world.walls[ty, tx]
    ty, tx, values = ty[floor], tx[floor], values[floor]
    world.state[ty, tx] = values
    world.owner[ty, tx] = index
    return len(ty)


def centroid_offset(world: World, name: str, to: tuple[int, int]) -> tuple[int, int]:
    """The offset that brings organism `name`'s centroid (rounded) to `to`. On a torus the
    centroid is that of the organism's unwrapped body (`sim.metrics.body_on_torus`, right for an
    organism straddling an edge) and the offset the shortest way there (minimum image)."""
    ys, xs = np.nonzero(world.mask(name))
    if len(ys) == 0:
        return (0, 0)
    if world.boundary != "wrap":
        return (int(to[0] - round(ys.mean())), int(to[1] - round(xs.mean())))
    cy, cx = body_on_torus(ys, xs, world.height, world.width)[:2]
    return (int(minimum_image(to[0] - round(cy), world.height)), int(minimum_image(to[1] - round(cx), world.width)))


EVENT_ADAPTER: TypeAdapter = TypeAdapter(Event)
TIMING_FIELDS = {"step", "every", "from_", "until"}


def record_of(event: Any, step: int, effect: dict[str, Any], source: str) -> dict[str, Any]:
    """The log record of an event applied at `step`: what it was, where it came from, what it did."""
    described = event.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=TIMING_FIELDS)
    return {"step": step, "source": source, "event": described, "effect": effect}


def event_of(record: dict[str, Any]) -> Any:
    """The event object of a log record, due once at the record's step (for replays)."""
    if record["event"].get("kind") == "split":  # logged by the world, not an event of scenario files
        return Split.model_validate({**record["event"], "step": record["step"]})
    return EVENT_ADAPTER.validate_python({**record["event"], "step": record["step"]})


def split(world: World, event: Split) -> dict[str, Any]:
    """Apply a fission (`sim.fission`); its effect names the parent and each child with its cells."""
    from nca_world.sim.fission import large_parts

    found = large_parts(world, event.organism, event.min_cells)  # type: ignore[arg-type]
    children = world.split(event.organism, found)  # type: ignore[arg-type]
    return {"parent": world.organism(event.organism).index,  # type: ignore[arg-type]
            "children": [{"index": c.index, "name": c.name, "cells": int(part.sum()), "seed_cell": list(c.seed_cell)}
                         for c, part in zip(children, found, strict=True)]}


def apply(world: World, event: Any, number: int = 0, models: Mapping[str, Rule] | None = None) -> dict[str, Any]:
    """Apply `event` to the world now; returns its effect (cells killed, moved, ...). `models`
    holds, by species name, the rules that ``add_species`` events bring in."""
    record: dict[str, Any] = {}
    if isinstance(event, AddSpecies):
        rule = (models or {}).get(event.name)
        if rule is None:
            raise WorldError(f"add_species {event.name!r}: expected its model ({event.model!r}) loaded, got none")
        world.add_species(event.name, rule)
        record["species_count"] = len(world.rules)
    elif isinstance(event, Spawn):
        world.spawn(event.name, event.species, event.position, event.identity)
        record["index"] = world.organism(event.name).index
    elif isinstance(event, CutCircle | CutRect | CutLine):
        shape = cut_mask(event, world.height, world.width, world.boundary == "wrap")
        record["killed"] = kill(world, region(world, event) & shape)
    elif isinstance(event, KillFraction):
        alive = region(world, event) & (world.owner > 0)
        chosen = alive & (event_rng(world, number).random(alive.shape) < event.fraction)
        record["killed"] = kill(world, chosen)
    elif isinstance(event, Noise):
        cells = region(world, event) & (world.owner > 0)
        channels = event.channels if event.channels is not None else list(range(world.channels))
        noise = event_rng(world, number).normal(0.0, event.std, (int(cells.sum()), len(channels)))
        state = world.state
        for j, channel in enumerate(channels):
            state[..., channel][cells] += noise[:, j].astype(np.float32)
        record["cells"] = int(cells.sum())
    elif isinstance(event, Move):
        offset = event.by if event.by is not None else centroid_offset(world, event.organism, event.to)
        record["by"] = list(offset)
        record["moved"] = translate(world, event.organism, offset)  # type: ignore[arg-type]
    elif isinstance(event, SetIdentity):
        world.set_identity(event.organism, event.identity)  # type: ignore[arg-type]
    elif isinstance(event, Convert):
        record["index"], record["converted"] = convert(world, event, number)
    elif isinstance(event, Split):
        record.update(split(world, event))
    elif isinstance(event, AddWalls | RemoveWalls):
        cells = shape_mask(event, world.height, world.width, world.boundary == "wrap")
        record["cells"] = world.set_walls(cells, wall=isinstance(event, AddWalls))
    elif isinstance(event, Remove):
        record["killed"] = kill(world, world.mask(event.organism))  # type: ignore[arg-type]
    else:
        raise TypeError(f"unknown event {event!r}")
    return record

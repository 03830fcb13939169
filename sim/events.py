"""Applying events to a world: spawn, cuts, noise, kills, moves, identity changes, removal.

Every event is one of the typed objects of `sim.scenario` (scripted or interactive alike); its
log record (`record_of`) turns back into the same event (`event_of`) for replays. Randomness
comes from ``(world seed, step, event number)`` only, so a run replays exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import TypeAdapter

from sim.scenario import (
    CutCircle,
    CutLine,
    CutRect,
    Event,
    KillFraction,
    Move,
    Noise,
    Remove,
    SetIdentity,
    Spawn,
)
from sim.world import World


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


def circle_mask(world: World, center: tuple[int, int], radius: float) -> np.ndarray:
    """The disc of `radius` around `center` (plain distances)."""
    yy, xx = np.mgrid[: world.height, : world.width]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def line_mask(world: World, start: tuple[int, int], end: tuple[int, int], width: float) -> np.ndarray:
    """Cells within ``width / 2`` of the segment from `start` to `end`."""
    yy, xx = np.mgrid[: world.height, : world.width].astype(np.float64)
    a, b = np.asarray(start, np.float64), np.asarray(end, np.float64)
    direction = b - a
    length2 = float(direction @ direction)
    t = np.zeros_like(yy) if length2 == 0 else np.clip(((yy - a[0]) * direction[0] + (xx - a[1]) * direction[1])
                                                        / length2, 0.0, 1.0)
    dy, dx = yy - (a[0] + t * direction[0]), xx - (a[1] + t * direction[1])
    return dy**2 + dx**2 <= (width / 2) ** 2


def translate(world: World, name: str, offset: tuple[int, int]) -> int:
    """Move organism `name`'s cells by `offset`: source cleared, destination overwritten; cells
    leaving the grid are dropped (zero boundary) or wrap (torus). Returns cells moved."""
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
    world.state[ty, tx] = values
    world.owner[ty, tx] = index
    return len(ty)


def centroid_offset(world: World, name: str, to: tuple[int, int]) -> tuple[int, int]:
    """The offset that brings organism `name`'s centroid (rounded) to `to`."""
    ys, xs = np.nonzero(world.mask(name))
    if len(ys) == 0:
        return (0, 0)
    return (int(to[0] - round(ys.mean())), int(to[1] - round(xs.mean())))


EVENT_ADAPTER: TypeAdapter = TypeAdapter(Event)
TIMING_FIELDS = {"step", "every", "from_", "until"}


def record_of(event: Any, step: int, effect: dict[str, Any], source: str) -> dict[str, Any]:
    """The log record of an event applied at `step`: what it was, where it came from, what it did."""
    described = event.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=TIMING_FIELDS)
    return {"step": step, "source": source, "event": described, "effect": effect}


def event_of(record: dict[str, Any]) -> Any:
    """The event object of a log record, due once at the record's step (for replays)."""
    return EVENT_ADAPTER.validate_python({**record["event"], "step": record["step"]})


def apply(world: World, event: Any, number: int = 0) -> dict[str, Any]:
    """Apply `event` to the world now; returns its effect (cells killed, moved, ...)."""
    record: dict[str, Any] = {}
    if isinstance(event, Spawn):
        world.spawn(event.name, event.species, event.position, event.identity)
        record["index"] = world.organism(event.name).index
    elif isinstance(event, CutCircle):
        record["killed"] = kill(world, region(world, event) & circle_mask(world, event.center, event.radius))
    elif isinstance(event, CutRect):
        (top, left), (height, width) = event.top_left, event.size
        box = np.zeros((world.height, world.width), bool)
        box[max(0, top) : max(0, top + height), max(0, left) : max(0, left + width)] = True
        record["killed"] = kill(world, region(world, event) & box)
    elif isinstance(event, CutLine):
        record["killed"] = kill(world, region(world, event) & line_mask(world, event.start, event.end, event.width))
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
    elif isinstance(event, Remove):
        record["killed"] = kill(world, world.mask(event.organism))  # type: ignore[arg-type]
    else:
        raise TypeError(f"unknown event {event!r}")
    return record

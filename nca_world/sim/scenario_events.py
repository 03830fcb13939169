"""The typed event objects of scenarios, recordings and the viewer: their timing (`Timing`), one
model per ``kind`` and the `Event` union that a scenario's ``[[events]]`` are validated into.

Event kinds: ``spawn``, ``cut_circle``, ``cut_rect``, ``cut_line``, ``noise``, ``kill_fraction``,
``move``, ``set_identity``, ``remove``, ``convert``, ``add_species``, ``add_walls``,
``remove_walls``; and ``split``, logged by the world only (`sim.fission`). `sim.events` applies them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, model_validator

from nca_world.agents.config import Strict
from nca_world.sim.scenario_sections import MAX_STEPS, Position, WallGeometry, check_shape_fields


class Timing(Strict):
    """When an event happens: once at `step`, or at ``from, from + every, ...`` up to `until`."""

    step: int | None = Field(None, ge=0, le=MAX_STEPS)
    every: int | None = Field(None, ge=1, le=MAX_STEPS)
    from_: int = Field(0, ge=0, le=MAX_STEPS, alias="from")
    until: int | None = Field(None, ge=0, le=MAX_STEPS)
    organism: str | None = None

    @model_validator(mode="after")
    def _one_timing(self, info: ValidationInfo) -> Timing:
        # in a file every event needs its timing; built in Python, an event without one is for "now"
        from_file = bool(info.context and info.context.get("from_file"))
        if (self.step is not None and self.every is not None) or (
                from_file and self.step is None and self.every is None):
            raise ValueError("expected exactly one of step = N or every = N")
        if self.until is not None and self.until < self.from_:
            raise ValueError(f"until: expected >= from ({self.from_})")
        return self

    def happens_at(self, step: int) -> bool:
        """Whether this event is due at `step`."""
        if self.step is not None:
            return step == self.step
        if self.every is None:  # built in Python without a timing: applied directly, never scheduled
            return False
        if step < self.from_ or (self.until is not None and step > self.until):
            return False
        return (step - self.from_) % self.every == 0  # type: ignore[operator]


class Spawn(Timing):
    """Plant a new organism (its name must be new), once."""

    kind: Literal["spawn"] = "spawn"
    name: str = Field(min_length=1)
    species: str
    position: Position
    identity: list[float] | float | None = None

    @model_validator(mode="after")
    def _once(self) -> Spawn:
        if self.every is not None:
            raise ValueError("expected step = N (an organism is planted once; every = N would plant its name again)")
        return self


class CutCircle(Timing):
    """Kill every cell of the disc."""

    kind: Literal["cut_circle"] = "cut_circle"
    center: Position
    radius: float = Field(gt=0)


class CutRect(Timing):
    """Kill every cell of the rectangle ``[top, top + height) x [left, left + width)``."""

    kind: Literal["cut_rect"] = "cut_rect"
    top_left: Position
    size: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]


class CutLine(Timing):
    """Kill every cell within ``width / 2`` of the segment from `start` to `end`."""

    kind: Literal["cut_line"] = "cut_line"
    start: Position
    end: Position
    width: float = Field(1.0, gt=0)


class Noise(Timing):
    """Add Gaussian noise of standard deviation `std` to chosen channels of living cells."""

    kind: Literal["noise"] = "noise"
    std: float = Field(gt=0, le=1e3)
    channels: list[int] | None = Field(None, min_length=1)


class KillFraction(Timing):
    """Kill each living cell independently with probability `fraction`."""

    kind: Literal["kill_fraction"] = "kill_fraction"
    fraction: float = Field(gt=0, le=1)


class Move(Timing):
    """Translate an organism's cells rigidly, by an offset or so that its centroid lands at `to`."""

    kind: Literal["move"] = "move"
    by: Position | None = None
    to: Position | None = None

    @model_validator(mode="after")
    def _target(self) -> Move:
        if (self.by is None) == (self.to is None):
            raise ValueError("expected exactly one of by = [dy, dx] or to = [y, x]")
        if self.organism is None:
            raise ValueError("organism: a move needs the organism to move")
        return self


class OrganismEvent(Timing):
    """An event that acts on one organism: `organism` is required."""

    @model_validator(mode="after")
    def _needs_organism(self) -> OrganismEvent:
        if self.organism is None:
            raise ValueError(f"organism: {self.kind} needs the organism")  # type: ignore[attr-defined]
        return self


class SetIdentity(OrganismEvent):
    """Give an organism new identity values (written into its cells' identity channels)."""

    kind: Literal["set_identity"] = "set_identity"
    identity: list[float] | float


class Remove(OrganismEvent):
    """Kill every cell of an organism."""

    kind: Literal["remove"] = "remove"


class Convert(Timing):
    """Takeover: the cells of `organism` in a region (a disc, a rectangle) or a random `fraction`
    of them become a new organism `name` of `species`, keeping their state and running that
    species' rule from now on (the adversarial reprogramming of Randazzo et al., Distill 2021)."""

    kind: Literal["convert"] = "convert"
    name: str = Field(min_length=1)
    species: str
    center: Position | None = None
    radius: float | None = Field(None, gt=0)
    top_left: Position | None = None
    size: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] | None = None
    fraction: float | None = Field(None, gt=0, le=1)
    identity: list[float] | float | None = None

    @model_validator(mode="after")
    def _one_region(self) -> Convert:
        if self.organism is None:
            raise ValueError("organism: convert needs the organism whose cells are taken over")
        if self.every is not None:
            raise ValueError("expected step = N (a new organism is named once)")
        regions = [self.center is not None or self.radius is not None,
                   self.top_left is not None or self.size is not None, self.fraction is not None]
        if sum(regions) != 1:
            raise ValueError("expected exactly one region: center and radius, top_left and size, or fraction")
        if regions[0] and (self.center is None or self.radius is None):
            raise ValueError("expected both center and radius")
        if regions[1] and (self.top_left is None or self.size is None):
            raise ValueError("expected both top_left and size")
        return self


class Split(OrganismEvent):
    """Fission (logged by the world, never written in scenario files): each part of `organism`'s
    cells with at least `min_cells` becomes a child organism, when there are two or more such
    parts (`sim.fission`)."""

    kind: Literal["split"] = "split"
    min_cells: int = Field(ge=1)


class AddSpecies(Timing):
    """A new species joins the running world, once: `name`, with the rule of `model` (a model file
    relative to the scenario, or a library name; in a recording, the model embedded under `name`)."""

    kind: Literal["add_species"] = "add_species"
    name: str = Field(min_length=1)
    model: str = Field(min_length=1)

    @model_validator(mode="after")
    def _once(self) -> AddSpecies:
        if self.every is not None:
            raise ValueError("expected step = N (a species joins the world once)")
        if self.organism is not None:
            raise ValueError("organism: expected none (adding a species acts on no organism)")
        return self


class WallEvent(Timing, WallGeometry):
    """Walls added or removed at a step: the shapes of ``[[walls]]`` but ``png`` (a replay must not
    need the image file)."""

    shape: Literal["rect", "circle", "line"]
    path: None = None  # only ``[[walls]]`` take a PNG

    @model_validator(mode="after")
    def _fields_of_shape(self) -> WallEvent:
        if self.organism is not None:
            raise ValueError("organism: expected none (walls act on the grid)")
        check_shape_fields(self)
        return self


class AddWalls(WallEvent):
    """Make the cells of a shape walls (their cells are killed)."""

    kind: Literal["add_walls"] = "add_walls"


class RemoveWalls(WallEvent):
    """Make the cells of a shape floor again."""

    kind: Literal["remove_walls"] = "remove_walls"


Event = Annotated[
    Spawn | CutCircle | CutRect | CutLine | Noise | KillFraction | Move | SetIdentity | Remove | Convert | AddSpecies
    | AddWalls | RemoveWalls,
    Field(discriminator="kind"),
]
EVENT_TYPES = (Spawn, CutCircle, CutRect, CutLine, Noise, KillFraction, Move, SetIdentity, Remove, Convert,
               AddSpecies, AddWalls, RemoveWalls)
NEW_ORGANISMS = (Spawn, Convert)  # events that name a new organism


def first_step(event: Timing) -> int:
    """The first step at which `event` happens."""
    return event.step if event.step is not None else event.from_

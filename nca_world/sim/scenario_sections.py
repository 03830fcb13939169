"""The plain tables of a scenario file as strict models: ``[world]``, ``[[species]]``,
``[[organisms]]``, ``[[walls]]`` (with the wall shapes' fields, shared by the wall events of
`sim.scenario_events`), ``[[interactions]]``, ``[run]`` and ``[record]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from nca_world.agents.config import Strict

Position = tuple[int, int]
MAX_STEPS = 10_000_000


class WorldSection(Strict):
    """The grid."""

    height: int = Field(ge=1, le=8192)
    width: int = Field(ge=1, le=8192)
    boundary: Literal["zero", "wrap"] = "zero"
    seed: int = Field(0, ge=0, lt=2**63)
    senses: Literal["all", "own_species", "self"] = "all"  # who senses whom, unless [[interactions]] say
    contest: Literal["strongest", "buffer"] = "strongest"  # who takes a newborn cell between organisms
    split: bool = Field(False, strict=True)  # fission: organisms in several parts become children (`sim.fission`)
    min_cells: int = Field(10, ge=1, le=2**26, strict=True)  # cells each part keeps to become a child
    split_every: int = Field(10, ge=1, le=MAX_STEPS, strict=True)  # steps between fission checks


class WallGeometry(Strict):
    """The fields of the drawn wall shapes: ``rect`` (top_left, size), ``circle`` (center, radius),
    ``line`` (start, end, width)."""

    top_left: Position | None = None
    size: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] | None = None
    center: Position | None = None
    radius: float | None = Field(None, gt=0)
    start: Position | None = None
    end: Position | None = None
    width: float | None = Field(None, gt=0)


class WallShape(WallGeometry):
    """A wall shape: ``rect`` (top_left, size), ``circle`` (center, radius), ``line`` (start, end,
    width) or ``png`` (path: a mask image scaled to the grid, dark opaque pixels are wall)."""

    shape: Literal["rect", "circle", "line", "png"]
    path: Path | None = None

    @model_validator(mode="after")
    def _fields_of_shape(self) -> WallShape:
        check_shape_fields(self)
        return self


SHAPE_FIELDS = {"rect": ("top_left", "size"), "circle": ("center", "radius"), "line": ("start", "end"),
                "png": ("path",)}
SHAPE_OPTIONAL = {"line": ("width",)}


def check_shape_fields(shape: object) -> None:
    """A wall shape's fields: those of its kind present, no other shape's."""
    kind = shape.shape  # type: ignore[attr-defined]
    needed = SHAPE_FIELDS[kind]
    allowed = set(needed) | set(SHAPE_OPTIONAL.get(kind, ()))
    missing = [name for name in needed if getattr(shape, name) is None]
    if missing:
        raise ValueError(f"shape {kind!r}: expected {' and '.join(needed)}, got no {' and '.join(missing)}")
    other = sorted({f for fields in SHAPE_FIELDS.values() for f in fields} | {"width"})
    extra = [name for name in other if name not in allowed and getattr(shape, name) is not None]
    if extra:
        raise ValueError(f"shape {kind!r}: expected no {', '.join(extra)} (fields of another shape)")


class InteractionSection(Strict):
    """Who senses whom between two species (the same species twice: among its own organisms)."""

    species: tuple[str, str]
    senses: Literal["all", "own_species", "self"]


class SpeciesSection(Strict):
    """A species: a name and the model file of its rule."""

    name: str = Field(min_length=1)
    model: Path


class OrganismSection(Strict):
    """An organism planted by the scenario at `spawn_step`."""

    name: str = Field(min_length=1)
    species: str
    position: Position
    identity: list[float] | float | None = None
    spawn_step: int = Field(0, ge=0, le=MAX_STEPS)


class RunSection(Strict):
    """How long to run."""

    steps: int = Field(ge=0, le=MAX_STEPS)


class RecordSection(Strict):
    """What the recorder writes."""

    path: Path = Path("recordings/run.h5")
    every: int = Field(1, ge=1)
    channels: Literal["rgba", "rgba+identity", "all"] | list[int] = "rgba+identity"
    dtype: Literal["uint8", "float16"] = "uint8"
    compression: Literal["lz4", "gzip", "lzf", "none"] = "lz4"
    keyframe_every: int = Field(250, ge=1)
    flush_every: int = Field(50, ge=1)

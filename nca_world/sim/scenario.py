"""Scenario files: TOML scripts of a run, validated into frozen typed objects before anything runs.

```toml
[world]          height, width, boundary ("zero" | "wrap"), seed, senses, contest, split, min_cells,
                 split_every
[[species]]      name, model (a model file, relative to the scenario file)
[[walls]]        shape ("rect" | "circle" | "line" | "png") + its fields (see `WallShape`)
[[interactions]] species = [a, b], senses ("all" | "own_species" | "self")
[[organisms]]    name, species, position = [y, x], identity (optional), spawn_step (default 0)
[[events]]       kind + its fields; step = N, or every = N with from / until; organism (optional)
[run]            steps
[record]         path, every, channels, dtype, compression, keyframe_every, flush_every
```
Event kinds: ``spawn``, ``cut_circle``, ``cut_rect``, ``cut_line``, ``noise``, ``kill_fraction``,
``move``, ``set_identity``, ``remove``, ``convert``, ``add_species``, ``add_walls``,
``remove_walls``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator

from nca_world.agents import library
from nca_world.agents.config import Strict, read_toml, validate
from nca_world.agents.errors import ModelFileError, ScenarioError
from nca_world.agents.modelfile import load_rule
from nca_world.agents.spec import Rule
from nca_world.sim.meeting import shape_mask

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


class ScenarioFile(Strict):
    """A whole scenario file."""

    world: WorldSection
    species: list[SpeciesSection] = Field(min_length=1)
    organisms: list[OrganismSection] = Field(default_factory=list)
    walls: list[WallShape] = Field(default_factory=list)
    interactions: list[InteractionSection] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    run: RunSection
    record: RecordSection = Field(default_factory=RecordSection)

    @model_validator(mode="after")
    def _cross_checks(self) -> ScenarioFile:
        species = [s.name for s in self.species]
        added = self.added_steps()
        _unique("species", species + [e.name for e in self.events if isinstance(e, AddSpecies)])
        names = [o.name for o in self.organisms] + [e.name for e in self.events if isinstance(e, NEW_ORGANISMS)]
        _unique("organisms", names)
        known = species + list(added)
        pairs = set()
        for index, interaction in enumerate(self.interactions):
            for name in interaction.species:
                if name not in known:
                    raise ValueError(f"interactions.{index}.species: expected species of {known}, got {name!r}")
            if frozenset(interaction.species) in pairs:
                raise ValueError(f"interactions.{index}.species: the pair {list(interaction.species)} is set twice")
            pairs.add(frozenset(interaction.species))
        planted = self.spawn_steps()
        for where, item in [*(("organisms", o) for o in self.organisms),
                            *(("events", e) for e in self.events if isinstance(e, NEW_ORGANISMS))]:
            if item.species in added:
                _after_addition(f"{where}.{item.name}", planted[item.name], item.species, added[item.species])
            elif item.species not in species:
                raise ValueError(f"{where}.{item.name}.species: expected one of {species + list(added)}, "
                                 f"got {item.species!r}")
            if not isinstance(item, Convert):
                _inside(f"{where}.{item.name}.position", item.position, self.world)
        for index, event in enumerate(self.events):
            known = event.organism is not None and event.organism in names
            child = event.organism is not None and not known and self.world.split \
                and fission_root(event.organism, names) is not None  # exists once the split happens (checked then)
            if event.organism is not None and not known and not child:
                fission = " (or a fission child: name.1, name.2, ...)" if self.world.split else ""
                raise ValueError(f"events.{index}.organism: expected one of {names}{fission}, got {event.organism!r}")
            if known and first_step(event) < planted[event.organism][0]:  # type: ignore[index]
                raise ValueError(f"events.{index}.{'step' if event.step is not None else 'from'}: expected at or "
                                 f"after step {planted[event.organism][0]}, when {event.organism!r} is planted, "
                                 f"got {first_step(event)}")
            if known and first_step(event) == planted[event.organism][0] \
                    and planted[event.organism][1] > index:
                raise ValueError(f"events.{index}: {event.organism!r} is planted by events."
                                 f"{planted[event.organism][1]} at the same step, after this event: "
                                 f"expected the spawn first")
            if isinstance(event, CutCircle):
                _inside(f"events.{index}.center", event.center, self.world)
            if isinstance(event, Move) and event.to is not None:
                _inside(f"events.{index}.to", event.to, self.world)
        return self

    def added_steps(self) -> dict[str, tuple[int, int]]:
        """Per species added by an ``add_species`` event: its step and the event's index."""
        return {e.name: (first_step(e), i) for i, e in enumerate(self.events) if isinstance(e, AddSpecies)}

    def spawn_steps(self) -> dict[str, tuple[int, int]]:
        """Per organism name: the step it is planted at and the index of its spawn event (-1 for
        ``[[organisms]]`` entries, which are planted before the step's events)."""
        steps = {o.name: (o.spawn_step, -1) for o in self.organisms}
        steps.update({e.name: (first_step(e), i) for i, e in enumerate(self.events) if isinstance(e, NEW_ORGANISMS)})
        return steps


def likely_mistakes(file: ScenarioFile) -> list[str]:
    """Valid settings that most likely do nothing: spawns and events after the last step, two
    organisms planted on one cell, cuts that miss the grid entirely."""
    found = []
    steps, height, width = file.run.steps, file.world.height, file.world.width
    for name, (step, index) in file.spawn_steps().items():
        where = f"events.{index}" if index >= 0 else f"organisms.{name}"
        if step > steps:
            found.append(f"{where}: {name!r} is planted at step {step}, after the run's last step ({steps})")
    world = file.world
    if not world.split and {"min_cells", "split_every"} & world.model_fields_set:
        found.append("world.split: min_cells and split_every only matter with split = true (it is false)")
    for index, event in enumerate(file.events):
        if not isinstance(event, NEW_ORGANISMS) and first_step(event) > steps:
            found.append(f"events.{index}: happens first at step {first_step(event)}, after the run's last "
                         f"step ({steps}): it never happens")
        if isinstance(event, CutRect | CutLine) and not _touches_grid(event, height, width):
            found.append(f"events.{index}: the {event.kind} lies entirely outside the {height}x{width} grid")
    cells: dict[Position, str] = {}
    for organism in file.organisms:
        if organism.position in cells:
            found.append(f"organisms.{organism.name}.position: the same cell as {cells[organism.position]!r} "
                         f"{list(organism.position)}")
        cells.setdefault(organism.position, organism.name)
    for index, event in enumerate(file.events):
        if isinstance(event, Spawn) and event.position in cells:
            found.append(f"events.{index}.position: the same cell as {cells[event.position]!r} "
                         f"{list(event.position)}")
    return found


def _touches_grid(event: CutRect | CutLine, height: int, width: int) -> bool:
    """Whether the cut's bounding box overlaps the grid."""
    if isinstance(event, CutRect):
        (top, left), (rows, columns) = event.top_left, event.size
        return top < height and left < width and top + rows > 0 and left + columns > 0
    margin = event.width / 2
    ys, xs = (event.start[0], event.end[0]), (event.start[1], event.end[1])
    return (min(ys) - margin <= height - 1 and max(ys) + margin >= 0
            and min(xs) - margin <= width - 1 and max(xs) + margin >= 0)


def _after_addition(field: str, planted: tuple[int, int], species: str, added: tuple[int, int]) -> None:
    """Refuse an organism of an added species planted before the ``add_species`` event (at the
    same step: ``[[organisms]]`` entries come before events, so they must come a step later)."""
    if planted < added:
        raise ValueError(f"{field}.species: {species!r} joins the world at events.{added[1]} (step {added[0]}): "
                         f"expected the organism planted after that, got step {planted[0]}"
                         f"{' before the events of that step' if planted[1] < 0 else ''}")


def fission_root(name: str, names: list[str]) -> str | None:
    """The organism of `names` that `name` is a fission child of (``gecko.1``, ``gecko.2.1``: its
    children are named ``<parent>.<n>``, `World.split`), or None."""
    base, dot, number = name.rpartition(".")
    if not dot or not number.isdigit() or int(number) < 1:
        return None
    return base if base in names else fission_root(base, names)


def first_step(event: Timing) -> int:
    """The first step at which `event` happens."""
    return event.step if event.step is not None else event.from_


def _unique(field: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{field}: the name {name!r} is used twice")
        seen.add(name)


def _inside(field: str, position: Position, world: WorldSection) -> None:
    y, x = position
    if not (0 <= y < world.height and 0 <= x < world.width):
        raise ValueError(f"{field}: expected inside the {world.height}x{world.width} grid, got {list(position)}")


class Scenario:
    """A validated scenario with its species' rules loaded, ready to run; `added` holds the rules
    of the species its ``add_species`` events bring in later."""

    def __init__(self, file: ScenarioFile, text: str, path: Path, rules: dict[str, Rule],
                 added: dict[str, Rule] | None = None, walls: np.ndarray | None = None) -> None:
        self.file, self.text, self.path, self.rules = file, text, path, rules
        self.added = added or {}
        self.walls = walls  # bool (H, W) of the [[walls]]; None when they come from elsewhere (a recording)
        self.warnings = [f"{path}: {message}" for message in likely_mistakes(file)]

    def interactions(self) -> dict[tuple[str, str], str]:
        """The ``[[interactions]]`` levels by pair of species (for `World`)."""
        return {tuple(i.species): i.senses for i in self.file.interactions}  # type: ignore[misc]

    @property
    def steps(self) -> int:
        """Steps to run."""
        return self.file.run.steps


def load_scenario(path: Path | str, overrides: list[str] | None = None,
                  fields: dict[str, object] | None = None) -> Scenario:
    """Read, validate and resolve a scenario file; every problem raises `ScenarioError`.

    `overrides` are ``dotted.field=value`` strings (the value in TOML syntax) and `fields` a
    mapping of dotted paths to values; both are applied before validation. The stored text is
    then the scenario as run, overrides included.
    """
    path = Path(path)
    data, text = read_toml(path, ScenarioError)
    for override in overrides or []:
        apply_override(data, override, path)
    for dotted, value in (fields or {}).items():
        set_field(data, dotted, value, path)
    if overrides or fields:
        text = dump_toml(data)
    file = validate(ScenarioFile, data, path, text, ScenarioError)
    rules: dict[str, Rule] = {}
    for index, species in enumerate(file.species):
        rules[species.name] = _load_model(path, f"species.{index}.model", str(species.model))
    added = {e.name: _load_model(path, f"events.{i}.model", e.model)
             for i, e in enumerate(file.events) if isinstance(e, AddSpecies)}
    return _resolved(file, text, path, rules, added, wall_map(file, path))


def wall_map(file: ScenarioFile, path: Path) -> np.ndarray:
    """Bool ``(H, W)``: the cells of the ``[[walls]]`` (PNG paths relative to the scenario file);
    a PNG that cannot be read raises `ScenarioError` naming its entry."""
    world = file.world
    walls = np.zeros((world.height, world.width), bool)
    for index, shape in enumerate(file.walls):
        try:
            walls |= shape_mask(shape, world.height, world.width, world.boundary == "wrap", path.parent)
        except (OSError, ValueError) as error:
            raise ScenarioError(f"{path}: walls.{index}.path: expected a PNG image, got {shape.path} "
                                f"({error})") from error
    return walls


def _load_model(path: Path, field: str, model: str) -> Rule:
    """The rule of a scenario's model entry: a file relative to the scenario, or a library name."""
    found = library.locate(model, path.parent)
    if not found.exists() and library.is_library_name(model):
        raise ScenarioError(f"{path}: {field}: expected a model file (relative to the scenario) or a library "
                            f"name, got {model!r}: not in {', '.join(str(f) for f in library.folders())}")
    try:
        return load_rule(found)
    except ModelFileError as error:
        raise ScenarioError(f"{path}: {field}: {error}") from error


def dump_toml(data: dict) -> str:
    """A parsed scenario written back as TOML (tables, arrays of tables, scalars and arrays)."""
    lines: list[str] = []

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} as TOML")

    def table(header: str, body: dict) -> None:
        lines.append(header)
        lines.extend(f"{key} = {value(v)}" for key, v in body.items())
        lines.append("")

    for key, v in data.items():
        if isinstance(v, dict):
            table(f"[{key}]", v)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                table(f"[[{key}]]", item)
        else:
            lines.insert(0, f"{key} = {value(v)}")
    return "\n".join(lines)


def load_scenario_text(text: str, origin: Path, rules: dict[str, Rule]) -> Scenario:
    """A scenario from its TOML text (as stored in a recording) with already loaded rules."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{origin}: stored scenario is not valid TOML: {error}") from error
    file = validate(ScenarioFile, data, origin, text, ScenarioError)
    added = [e.name for e in file.events if isinstance(e, AddSpecies)]
    missing = [name for name in [*(s.name for s in file.species), *added] if name not in rules]
    if missing:
        raise ScenarioError(f"{origin}: species {missing}: no embedded model")
    walls = None if any(shape.shape == "png" for shape in file.walls) else wall_map(file, origin)
    return _resolved(file, text, origin, {s.name: rules[s.name] for s in file.species},
                     {name: rules[name] for name in added}, walls)


def _resolved(file: ScenarioFile, text: str, path: Path, rules: dict[str, Rule],
              added: dict[str, Rule] | None = None, walls: np.ndarray | None = None) -> Scenario:
    """Cross-checks that need the rules (those of the ``[[species]]`` and of species `added` by
    events): equal channel counts and alive thresholds, identity lengths, noise channels."""
    added = added or {}
    first = next(iter(rules.values())).spec
    for name, rule in added.items():
        field = f"{path}: events.{file.added_steps()[name][1]}.model"
        if rule.spec.channels != first.channels:
            raise ScenarioError(f"{field}: expected {first.channels} channels like the [[species]], "
                                f"got {rule.spec.channels}")
        if rule.spec.alive_threshold != first.alive_threshold:
            raise ScenarioError(f"{field}: expected alive_threshold {first.alive_threshold} like the [[species]], "
                                f"got {rule.spec.alive_threshold}")
    channels = {name: rule.spec.channels for name, rule in rules.items()}
    if len(set(channels.values())) > 1:
        raise ScenarioError(f"{path}: species: expected every species to have the same channel count, "
                            f"got {channels}")
    channel_count = next(iter(channels.values()))
    species_rules, rules = rules, {**rules, **added}
    species_of = {o.name: o.species for o in file.organisms}
    species_of.update({e.name: e.species for e in file.events if isinstance(e, NEW_ORGANISMS)})
    for index, event in enumerate(file.events):
        if isinstance(event, Noise) and event.channels:
            _check_channels(path, f"events.{index}.channels", event.channels, channel_count)
        if isinstance(event, NEW_ORGANISMS):
            _check_identity(path, f"events.{index}.identity", event.identity,
                            rules[event.species].spec.identity_channels)
        if isinstance(event, SetIdentity):
            organism = event.organism  # or a fission child's ancestor
            organism = organism if organism in species_of else fission_root(organism, list(species_of))  # type: ignore[arg-type]
            _check_identity(path, f"events.{index}.identity", event.identity,
                            rules[species_of[organism]].spec.identity_channels)  # type: ignore[index]
    for organism in file.organisms:
        _check_identity(path, f"organisms.{organism.name}.identity", organism.identity,
                        rules[organism.species].spec.identity_channels)
    if isinstance(file.record.channels, list):
        _check_channels(path, "record.channels", file.record.channels, channel_count)
    # those planted at step 0, before any wall event (later ones meet the walls of their step: `World.spawn`)
    planted = [(f"organisms.{o.name}.position", o.position) for o in file.organisms if o.spawn_step == 0]
    for field, (y, x) in planted if walls is not None else []:
        if walls[y, x]:
            raise ScenarioError(f"{path}: {field}: expected a cell that is not a wall, got {[y, x]}")
    return Scenario(file, text, path, species_rules, added, walls)


def _check_channels(path: Path, field: str, chosen: list[int], count: int) -> None:
    if not chosen:
        raise ScenarioError(f"{path}: {field}: expected at least one channel number, got []")
    bad = [c for c in chosen if not 0 <= c < count]
    if bad:
        raise ScenarioError(f"{path}: {field}: expected channel numbers 0..{count - 1}, got {bad}")
    if len(set(chosen)) != len(chosen):
        raise ScenarioError(f"{path}: {field}: expected each channel once, got {chosen}")


def _check_identity(path: Path, field: str, identity: list[float] | float | None, count: int) -> None:
    if identity is None or isinstance(identity, float | int):
        if identity is not None and count == 0:
            raise ScenarioError(f"{path}: {field}: expected no identity (the species has none), got {identity}")
        return
    if count == 0 and identity:
        raise ScenarioError(f"{path}: {field}: expected no identity (the species has none), got {identity}")
    if len(identity) != count:
        raise ScenarioError(f"{path}: {field}: expected {count} value(s), got {identity}")


def apply_override(data: dict, override: str, path: Path) -> None:
    """Set ``a.b.0.c=value`` (the value in TOML syntax, or a bare word) in the parsed TOML `data`."""
    if "=" not in override:
        raise ScenarioError(f"{path}: --set {override!r}: expected field.path=value")
    dotted, raw = override.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string
    set_field(data, dotted.strip(), value, path)


def set_field(data: dict, dotted: str, value: object, path: Path) -> None:
    """Set the field at the dotted path (lists indexed by number) in the parsed TOML `data`."""
    keys = dotted.split(".")
    node: object = data
    try:
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})  # type: ignore[union-attr]
        if isinstance(node, list):
            node[int(keys[-1])] = value
        elif isinstance(node, dict):
            node[keys[-1]] = value
        else:
            raise TypeError(dotted)
    except (ValueError, IndexError, TypeError, AttributeError) as error:
        raise ScenarioError(f"{path}: {dotted}: does not name a field of the scenario") from error

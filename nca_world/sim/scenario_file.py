"""The whole scenario file as one model, `ScenarioFile`, with the checks across its tables (names
used once, species and organisms that exist, positions inside the grid, events after their
organism is planted), and `likely_mistakes`: valid settings that most likely do nothing."""

from __future__ import annotations

from pydantic import Field, model_validator

from nca_world.agents.config import Strict
from nca_world.sim.scenario_events import (
    NEW_ORGANISMS,
    AddSpecies,
    Convert,
    CutCircle,
    CutLine,
    CutRect,
    Event,
    Move,
    Spawn,
    first_step,
)
from nca_world.sim.scenario_sections import (
    InteractionSection,
    OrganismSection,
    Position,
    RecordSection,
    RunSection,
    SpeciesSection,
    WallShape,
    WorldSection,
)


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

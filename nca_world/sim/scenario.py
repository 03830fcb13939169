"""Scenario files: TOML scripts of a run, validated into frozen typed objects before anything runs.
This module loads them: `load_scenario` reads, validates and resolves a file (its species' rules
loaded, its walls drawn) into a `Scenario`, `load_scenario_text` does so for a recording's stored text.

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
The tables are the models of `sim.scenario_sections`, the events those of `sim.scenario_events`
(their kinds are listed there), the whole file `sim.scenario_file.ScenarioFile`; ``--set``
overrides are applied by `sim.scenario_toml`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from nca_world.agents import library
from nca_world.agents.config import read_toml, validate
from nca_world.agents.errors import ModelFileError, ScenarioError
from nca_world.agents.modelfile import load_rule
from nca_world.agents.spec import Rule
from nca_world.sim.meeting import shape_mask
from nca_world.sim.scenario_events import NEW_ORGANISMS, AddSpecies, Noise, SetIdentity
from nca_world.sim.scenario_file import ScenarioFile, fission_root, likely_mistakes
from nca_world.sim.scenario_toml import apply_override, dump_toml, set_field


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

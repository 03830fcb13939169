"""Running a scenario: build the world, apply events when due, step, record.

At each step ``t`` (from 0 to ``steps``): the events due at ``t`` are applied (the organisms'
spawns first, then ``[[events]]`` in file order), the world is observed (metrics, and a frame
and a keyframe when due), then the world steps. A recording of ``steps`` steps therefore holds
frames ``0 .. steps``.
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nca_world.agents.errors import RecordingError, ScenarioError
from nca_world.agents.spec import Rule
from nca_world.sim import core, fission
from nca_world.sim import events as event_ops
from nca_world.sim import world as world_module
from nca_world.sim.recorder import Recorder
from nca_world.sim.recorder_settings import channel_selection, recorded_channels, recording_memory
from nca_world.sim.recording import Recording, open_recording
from nca_world.sim.scenario import Scenario, load_scenario_text
from nca_world.sim.scenario_events import AddSpecies, Spawn, Split
from nca_world.sim.scenario_sections import MAX_STEPS
from nca_world.sim.scenario_toml import apply_override, dump_toml
from nca_world.sim.threads import check_threads
from nca_world.sim.world import World


@dataclass(frozen=True)
class Summary:
    """What a run did."""

    steps: int  # steps run by this call
    seconds: float  # of the steps after the first
    recording: Path
    recording_bytes: int
    organisms: list[tuple[str, int]]  # name, living cells at the end
    first_step_seconds: float = 0.0  # the first step, which loads (or compiles) the numba kernels

    @property
    def steps_per_second(self) -> float:
        """The stepping rate after the first step (inf when nothing was timed)."""
        timed = self.steps - 1
        return timed / self.seconds if timed > 0 and self.seconds > 0 else float("inf")


def kernels_cached() -> bool:
    """Whether numba's on-disk cache holds the core's kernels (else the first step compiles them,
    which takes a minute on a small machine)."""
    folder = os.environ.get("NUMBA_CACHE_DIR")
    places = [Path(folder)] if folder else [Path(core.__file__).parent / "__pycache__"]
    return any(next(place.rglob("core.*.nbi"), None) for place in places if place.is_dir())


def build_world(scenario: Scenario, seed: int | None = None, memory_limit: int | None = None) -> World:
    """The empty world of a scenario (organisms are spawned by the run)."""
    section = scenario.file.world
    world = World(section.height, section.width, species=scenario.rules, boundary=section.boundary,
                  seed=section.seed if seed is None else seed, memory_limit=memory_limit, senses=section.senses,
                  interactions=scenario.interactions(), contest=section.contest)
    if scenario.walls is not None:
        world.set_walls(scenario.walls)
    return world


def check_memory(scenario: Scenario, memory_limit: int | None = None) -> None:
    """Refuse a scenario whose world and recording need more memory than `memory_limit` bytes
    (default: what the machine has available), before anything is allocated."""
    section, record = scenario.file.world, scenario.file.record
    rules = list(scenario.rules.values())
    channels = rules[0].spec.channels
    recorded = len(channel_selection(record.channels, channels, rules))
    needed = world_module.memory_needed(section.height, section.width, channels,
                                        max(r.spec.hidden for r in rules), len(rules))
    needed += recording_memory(section.height, section.width, recorded, channels, dtype=record.dtype,
                               every=record.every, flush_every=record.flush_every)
    world_module.check_memory(needed, f"{scenario.path}: world ({section.height}x{section.width}, {channels} "
                              "channels, with its recording)", memory_limit)


def check_steps(origin: Path, steps: int, at: int | None = None) -> int:
    """`steps` (the step a run ends at) if it is a run's length: more than 0, or than `at` for a fork."""
    low = 1 if at is None else at + 1
    if isinstance(steps, bool) or not isinstance(steps, int) or not low <= steps <= MAX_STEPS:
        after = "" if at is None else f" (the step to end at, after --at {at})"
        raise ScenarioError(f"{origin}: steps: expected {low}..{MAX_STEPS}{after}, got {steps}")
    return steps


def output_path(scenario: Scenario, out: Path | None = None) -> Path:
    """Where a run of `scenario` records: `out`, else its ``record.path`` taken relative to the
    scenario file (like its model files), made absolute."""
    path = out if out is not None else scenario.file.record.path
    if out is None and not path.is_absolute():
        path = scenario.path.parent / path
    return Path(os.path.abspath(path))


def fork_path(source: Path, at: int) -> Path:
    """Where a fork of `source` at step `at` records by default: beside it, under a name no file
    has yet (``run.fork-at-300.h5``, then ``run.fork-at-300-2.h5`` ...)."""
    source = Path(os.path.abspath(source))
    path, n = source.with_name(f"{source.stem}.fork-at-{at}{source.suffix}"), 1
    while path.exists() or path.with_name(path.name + ".lock").exists():
        n += 1
        path = source.with_name(f"{source.stem}.fork-at-{at}-{n}{source.suffix}")
    return path


def scheduled_events(scenario: Scenario) -> list[Any]:
    """Every scripted event: one spawn per ``[[organisms]]`` entry, then ``[[events]]``."""
    spawns = [Spawn(kind="spawn", step=o.spawn_step, name=o.name, species=o.species, position=o.position,
                    identity=o.identity) for o in scenario.file.organisms]
    return [*spawns, *scenario.file.events]


class Run:
    """One run in progress: a world, its scripted events and an optional recorder.

    Interactive events (from the viewer) go through `apply` like scripted ones and are logged
    the same way, so a replay of the log reproduces a live session.
    """

    def __init__(self, scenario: Scenario, world: World, recorder: Recorder | None) -> None:
        self.scenario, self.world, self.recorder = scenario, world, recorder
        self.scripted = scheduled_events(scenario)
        self.applied_this_step = 0
        self.models: dict[str, Rule] = dict(scenario.added)  # rules that add_species events bring in, by species

    def apply(self, event: Any, source: str) -> dict[str, Any]:
        """Apply one event now and log it (a new species' model is embedded in the recording)."""
        effect = event_ops.apply(self.world, event, self.applied_this_step, self.models)
        self.applied_this_step += 1
        record = event_ops.record_of(event, self.world.step_count, effect, source)
        if self.recorder is not None:
            if isinstance(event, AddSpecies):
                self.recorder.embed(event.name, self.world.rules[event.name])
            self.recorder.event(record)
        return record

    def apply_scripted(self) -> None:
        """Apply the scripted events due at the current step, then the splits due (`split_due`)."""
        for event in self.scripted:
            if event.happens_at(self.world.step_count):
                self.apply(event, "scenario")
        self.split_due()

    def split_due(self) -> None:
        """With ``[world] split = true``, at steps that are multiples of ``split_every``: each
        organism in two or more large parts splits (`sim.fission`), logged as a ``split`` event
        from the ``world`` (replays and forks redo the log, not the check)."""
        section = self.scenario.file.world
        if not section.split or self.world.step_count % section.split_every:
            return
        for name in fission.splitting(self.world, section.min_cells):
            self.apply(Split(organism=name, min_cells=section.min_cells), "world")

    def replay(self, records: Iterable[dict[str, Any]]) -> None:
        """Apply logged events again, in their order."""
        for record in records:
            self.apply(event_ops.event_of(record), record["source"])

    def observe(self) -> None:
        """Record the current state."""
        if self.recorder is not None:
            self.recorder.observe(self.world)

    def step(self) -> None:
        """Advance the world one step."""
        self.world.step()
        self.applied_this_step = 0

    def advance(self) -> None:
        """Scripted events due now, observation, one step."""
        self.apply_scripted()
        self.observe()
        self.step()


def run_scenario(scenario: Scenario, *, steps: int | None = None, out: Path | None = None,
                 seed: int | None = None, progress: bool = True,
                 on_step: Callable[[World], None] | None = None, overwrite: str = "never",
                 memory_limit: int | None = None, on_start: Callable[[Path], None] | None = None,
                 threads: int | None = None) -> Summary:
    """Run `scenario` for `steps` (default: its own) and record it to `out` (default: its own,
    see `output_path`). Everything is checked before step 0: the steps, the memory the world
    and its recording need (`memory_limit`, default: the memory available) and the output path
    (see `sim.recorder_output.check_output`; `overwrite` says which existing recordings it may replace:
    "never" by default, "finished" or "any"). `threads` fixes numba's thread count; None chooses
    it by measurement as the machine's load changes (`sim.threads`).
    `on_start` is called with the recording's path once it is created."""
    steps = scenario.steps if steps is None else check_steps(scenario.path, steps)
    check_threads(threads)
    path = output_path(scenario, out)
    check_memory(scenario, memory_limit)
    world = build_world(scenario, seed, memory_limit)
    recorder = recorder_for(scenario, world, path, overwrite=overwrite)
    if on_start is not None:
        on_start(path)
    return _drive(Run(scenario, world, recorder), steps, progress, on_step, threads)


def stored_scenario(original: Recording, overrides: Iterable[str] = ()) -> Scenario:
    """The scenario a recording ran, with ``field=value`` `overrides` applied."""
    text = original.scenario_text
    overrides = list(overrides)
    if overrides:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ScenarioError(f"{original.path}: stored scenario is not valid TOML: {error}") from error
        for override in overrides:
            apply_override(data, override, original.path)
        text = dump_toml(data)
    return load_scenario_text(text, original.path, original.models)


def check_fork_point(original: Recording, at: int) -> np.ndarray:
    """Refuse a step `at` that `original` cannot be restored at; its keyframe steps otherwise."""
    keyframes = original.keyframe_steps
    if not len(keyframes) or not len(original):
        raise RecordingError(f"{original.path}: keyframes: expected at least one to fork from, got none (the run "
                             "stopped before its first flush)")
    first, last = int(keyframes[0]), int(original.steps[-1])
    if isinstance(at, bool) or not isinstance(at, int | np.integer) or not first <= at <= last:
        raise RecordingError(f"{original.path}: --at: expected a step in {first}..{last}, got {at}")
    return keyframes


def restore_at(original: Recording, at: int, scenario: Scenario | None = None) -> Run:
    """A run (without recorder) whose world is exactly where `original`'s was at step `at`, after
    that step's events: the last keyframe at or before `at`, then the logged events replayed.

    A new `scenario` must keep the recording's ``[world]``: the state comes from the recording."""
    keyframes = check_fork_point(original, at)
    stored = load_scenario_text(original.scenario_text, original.path, original.models)
    if scenario is None:
        scenario = stored
    elif scenario.file.world != stored.file.world:
        raise ScenarioError(f"{scenario.path}: world: expected the recording's [world] in a fork "
                            f"({_world_text(stored)}), got {_world_text(scenario)}")
    keyed = [i for i, s in enumerate(keyframes) if s <= at]
    key = original.keyframe(keyed[-1])
    world = build_world(scenario, original.seed)
    run = Run(scenario, world, None)
    run.models.update(original.models)
    events = original.events
    for name in species_at_keyframe(original, events, key.events_before):
        if name not in world.rules:
            if name not in run.models:
                raise RecordingError(f"{original.path}: events: add_species {name!r}: expected its model "
                                     "embedded in the recording, got none")
            world.add_species(name, run.models[name])
    world.restore(key.step, key.state, key.owner, key.organisms, key.walls)
    log = [r for r in events[key.events_before :] if r["step"] <= at]
    while True:
        run.replay(r for r in log if r["step"] == world.step_count)
        if world.step_count == at:
            return run
        run.step()


def species_at_keyframe(original: Recording, events: list[dict[str, Any]], events_before: int) -> list[str]:
    """The species a recorded world had at a keyframe logged after `events_before` events: those it
    had when the file was created (``/models``; a live recording may start after species joined)
    that no logged event adds, then those that ``add_species`` events before the keyframe added."""
    logged = [r["event"]["name"] for r in events if r["event"]["kind"] == "add_species"]
    before = [r["event"]["name"] for r in events[:events_before] if r["event"]["kind"] == "add_species"]
    return [name for name in original.file["models"] if name not in logged] + before


def _world_text(scenario: Scenario) -> str:
    w = scenario.file.world
    return f"{w.height}x{w.width}, boundary {w.boundary!r}, seed {w.seed}"


def fork(recording_path: Path, at: int, scenario: Scenario | None = None, *, steps: int | None = None,
         out: Path | None = None, progress: bool = True, overwrite: str = "never",
         overrides: Iterable[str] = (), memory_limit: int | None = None,
         on_start: Callable[[Path], None] | None = None, threads: int | None = None) -> Summary:
    """Continue a recording after step `at`, with its own scenario (`overrides` applied) or a
    new one, until step `steps` (default: the scenario's).

    The new recording (`out`, default `fork_path`) starts with the original's frames, metrics,
    events and keyframes up to `at`, so both agree there exactly; then the run goes on with
    `scenario`'s events. It is never the original itself.
    """
    check_threads(threads)
    with open_recording(recording_path) as original:
        check_fork_point(original, at)
        if scenario is None:
            scenario = stored_scenario(original, overrides)
        elif list(overrides):
            raise ScenarioError(f"{scenario.path}: --set: expected the overrides applied to the scenario file, "
                                "got them passed to fork")
        check_memory(scenario, memory_limit)
        run = restore_at(original, at, scenario)
        steps = check_steps(scenario.path, run.scenario.steps if steps is None else steps, at)
        path = fork_path(recording_path, at) if out is None else Path(os.path.abspath(out))
        run.recorder = recorder_for(run.scenario, run.world, path, prefix=(original, at), overwrite=overwrite)
    if on_start is not None:
        on_start(path)
    run.step()
    return _drive(run, steps, progress, None, threads)


def recorder_for(scenario: Scenario, world: World, path: Path, prefix: tuple | None = None,
                 overwrite: str = "any") -> Recorder:
    """A recorder of `world` to `path` with the scenario's recording settings (and the models its
    `add_species` events name)."""
    record = scenario.file.record
    recorder = Recorder(path, world, scenario_text=scenario.text,
                        channels=recorded_channels(record.channels, world), dtype=record.dtype,
                        compression=record.compression, every=record.every, keyframe_every=record.keyframe_every,
                        flush_every=record.flush_every, prefix=prefix, overwrite=overwrite)
    for name, rule in scenario.added.items():  # the stored scenario needs them, even if the run stops earlier
        recorder.embed(name, rule)
    return recorder


def _drive(run: Run, steps: int, progress: bool, on_step: Callable[[World], None] | None,
           threads: int | None) -> Summary:
    from tqdm import tqdm

    world, recorder = run.world, run.recorder
    world.threads = threads
    first_seconds, started_at = 0.0, world.step_count
    bar = None
    complete = False
    try:
        if world.step_count < steps:  # the first step loads or compiles the kernels: kept out of the timing
            if progress and not kernels_cached():
                print("compiling kernels (first run only) ...", file=sys.stderr, flush=True)
            first = time.perf_counter()
            run.advance()
            first_seconds = time.perf_counter() - first
            if on_step is not None:
                on_step(world)
        start = time.perf_counter()
        bar = tqdm(total=steps, initial=world.step_count, disable=not progress, unit="step", dynamic_ncols=True)
        while world.step_count < steps:
            run.advance()
            bar.update(1)
            if on_step is not None:
                on_step(world)
        run.apply_scripted()
        run.observe()
        complete = True
    finally:
        if bar is not None:
            bar.close()
        if recorder is not None:
            recorder.close(complete=complete)
    seconds = time.perf_counter() - start
    alive = [(o.name, int((world.owner == o.index).sum())) for o in world.organisms]
    path = recorder.path if recorder is not None else Path()
    return Summary(world.step_count - started_at, seconds, path, path.stat().st_size if recorder is not None else 0,
                   alive, first_seconds)

"""Running a scenario: build the world, apply events when due, step, record.

At each step ``t`` (from 0 to ``steps``): the events due at ``t`` are applied (the organisms'
spawns first, then ``[[events]]`` in file order), the world is observed (metrics, and a frame
and a keyframe when due), then the world steps. A recording of ``steps`` steps therefore holds
frames ``0 .. steps``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.errors import RecordingError
from sim import events as event_ops
from sim.recorder import Recorder, Recording, open_recording, recorded_channels
from sim.scenario import Scenario, Spawn, load_scenario_text
from sim.world import World


@dataclass(frozen=True)
class Summary:
    """What a run did."""

    steps: int
    seconds: float
    recording: Path
    recording_bytes: int
    organisms: list[tuple[str, int]]  # name, living cells at the end


def build_world(scenario: Scenario, seed: int | None = None) -> World:
    """The empty world of a scenario (organisms are spawned by the run)."""
    section = scenario.file.world
    return World(section.height, section.width, species=scenario.rules, boundary=section.boundary,
                 seed=section.seed if seed is None else seed)


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

    def apply(self, event: Any, source: str) -> dict[str, Any]:
        """Apply one event now and log it."""
        effect = event_ops.apply(self.world, event, self.applied_this_step)
        self.applied_this_step += 1
        record = event_ops.record_of(event, self.world.step_count, effect, source)
        if self.recorder is not None:
            self.recorder.event(record)
        return record

    def apply_scripted(self) -> None:
        """Apply the scripted events due at the current step."""
        for event in self.scripted:
            if event.happens_at(self.world.step_count):
                self.apply(event, "scenario")

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
                 on_step: Callable[[World], None] | None = None) -> Summary:
    """Run `scenario` for `steps` (default: its own) and record it to `out` (default: its own)."""
    steps = scenario.steps if steps is None else steps
    world = build_world(scenario, seed)
    recorder = _recorder(scenario, world, _output_path(scenario, out))
    return _drive(Run(scenario, world, recorder), steps, progress, on_step)


def restore_at(original: Recording, at: int, scenario: Scenario | None = None) -> Run:
    """A run (without recorder) whose world is exactly where `original`'s was at step `at`, after
    that step's events: the last keyframe at or before `at`, then the logged events replayed."""
    keyed = [i for i, s in enumerate(original.keyframe_steps) if s <= at]
    if not keyed:
        raise RecordingError(f"{original.path}: no keyframe at or before step {at}")
    if at > int(original.steps[-1]):
        raise RecordingError(f"{original.path}: step {at} is past the recording's end ({original.steps[-1]})")
    if scenario is None:
        scenario = load_scenario_text(original.scenario_text, original.path, original.models)
    key = original.keyframe(keyed[-1])
    world = build_world(scenario, original.seed)
    world.restore(key.step, key.state, key.owner, key.organisms)
    run = Run(scenario, world, None)
    log = [r for r in original.events[key.events_before :] if r["step"] <= at]
    while True:
        run.replay(r for r in log if r["step"] == world.step_count)
        if world.step_count == at:
            return run
        run.step()


def fork(recording_path: Path, at: int, scenario: Scenario | None = None, *, steps: int | None = None,
         out: Path | None = None, progress: bool = True) -> Summary:
    """Continue a recording after step `at`, with its own scenario or a new one.

    The new recording starts with the original's frames, metrics, events and keyframes up to
    `at`, so both agree there exactly; then the run goes on with `scenario`'s events.
    """
    with open_recording(recording_path) as original:
        run = restore_at(original, at, scenario)
        run.recorder = _recorder(run.scenario, run.world, _output_path(run.scenario, out), prefix=(original, at))
    run.step()
    return _drive(run, run.scenario.steps if steps is None else steps, progress, None)


def _output_path(scenario: Scenario, out: Path | None) -> Path:
    if out is not None:
        return out
    path = scenario.file.record.path
    return path if path.is_absolute() else Path.cwd() / path


def _recorder(scenario: Scenario, world: World, path: Path, prefix: tuple | None = None) -> Recorder:
    record = scenario.file.record
    return Recorder(path, world, scenario_text=scenario.text,
                    channels=recorded_channels(record.channels, world), dtype=record.dtype,
                    compression=record.compression, every=record.every, keyframe_every=record.keyframe_every,
                    flush_every=record.flush_every, prefix=prefix)


def _drive(run: Run, steps: int, progress: bool, on_step: Callable[[World], None] | None) -> Summary:
    from tqdm import tqdm

    world, recorder = run.world, run.recorder
    start = time.perf_counter()
    bar = tqdm(total=steps, initial=world.step_count, disable=not progress, unit="step", dynamic_ncols=True)
    complete = False
    try:
        while world.step_count < steps:
            run.advance()
            bar.update(1)
            if on_step is not None:
                on_step(world)
        run.apply_scripted()
        run.observe()
        complete = True
    finally:
        bar.close()
        if recorder is not None:
            recorder.close(complete=complete)
    seconds = time.perf_counter() - start
    alive = [(o.name, int((world.owner == o.index).sum())) for o in world.organisms]
    path = recorder.path if recorder is not None else Path()
    return Summary(steps, seconds, path, path.stat().st_size if recorder is not None else 0, alive)

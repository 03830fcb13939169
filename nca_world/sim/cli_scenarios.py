"""The scenario commands of `nca-world`: `run` (a scenario, or a fork of a recording) and `validate`,
and the loading of a scenario with its warnings that `view` and `snapshot` share."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nca_world.agents.errors import NcaWorldError

if TYPE_CHECKING:
    from nca_world.sim.scenario import Scenario


def loaded_scenario(path: Path, overrides: list[str]) -> Scenario:
    """The scenario at `path`, its warnings printed to stderr."""
    from nca_world.sim.scenario import load_scenario

    scenario = load_scenario(path, overrides)
    for warning in scenario.warnings:
        print(f"nca-world: warning: {warning}", file=sys.stderr)
    return scenario


def run(args: argparse.Namespace) -> None:
    """`nca-world run`: run a scenario and record it, or fork a recording at a step."""
    from nca_world.agents.errors import RecordingError, ScenarioError
    from nca_world.sim.runner import check_steps, fork, run_scenario

    def announce(path: Path) -> None:
        print(f"recording to {path}", flush=True)

    overwrite = "finished" if args.overwrite else "never"  # the run of a recording replaced must have ended
    origin = args.source or args.scenario or Path("run")
    if args.steps is not None:
        check_steps(origin, args.steps)
    if args.source is None and args.at is not None:
        raise ScenarioError(f"{origin}: --at: expected --from RECORDING with it, got --at {args.at} alone")
    if args.source is not None:
        if args.at is None:
            raise RecordingError(f"{args.source}: --at: expected the step to fork at, got none")
        if args.at < 0:
            raise RecordingError(f"{args.source}: --at: expected a step >= 0, got {args.at}")
        if args.seed is not None:
            raise RecordingError(f"{args.source}: --seed: expected none in a fork (it keeps the recording's seed), "
                                f"got {args.seed}")
        scenario = loaded_scenario(args.scenario, args.set) if args.scenario else None
        summary = fork(args.source, args.at, scenario, steps=args.steps, out=args.out, overwrite=overwrite,
                       overrides=[] if args.scenario else args.set, on_start=announce, threads=args.threads)
    elif args.scenario is None:
        raise ScenarioError("run: scenario: expected a scenario file, or --from RECORDING --at STEP, got neither")
    else:
        summary = run_scenario(loaded_scenario(args.scenario, args.set), steps=args.steps, out=args.out,
                               seed=args.seed, overwrite=overwrite, on_start=announce, threads=args.threads)
    print(f"ran {summary.steps} steps in {summary.first_step_seconds + summary.seconds:.1f} s: "
          f"{summary.steps_per_second:.0f} steps/s after the first step, which took "
          f"{summary.first_step_seconds:.1f} s (loading the numba kernels)")
    for name, cells in summary.organisms:
        print(f"  {name:20} {'alive' if cells else 'dead ':5} {cells:7d} cells")
    print(f"recording: {summary.recording} ({summary.recording_bytes / 1e6:.1f} MB)")


def validate(args: argparse.Namespace) -> None:
    """`nca-world validate`: check every scenario file given, then refuse with all their problems."""
    from nca_world.sim.scenario import load_scenario

    failed = []
    for path in args.paths:
        try:
            scenario = load_scenario(path)
        except NcaWorldError as error:
            failed.append(str(error))
            continue
        for warning in scenario.warnings:
            print(f"nca-world: warning: {warning}", file=sys.stderr)
        print(f"{path}: OK" + (f" ({len(scenario.warnings)} warning(s))" if scenario.warnings else ""))
    if failed:
        raise NcaWorldError("\n".join(failed))

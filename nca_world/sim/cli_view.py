"""The picture commands of `nca-world`: `view` (a window on a live scenario or a replay) and
`snapshot` (a PNG of chosen steps, no screen needed). Neither imports torch."""

from __future__ import annotations

import argparse

from nca_world.agents.errors import NcaWorldError
from nca_world.sim.cli_scenarios import loaded_scenario


def view(args: argparse.Namespace) -> None:
    """`nca-world view`: watch a scenario live, or replay a recording."""
    from nca_world.sim.recording import open_recording
    from nca_world.sim.runner import Run, build_world
    from nca_world.sim.viewer import HEADLESS_HINT, Viewer, missing_display
    from nca_world.sim.viewer_sources import LiveSource, ReplaySource

    problem = missing_display()
    if problem:
        raise NcaWorldError(f"view: {problem}; {HEADLESS_HINT}")
    if args.record_to is not None and args.record_to.exists():
        raise NcaWorldError(f"{args.record_to}: --record-to: expected a new file (a live session never "
                            f"overwrites), got an existing one")
    if args.path.suffix == ".toml":
        scenario = loaded_scenario(args.path, args.set)
        source = LiveSource(Run(scenario, build_world(scenario), None), record_to=args.record_to)
    else:
        source = ReplaySource(open_recording(args.path))
    with Viewer(source, zoom=args.zoom, fps=args.fps) as viewer:
        if args.view:
            viewer.state.view = args.view
        viewer.run()


def snapshot(args: argparse.Namespace) -> None:
    """`nca-world snapshot`: one PNG with a panel for each step of a scenario or recording."""
    from nca_world.sim.recording import open_recording
    from nca_world.sim.runner import Run, build_world
    from nca_world.sim.snapshot import check_output
    from nca_world.sim.snapshot import snapshot as write_snapshot
    from nca_world.sim.viewer_sources import LiveSource, ReplaySource

    try:
        steps = [int(s) for s in args.at.split(",")]
    except ValueError:
        raise NcaWorldError(f"snapshot: --at: expected steps separated by commas, got {args.at!r}") from None
    if any(s < 0 for s in steps):
        raise NcaWorldError(f"snapshot: --at: expected steps >= 0, got {args.at!r}")
    check_output(args.out)  # before a live scenario is built and run
    if args.path.suffix == ".toml":
        scenario = loaded_scenario(args.path, args.set)
        source = LiveSource(Run(scenario, build_world(scenario), None))
        written = write_snapshot(source, steps, args.out, view=args.view, zoom=args.zoom, labels=not args.no_labels)
    else:
        with open_recording(args.path) as recording:
            written = write_snapshot(ReplaySource(recording), steps, args.out, view=args.view, zoom=args.zoom,
                               labels=not args.no_labels)
    print(f"wrote {written}")

"""The result commands of `nca-world`: `analyze` (tables, figures and a video of one recording),
`sweep` (a grid of runs on Dask) and `report` (statistics and a markdown report of a sweep)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nca_world.agents.errors import NcaWorldError


def analyze(args: argparse.Namespace) -> None:
    """`nca-world analyze`: per-organism tables, figures, a summary and optionally a video of a recording."""
    from nca_world.sim import figures
    from nca_world.sim.analysis import analyze as analyze_recording
    from nca_world.sim.recording import open_recording

    out = args.out or args.recording.with_suffix("")
    video = args.video  # where the user asked: relative to the current folder, not the recording
    view = args.view or "rgb"
    with open_recording(args.recording) as recording:
        figures.check_outputs(recording, out, video, args.view or ("rgb" if video else None))  # before any work
        analysis = analyze_recording(recording, rotations=args.rotations)
        written = figures.write_tables(analysis, out)
        written.append(figures.plot_timeseries(analysis, out / "shape_error_and_mass.png"))
        written.append(figures.plot_tracks(analysis, recording, out / "centroid_tracks.png"))
        montage = figures.montage(analysis, recording, out / "damage_montage.png")
        written += [montage] if montage else []
        for extra in (figures.plot_lineage(analysis, out / "lineage.png"),
                      figures.plot_body_shares(analysis, out / "body_shares.png")):
            written += [extra] if extra else []
        if video is not None:
            video.parent.mkdir(parents=True, exist_ok=True)
            written.append(figures.export_video(recording, video, view=view, scale=args.zoom))
    print(analysis.summary())
    print(f"wrote {len(written)} files to {out}/" + (f" and {video}" if video is not None else ""))


def sweep(args: argparse.Namespace) -> None:
    """`nca-world sweep`: run a sweep file's runs and controls; Ctrl-C keeps the finished ones."""
    from nca_world.sim.sweep import Sweep
    from nca_world.sim.sweep_run import collect, run_sweep

    planned = Sweep(args.sweep)
    out = args.out or Path("sweeps") / args.sweep.stem
    try:
        table = run_sweep(planned, out, scheduler=args.scheduler, workers=args.workers)
    except KeyboardInterrupt:
        collect(planned, out)
        print(f"nca-world: interrupted; finished runs are in {out}/results.csv (rerun to continue)",
              file=sys.stderr)
        raise SystemExit(130) from None
    failed = int((table["error"].astype("string").fillna("") != "").sum()) if "error" in table else 0
    print(f"{len(table)} runs ({failed} failed): {out / 'results.csv'}")
    if planned.controls():
        print(f"{len(planned.controls())} controls: {out / 'controls.csv'}")
    print(f"per-step series of every run: {out / 'series.h5'}")


def report(args: argparse.Namespace) -> None:
    """`nca-world report`: write a sweep folder's report and print it."""
    from nca_world.sim.report import write_report

    if not (args.folder / "results.csv").is_file():
        raise NcaWorldError(f"{args.folder}: no results.csv (run `nca-world sweep` first)")
    path = write_report(args.folder, group=args.compare, by=args.by, measure=args.measure, title=args.title,
                        replicates=args.replicates)
    print(path.read_text())

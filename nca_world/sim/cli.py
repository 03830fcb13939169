"""The `nca-world` command: the entry point `main` and the argument parser with its argument types.
Each command's handler lives in a module of its own kind (cli_scenarios, cli_view, cli_analysis,
cli_models, cli_train), which imports its heavy dependencies only when the command runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from nca_world.agents.errors import NcaWorldError
from nca_world.sim import cli_analysis, cli_models, cli_scenarios, cli_train, cli_view


def _view_zoom(text: str) -> Fraction:
    """An argparse type: a whole zoom 1..64, or 1/K with K in 2..16 (the viewer's zoom levels)."""
    numerator, _, denominator = text.partition("/")
    try:
        zoom = Fraction(int(numerator), int(denominator or 1))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a whole number 1..64 or 1/K, got {text!r}") from None
    whole, fraction = zoom.denominator == 1 and 1 <= zoom <= 64, zoom.numerator == 1 and 2 <= zoom.denominator <= 16
    if not (whole or fraction):
        raise argparse.ArgumentTypeError(f"expected a whole number 1..64 or 1/K with K in 2..16, got {text!r}")
    return zoom


def _count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``[low, high]``, refused with the allowed range otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer in {low}..{high}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer in {low}..{high}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="nca-world", description="Worlds of Neural Cellular Automata.")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="print the benchmark table (ratios measured in one run)")
    bench.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    bench.add_argument("--repeats", type=_count(1, 1000), default=5, help="timed repetitions per figure")
    bench.add_argument("--training", action="store_true",
                       help="instead: CPU cost of a training with 1 or 2 threads, and of two side by side")
    bench.add_argument("--contention", action="store_true",
                       help="instead: one run alone, two side by side, one beside a busy loop (slowdowns)")
    bench.add_argument("--rounds", type=_count(1, 100), default=3,
                       help="rounds of --training and --contention (default 3)")
    bench.add_argument("--scale", action="store_true",
                       help="instead: the scaling table, worlds of 256^2 up to --max-size^2 with 4 to 4096 organisms")
    bench.add_argument("--max-size", type=_count(256, 4096), default=4096, help="largest world side of --scale")
    bench.set_defaults(handler=cli_train.bench)
    train = commands.add_parser("train", help="train a rule from a training config (TOML)")
    train.add_argument("config", type=Path)
    train.add_argument("--out", type=Path, help="model file to write (default: CONFIG with .h5)")
    train.add_argument("--checkpoint", type=Path, help="checkpoint file (default: OUT.ckpt.h5)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint (or from MODEL.resume.h5 when there is none)")
    train.add_argument("--snapshot", action="store_true",
                       help="do not train: write the model and a small MODEL.resume.h5 from the checkpoint")
    train.set_defaults(handler=cli_train.train)
    run = commands.add_parser("run", help="run a scenario file and record it")
    run.add_argument("scenario", type=Path, nargs="?", help="scenario file (TOML)")
    run.add_argument("--steps", type=int, help="run until this step instead of the scenario's last")
    run.add_argument("--out", type=Path, help="recording to write (default: the scenario's record.path, relative "
                     "to the scenario file; for --from, a new file beside the recording)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing recording of a finished run at the output path")
    run.add_argument("--seed", type=int, help="world seed instead of the scenario's")
    run.add_argument("--threads", type=_count(1, 4096),
                     help="numba threads (default: chosen by measurement as the machine's load changes)")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                     help="override a scenario field, e.g. --set world.seed=3 --set organisms.1.spawn_step=50")
    run.add_argument("--from", dest="source", type=Path, help="fork or resume this recording ...")
    run.add_argument("--at", type=int, help="... from this step")
    run.set_defaults(handler=cli_scenarios.run)
    view = commands.add_parser("view", help="watch a scenario live, or replay a recording")
    view.add_argument("path", type=Path, help="scenario (.toml) or recording (.h5)")
    view.add_argument("--view", choices=("rgb", "alpha", "identity", "owner", "hidden"))
    view.add_argument("--zoom", type=_view_zoom, help="pixels per cell, 1..64, or 1/K (K cells a pixel, 2..16; "
                      "default: fit the screen)")
    view.add_argument("--fps", type=_count(1, 1000), default=60)
    view.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    view.add_argument("--record-to", type=Path, help="where `r` records a live session")
    view.set_defaults(handler=cli_view.view)
    snap = commands.add_parser("snapshot", help="PNG of a scenario or recording at given steps (no screen needed)")
    snap.add_argument("path", type=Path, help="scenario (.toml, run without recording) or recording (.h5)")
    snap.add_argument("--at", required=True, help="steps, separated by commas: one panel each, side by side")
    snap.add_argument("-o", "--out", type=Path, required=True, help="the PNG to write (never overwritten)")
    snap.add_argument("--view", default="rgb", choices=("rgb", "alpha", "identity", "owner", "hidden"))
    snap.add_argument("--zoom", type=_count(1, 64), default=4, help="pixels per cell (default 4)")
    snap.add_argument("--no-labels", action="store_true", help="leave out the organisms' names")
    snap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    snap.set_defaults(handler=cli_view.snapshot)
    analyze = commands.add_parser("analyze", help="per-organism tables, figures and a summary of a recording")
    analyze.add_argument("recording", type=Path)
    analyze.add_argument("--out", type=Path, help="output folder (default: next to the recording)")
    analyze.add_argument("--rotations", action="store_true", help="also align the 4 right-angle rotations")
    analyze.add_argument("--zoom", type=_count(1, 32), default=2, help="pixels per cell in --video (default 2)")
    analyze.add_argument("--video", type=Path,
                         help="also export the recording to this file (from the current folder): run.gif or run.mp4")
    analyze.add_argument("--view", choices=("rgb", "alpha", "identity", "owner", "hidden"),
                         help="the video's view (default rgb); refused if the recorded channels lack it")
    analyze.set_defaults(handler=cli_analysis.analyze)
    sweep = commands.add_parser("sweep", help="run a sweep file on Dask (a LocalCluster by default)")
    sweep.add_argument("sweep", type=Path)
    sweep.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    sweep.add_argument("--workers", type=int, help="local workers (default: one per core)")
    sweep.add_argument("--out", type=Path, help="output folder (default: sweeps/<name>)")
    sweep.set_defaults(handler=cli_analysis.sweep)
    report = commands.add_parser("report", help="statistics, plots and a markdown report of a sweep folder")
    report.add_argument("folder", type=Path)
    report.add_argument("--compare", help="the grid axis whose groups are compared (default: the sweep's own)")
    report.add_argument("--by", help="the grid axis to break results down by (default: the sweep's own)")
    report.add_argument("--measure", help="the results column compared (default: the sweep's own)")
    report.add_argument("--title", default="Sweep report")
    report.add_argument("--replicates", action="append", metavar="VARIANT=GROUP,GROUP",
                        help="groups that are training replicates of one variant (repeat per variant): "
                             "variant effects are claimed only where every replicate pair agrees")
    report.set_defaults(handler=cli_analysis.report)
    validate = commands.add_parser("validate", help="check scenario files and print every problem")
    validate.add_argument("paths", nargs="+", type=Path)
    validate.set_defaults(handler=cli_scenarios.validate)
    models = commands.add_parser("models", help="list the model library, or check model files and describe them")
    models.add_argument("paths", nargs="*", type=Path, help="model files (none: list the library)")
    models.add_argument("--stability", action="store_true",
                        help="grow each model alone and check it against the stability gates (README)")
    models.add_argument("--steps", type=_count(1, 1_000_000),
                        help="steps to grow (default 2000 for --stability, 200 for --sheet)")
    models.add_argument("--seeds", type=_count(1, 100), default=3, help="fire seeds to average (default 3)")
    models.add_argument("--card", action="store_true", help="write the result into each model's card (<model>.md)")
    models.add_argument("--sheet", type=Path, metavar="OUT.png",
                        help="draw every library model (or the models named) grown from its seed into one PNG")
    models.add_argument("--overwrite", action="store_true", help="let --sheet replace an existing file")
    models.set_defaults(handler=cli_models.models)
    imports = commands.add_parser("import", help="convert published model files (Growing NCA demo JSON) to nca-world")
    imports.add_argument("paths", nargs="+", type=Path)
    imports.add_argument("--out", type=Path, help="folder to write to (default: the user's model library)")
    imports.add_argument("--licence", default="unknown", help="the licence of the files, recorded in the card")
    imports.set_defaults(handler=cli_models.import_models)
    export = commands.add_parser("export", help="write a model file in a published format")
    export.add_argument("model", type=Path)
    export.add_argument("--format", required=True, choices=("demo-json",))
    export.add_argument("--out", type=Path, help="file to write (default: MODEL.json)")
    export.add_argument("--grow-steps", type=_count(1, 100_000), default=200,
                        help="steps grown to compare the 8-bit model with the original (default 200)")
    export.set_defaults(handler=cli_models.export_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs a subcommand; user errors print one line and exit with code 2, a check
    that finds a failure (a model failing `models --stability`) exits with code 1."""
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except NcaWorldError as error:
        print(f"nca-world: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nca-world: interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())

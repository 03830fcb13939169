"""The `nca-world` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.errors import NcaWorldError


def _bench(args: argparse.Namespace) -> None:
    from sim import bench

    bench.run(json_path=args.json, repeats=args.repeats)


def _models(args: argparse.Namespace) -> None:
    from agents.modelfile import load_rule

    for path in args.paths:
        rule = load_rule(path)
        spec = rule.spec
        print(f"{path}: C={spec.channels} hidden={spec.hidden} identity={spec.identity_channels} "
              f"({spec.identity_mode}) fire_rate={spec.fire_rate} boundary={spec.boundary} "
              f"target={None if rule.target is None else rule.target.shape}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="nca-world", description="Worlds of Neural Cellular Automata.")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="print the benchmark table (ratios measured in one run)")
    bench.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    bench.add_argument("--repeats", type=int, default=5, help="timed repetitions per figure")
    bench.set_defaults(handler=_bench)
    models = commands.add_parser("models", help="check model files and describe them")
    models.add_argument("paths", nargs="+", type=Path)
    models.set_defaults(handler=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs a subcommand; user errors print one line and exit with code 2."""
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except NcaWorldError as error:
        print(f"nca-world: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nca-world: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

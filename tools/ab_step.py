"""A/B of the world step: an earlier revision against the working tree, in one process.

    .venv/bin/python tools/ab_step.py 9e8e1db                 # the bench's layouts, 150 rounds
    .venv/bin/python tools/ab_step.py HEAD --rounds 300 --steps 5
    .venv/bin/python tools/ab_step.py HEAD --layout 2048x256 --layout 1024xall --rounds 10 --steps 1

A speed difference of a few percent is smaller than a shared machine's drift between two runs,
so both versions step in the same process, alternating: the revision's ``nca_world`` package is
exported (``git archive``) to a temporary folder under the name ``nca_world_ab`` (its imports
rewritten), each round steps both worlds `--steps` times in an order that swaps every round, and
the medians are compared. The owner maps must come out equal (same rule, same seed), which
checks that the two versions compute the same thing. Kernels of the exported copy compile on
first use (about a minute, once per run of this tool).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ("all alive", "one organism", "4 organisms, 1 species")


def export(revision: str, folder: Path) -> None:
    """`revision`'s ``nca_world`` package as ``folder/nca_world_ab``, importing itself."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "nca_world"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "x", "-C", str(folder)], input=archive, check=True)
    (folder / "nca_world").rename(folder / "nca_world_ab")
    for path in (folder / "nca_world_ab").rglob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"\bnca_world(?=[. ])", "nca_world_ab", text))


def make_worlds(layout: str) -> dict:
    """The revision's and the tree's world of a bench layout, or of a scaling-table layout
    ``SIZExORGANISMS`` (``2048x256``; ``1024xall``: the whole grid alive)."""
    from nca_world_ab.sim import bench as theirs  # type: ignore[import-not-found]
    from nca_world_ab.sim import bench_scale as their_scale  # type: ignore[import-not-found]

    from nca_world.sim import bench as ours
    from nca_world.sim import bench_scale as our_scale

    scale = re.fullmatch(r"(\d+)x(\d+|all)", layout)
    if scale is None:
        return {"ab": theirs.make_world(layout, {"a": theirs.bench_rule(0)}),
                "tree": ours.make_world(layout, {"a": ours.bench_rule(0)})}
    size, count = int(scale[1]), None if scale[2] == "all" else int(scale[2])
    return {"ab": their_scale.scale_world(size, count, theirs.bench_rule(1)),
            "tree": our_scale.scale_world(size, count, ours.bench_rule(1))}


def compare(layout: str, rounds: int, steps: int) -> tuple[float, float]:
    """Median seconds per step of the revision and of the working tree on one layout."""
    worlds = make_worlds(layout)
    times: dict[str, list[float]] = {name: [] for name in worlds}
    for world in worlds.values():
        world.step(3)  # compile or load the kernels
    order = list(worlds)
    for round_ in range(rounds):
        for name in order if round_ % 2 else order[::-1]:
            start = time.perf_counter()
            worlds[name].step(steps)
            times[name].append((time.perf_counter() - start) / steps)
    if not np.array_equal(worlds["ab"].owner, worlds["tree"].owner):
        raise SystemExit(f"{layout}: the two versions' owner maps differ: they do not compute the same step")
    return statistics.median(times["ab"]), statistics.median(times["tree"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the earlier revision (a commit, a tag, HEAD)")
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--steps", type=int, default=10, help="steps of each world per round")
    parser.add_argument("--layout", action="append", help="a bench layout, or SIZExORGANISMS of the scaling "
                        "table (2048x256, 1024xall); repeatable (default: the bench's three layouts)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        export(args.revision, Path(folder))
        sys.path.insert(0, folder)
        print(f"{'layout':24} {args.revision + ' ms':>12} {'tree ms':>9} {'tree/rev - 1':>13}")
        for layout in args.layout or LAYOUTS:
            theirs, ours = compare(layout, args.rounds, args.steps)
            print(f"{layout:24} {1e3 * theirs:12.3f} {1e3 * ours:9.3f} {ours / theirs - 1:+13.1%}", flush=True)


if __name__ == "__main__":
    main()

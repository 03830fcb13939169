"""Mutation testing: plant one small bug at a time and see whether the tests notice.

    .venv/bin/python tools/mutate.py nca_world/sim/core.py --max 30
    .venv/bin/python tools/mutate.py nca_world/sim/core.py --at 92:38 157:28    # chosen mutants, as printed
    .venv/bin/python tools/mutate.py nca_world/sim/stats.py nca_world/sim/metrics.py --tests tests/test_analysis.py
    .venv/bin/python tools/mutate.py nca_world/sim/core.py --list            # the mutants, without running

A mutant swaps one operator (``>`` / ``>=``, ``<`` / ``<=``, ``==`` / ``!=``, ``+`` / ``-``,
``*`` / ``/``, ``&`` / ``|``, ``and`` / ``or``, ``+=`` / ``-=``), swaps ``min`` and ``max``, or
moves an integer constant by one. Each runs the chosen tests (``pytest -x``) with a fresh
``NUMBA_CACHE_DIR``, so that no kernel compiled from another version of the file is reused. A
mutant is *killed* when the tests fail (or error, or time out), and *survives* when they pass:
either a gap in the tests or an equivalent mutant (one that cannot change a result, such as a
block size); read each survivor and decide.

The mutants are applied to a copy of the repository under a temporary folder (the working
tree's files as they are, or a commit with ``--rev``), never to the checkout itself; the copy is
removed at the end, Ctrl-C included. The unmutated copy must pass the tests first.
"""

from __future__ import annotations

import argparse
import ast
import io
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# the tests that exercise each module's results; --tests overrides
DEFAULT_TESTS = {
    # (tests/test_core.py adds the torch parity, at several minutes a mutant on a shared machine)
    "nca_world/sim/core.py": ["tests/test_meeting.py", "tests/test_species_parity.py", "tests/test_world.py"],
    "nca_world/sim/events.py": ["tests/test_events.py", "tests/test_convert.py", "tests/test_known_events.py"],
    "nca_world/sim/alignment.py": ["tests/test_analysis_alignment.py", "tests/test_analysis.py"],
    "nca_world/sim/metrics.py": ["tests/test_torus_metrics.py", "tests/test_recorder.py",
                                 "tests/test_known_metrics.py"],
    "nca_world/sim/analysis.py": ["tests/test_analysis.py", "tests/test_torus_analysis.py",
                                  "tests/test_known_analysis.py"],
    # the run summaries (`summarise`)
    "nca_world/sim/sweep_summary.py": ["tests/test_sweep.py::test_every_summary_measure_on_a_synthetic_recording",
                                       "tests/test_sweep.py::test_exploded_and_contact_on_a_synthetic_recording",
                                       "tests/test_known_sweep_summaries.py"],
    "nca_world/sim/stats.py": ["tests/test_stats.py", "tests/test_report.py"],
    "nca_world/sim/study_measures.py": ["tests/test_study_measures.py", "tests/test_known_study_measures.py"],
    "nca_world/sim/stability.py": ["tests/test_stability.py"],
    "nca_world/agents/train.py": ["tests/test_train.py"],
}

SWAPS = {
    ">": ">=", ">=": ">", "<": "<=", "<=": "<", "==": "!=", "!=": "==",
    "+": "-", "-": "+", "*": "/", "/": "*", "//": "*", "&": "|", "|": "&",
    "+=": "-=", "-=": "+=", "|=": "&=", "&=": "|=",
    "and": "or", "or": "and", "min": "max", "max": "min",
}


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the repository root
    line: int
    col: int
    old: str
    new: str
    source_line: str

    def apply(self, text: str) -> str:
        lines = text.splitlines(keepends=True)
        row = lines[self.line - 1]
        if row[self.col : self.col + len(self.old)] != self.old:
            raise RuntimeError(f"{self}: source does not match")
        lines[self.line - 1] = row[: self.col] + self.new + row[self.col + len(self.old) :]
        return "".join(lines)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col + 1}  {self.old} -> {self.new}   | {self.source_line.strip()}"


def _spans(tree: ast.AST) -> list[tuple[tuple[int, int], tuple[int, int], set[str]]]:
    """Source spans (start, end) where an operator of the given kinds may sit: between the operands
    of binary operations, comparisons, boolean operations and augmented assignments."""
    spans = []

    def between(a: ast.AST, b: ast.AST, kinds: set[str]) -> None:
        spans.append(((a.end_lineno, a.end_col_offset), (b.lineno, b.col_offset), kinds))

    annotations = set()  # type hints compute nothing: `int | None` is no place for a mutant
    for node in ast.walk(tree):
        hints = [getattr(node, "annotation", None), getattr(node, "returns", None)]
        annotations |= {id(inner) for hint in hints if hint is not None for inner in ast.walk(hint)}
    for node in ast.walk(tree):
        if id(node) in annotations:
            continue
        if isinstance(node, ast.BinOp):
            between(node.left, node.right, {"+", "-", "*", "/", "//", "&", "|"})
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for a, b in itertools.pairwise(operands):
                between(a, b, {">", ">=", "<", "<=", "==", "!="})
        elif isinstance(node, ast.BoolOp):
            for a, b in itertools.pairwise(node.values):
                between(a, b, {"and", "or"})
        elif isinstance(node, ast.AugAssign):
            between(node.target, node.value, {"+=", "-=", "|=", "&="})
    return spans


def find_mutants(path: str, text: str) -> list[Mutant]:
    """Every mutant of the module `path` (relative) with source `text`, in source order."""
    tree = ast.parse(text)
    lines = text.splitlines()
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    spans = _spans(tree)
    calls = {(n.func.lineno, n.func.col_offset) for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("min", "max")}
    numbers = {(n.lineno, n.col_offset) for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and type(n.value) is int}
    found = []
    for token in tokens:
        start, string = token.start, token.string
        operator = token.type in (tokenize.OP, tokenize.NAME) and string in SWAPS
        if token.type == tokenize.NUMBER and start in numbers:
            new = str(int(string, 0) + 1)
        elif operator and (start in calls or any(a <= start < b and string in k for a, b, k in spans)):
            new = SWAPS[string]
        else:
            continue
        found.append(Mutant(path, start[0], start[1], string, new, lines[start[0] - 1]))
    return found


def copy_tree(rev: str | None, target: Path) -> None:
    """The working tree's files (tracked and untracked, not ignored), or commit `rev`, into `target`."""
    if rev:
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        return
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run_tests(copy: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    """Run `tests` in `copy` with a fresh numba cache: ("pass" | "fail" | "timeout", seconds, tail)."""
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
        began = time.monotonic()
        process = subprocess.Popen(command, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True, text=True)
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return "timeout", time.monotonic() - began, ""
        except BaseException:  # Ctrl-C: take the test run down with us
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        tail = "\n".join(out.strip().splitlines()[-3:])
        return ("pass" if process.returncode == 0 else "fail"), time.monotonic() - began, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="+", help="modules to mutate, relative to the repository root")
    parser.add_argument("--tests", nargs="+", help="test files or node ids (default: per module, see DEFAULT_TESTS)")
    parser.add_argument("--max", type=int, default=30, help="mutants to run per module, drawn at random (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw")
    parser.add_argument("--lines", help="only mutants on these lines, e.g. 120-160")
    parser.add_argument("--at", nargs="+", default=[], help="only these mutants, as LINE:COLUMN (as printed)")
    parser.add_argument("--rev", help="mutate this commit instead of the working tree's files")
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default: 3x the unmutated run + 60)")
    parser.add_argument("--list", action="store_true", help="list the chosen mutants and stop")
    args = parser.parse_args(argv)

    chosen: dict[str, list[Mutant]] = {}
    for module in args.modules:
        mutants = find_mutants(module, (ROOT / module).read_text())
        if args.lines:
            low, _, high = args.lines.partition("-")
            mutants = [m for m in mutants if int(low) <= m.line <= int(high or low)]
        if args.at:
            mutants = [m for m in mutants if f"{m.line}:{m.col + 1}" in args.at]
        if args.max and len(mutants) > args.max:
            mutants = sorted(random.Random(args.seed).sample(mutants, args.max), key=lambda m: (m.line, m.col))
        chosen[module] = mutants
        print(f"{module}: {len(mutants)} mutants", flush=True)
    if args.list:
        for mutant in (m for ms in chosen.values() for m in ms):
            print(f"  {mutant}")
        return 0

    with tempfile.TemporaryDirectory(prefix="mutate-") as folder:
        copy = Path(folder)
        copy_tree(args.rev, copy)
        survivors: dict[str, list[Mutant]] = {}
        score: dict[str, tuple[int, int]] = {}
        try:
            for module, mutants in chosen.items():
                tests = args.tests or DEFAULT_TESTS.get(module)
                if not tests:
                    parser.error(f"{module}: no default tests; name them with --tests")
                original = (copy / module).read_text()
                verdict, seconds, tail = run_tests(copy, tests, args.timeout or 3600)
                if verdict != "pass":
                    print(f"{module}: the unmutated tests do not pass ({verdict}); skipped\n{tail}", flush=True)
                    continue
                timeout = args.timeout or 3 * seconds + 60
                print(f"{module}: unmutated {' '.join(tests)} pass in {seconds:.0f} s", flush=True)
                killed = 0
                survivors[module] = []
                score[module] = (0, 0)
                for i, mutant in enumerate(mutants, 1):
                    (copy / module).write_text(mutant.apply(original))
                    try:
                        verdict, seconds, _ = run_tests(copy, tests, timeout)
                    finally:
                        (copy / module).write_text(original)
                    if verdict == "pass":
                        survivors[module].append(mutant)
                    else:
                        killed += 1
                    label = "SURVIVED" if verdict == "pass" else f"killed ({verdict})"
                    print(f"[{i}/{len(mutants)}] {label:18} {seconds:5.0f} s  {mutant}", flush=True)
                    score[module] = (killed, i)
        except KeyboardInterrupt:
            print("interrupted; partial results:")
    print("\nmutation score (killed / run):")
    for module, (killed, total) in score.items():
        print(f"  {module}: {killed}/{total} killed ({100 * killed / max(total, 1):.0f}%)")
        for mutant in survivors[module]:
            print(f"    survived: {mutant}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

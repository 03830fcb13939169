"""`nca-world bench --training`: how to spend a few CPU cores on several trainings.

Three layouts, measured in the same rounds (their order rotating each round, medians taken):
one training with 1 torch thread, one with 2 threads, and two 1-thread trainings side by side.
Each training is a separate process running the identity recipe's iteration (a 24 px target on
a 48x48 grid, batch 8, a fixed 96-step rollout so that every iteration costs the same) for a
fixed number of iterations; its CPU time comes from the kernel (``wait4``), not from itself.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

RECIPE = """
[target]
kind = "shape"
shape = "disc"
size = 24
padding = 12

[model]
channels = 17
hidden = 128
identity_channels = 1

[train]
variant = "B"
pool_size = 64
batch = 8
rollout = [96, 96]
reseed_worst = 3
damage_best = 3
iterations = {iterations}
threads = {threads}
"""
LAYOUTS = {"1 training, 1 thread": [1], "1 training, 2 threads": [2], "2 trainings, 1 thread each": [1, 1]}


@dataclass(frozen=True)
class Layout:
    """One layout's medians: wall seconds and CPU seconds per iteration of one training."""

    name: str
    wall_per_iteration: float
    cpu_per_iteration: float
    iterations_per_second: float  # of all its trainings together


def train_in_process(threads: int, iterations: int) -> None:
    """The worker: warm up one iteration, then time `iterations` more (run by `--worker`)."""
    from nca_world.agents.train import Trainer
    from nca_world.agents.trainconfig import TrainingFile

    config = TrainingFile.model_validate(tomllib.loads(RECIPE.format(iterations=iterations + 1, threads=threads)))
    trainer = Trainer(config, base=Path("."), device="cpu")
    trainer.step()
    start = os.times()
    for _ in range(iterations):
        trainer.step()
    end = os.times()
    print(f"{end.user + end.system - start.user - start.system:.6f} {end.elapsed - start.elapsed:.6f}")


def run_layout(threads: list[int], iterations: int) -> tuple[float, float]:
    """Start one worker per entry of `threads` at once; their mean (wall, CPU) seconds per iteration."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "nca_world.sim.bench_training", "--worker"]
        workers = [subprocess.Popen([*command, str(t), str(iterations)],
                                    stdout=subprocess.PIPE, text=True, cwd=folder, env=env) for t in threads]
        outputs = [w.communicate()[0].split() for w in workers]
    if any(w.returncode for w in workers):
        raise RuntimeError("a benchmark training failed")
    cpu = statistics.mean(float(o[0]) for o in outputs) / iterations
    wall = statistics.mean(float(o[1]) for o in outputs) / iterations
    return wall, cpu


def measure(rounds: int = 3, iterations: int = 4) -> list[Layout]:
    """Every layout in every round, the order rotating; medians over the rounds."""
    names = list(LAYOUTS)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            samples[name].append(run_layout(LAYOUTS[name], iterations))
    layouts = []
    for name in names:
        wall = statistics.median(s[0] for s in samples[name])
        cpu = statistics.median(s[1] for s in samples[name])
        layouts.append(Layout(name, wall, cpu, len(LAYOUTS[name]) / wall))
    return layouts


def report(layouts: list[Layout]) -> str:
    """The table, with each layout's throughput relative to one 1-thread training."""
    base = layouts[0].iterations_per_second
    lines = [f"{'training layout':28} {'s/it (wall)':>12} {'CPU s/it':>9} {'it/s (all)':>11} {'vs 1x1':>7}"]
    for layout in layouts:
        lines.append(f"{layout.name:28} {layout.wall_per_iteration:12.2f} {layout.cpu_per_iteration:9.2f} "
                     f"{layout.iterations_per_second:11.3f} {layout.iterations_per_second / base:6.2f}x")
    return "\n".join(lines)


def run(rounds: int = 3, iterations: int = 4) -> list[Layout]:
    """Measure and print the table."""
    started = time.perf_counter()
    layouts = measure(rounds, iterations)
    print(report(layouts))
    print(f"({rounds} rounds of {iterations} iterations per training, {time.perf_counter() - started:.0f} s)")
    return layouts


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    train_in_process(int(sys.argv[2]), int(sys.argv[3]))

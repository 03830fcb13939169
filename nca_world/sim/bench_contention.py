"""`nca-world bench --contention`: how runs fare when they share the machine.

Three layouts, measured in the same rounds (their order rotating each round, medians taken): one
run alone; two runs side by side; one run beside a busy loop (a process spinning on one core,
as another program would). Each run is a separate process stepping the bench's 4-organism world
(256 x 256, 10% alive) with the thread count chosen as `run` chooses it (`sim.threads`); the
processes of a layout wait for one shared start time, so their timed steps overlap.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

STEPS = 1500
START_DELAY = 2.5  # seconds for the workers to import and load their kernels before the shared start
LAYOUTS = {"1 run alone": (1, False), "2 runs side by side": (2, False), "1 run beside a busy loop": (1, True)}
GOAL = 2.6  # the most a run may slow down beside another (a fair share of 2 cores would be 2x)


@dataclass(frozen=True)
class Layout:
    """One layout's median seconds per step of one run, and its slowdown against running alone."""

    name: str
    seconds_per_step: float
    slowdown: float


def step_in_process(steps: int, start_at: float) -> None:
    """The worker: load the kernels, wait for `start_at` (epoch seconds), then time `steps` steps
    with the world's `ThreadTuner` choosing the thread count (run by `--worker`)."""
    from nca_world.sim.bench import bench_rule, make_world

    world = make_world("4 organisms, 1 species", {"a": bench_rule(1)})
    world.threads = None  # the bench fixes all threads; here the world chooses, as a run does
    world.step(3)
    time.sleep(max(0.0, start_at - time.time()))
    started_at, start = time.time(), time.perf_counter()
    for _ in range(steps):
        world.step()
    print(f"{(time.perf_counter() - start) / steps:.9f} {started_at:.6f}")


def run_layout(runs: int, busy: bool, steps: int) -> tuple[float, float]:
    """Start `runs` workers (and a busy loop when `busy`) at once; their mean seconds per step,
    and the spread of the moments their timed steps began (seconds: small, or they did not
    overlap)."""
    start_at = time.time() + START_DELAY
    command = [sys.executable, "-m", "nca_world.sim.bench_contention", "--worker", str(steps), repr(start_at)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(runs)]
    spinner = None
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        outputs = [w.communicate()[0] for w in workers]
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    if any(w.returncode for w in workers):
        raise RuntimeError(f"a contention worker failed: {outputs}")
    per_step, began = zip(*((float(a), float(b)) for a, b in (out.split() for out in outputs)), strict=True)
    return statistics.fmean(per_step), max(began) - min(began)


def contention(rounds: int = 3, steps: int = STEPS) -> list[Layout]:
    """Each layout `rounds` times, the order rotating every round; medians and slowdowns."""
    names = list(LAYOUTS)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            seconds[name].append(run_layout(*LAYOUTS[name], steps)[0])
    alone = statistics.median(seconds[names[0]])
    return [Layout(name, statistics.median(seconds[name]), statistics.median(seconds[name]) / alone) for name in names]


def print_table(layouts: list[Layout]) -> None:
    """The table `nca-world bench --contention` prints."""
    print(f"{'layout':28} {'ms/step':>9} {'slowdown':>9}")
    for layout in layouts:
        print(f"{layout.name:28} {1e3 * layout.seconds_per_step:9.3f} {layout.slowdown:8.2f}x")
    print(f"goal: a run shares the machine at most {GOAL}x slower than alone (2x is a fair share of 2 cores)")


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    step_in_process(int(sys.argv[2]), float(sys.argv[3]))

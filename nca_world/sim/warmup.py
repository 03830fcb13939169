"""Compile and cache the numba kernels once, at set-up (`make` runs it after installing).

numba compiles each kernel on first use and keeps the machine code in its on-disk cache; a run
of a few steps of the bundled demo, recorded, fills that cache for the kernels `make run` needs,
so that the first real run starts stepping at once. numba compiles one kernel at a time in a
process, so set-up compiles the recording kernels in a second process (`warm_recorder`) while
this one compiles the step: on two cores the wait is the longer of the two, not their sum.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.toml"


def warm_up(scenario: Path = DEMO, steps: int = 3) -> float:
    """Step the world of `scenario` `steps` times (the step's kernels), then run `steps` recorded
    steps of it in a temporary folder (the rest); returns the seconds taken."""
    from nca_world.sim.runner import build_world, run_scenario
    from nca_world.sim.scenario import load_scenario

    started = time.perf_counter()
    loaded = load_scenario(scenario)
    build_world(loaded).step(steps)
    with tempfile.TemporaryDirectory() as folder:
        run_scenario(loaded, steps=steps, out=Path(folder) / "warmup.h5", progress=False)
    return time.perf_counter() - started


def warm_recorder(scenario: Path = DEMO) -> None:
    """Record the first frame of `scenario` (keyframe, frame, metrics, flush) without stepping:
    compiles the recording kernels and none of the step's."""
    from nca_world.sim.runner import build_world, recorder_for
    from nca_world.sim.scenario import load_scenario

    loaded = load_scenario(scenario)
    world = build_world(loaded)
    with tempfile.TemporaryDirectory() as folder:
        recorder = recorder_for(loaded, world, Path(folder) / "warmup.h5")
        recorder.observe(world)
        recorder.close(complete=True)


def warm_up_in_parallel(scenario: Path = DEMO) -> float:
    """`warm_recorder` in a child process beside `warm_up` here; returns the seconds taken."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", "from nca_world.sim.warmup import warm_recorder; "
                              f"warm_recorder({str(scenario)!r})"])
    try:
        warm_up(scenario)
    finally:
        if child.wait() != 0:
            raise SystemExit(f"warm-up: compiling the recording kernels failed (exit {child.returncode})")
    return time.perf_counter() - started


if __name__ == "__main__":
    print("compiling the numba kernels once (cached: later runs start at once) ...", flush=True)
    print(f"kernels ready ({warm_up_in_parallel():.0f} s)")

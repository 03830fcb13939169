"""Compile and cache the numba kernels once, at set-up (`make` runs it after installing).

numba compiles each kernel on first use and keeps the machine code in its on-disk cache; a run
of a few steps of the bundled demo, recorded, fills that cache for the kernels `make run` needs,
so that the first real run starts stepping at once.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.toml"


def warm_up(scenario: Path = DEMO, steps: int = 3) -> float:
    """Run `steps` recorded steps of `scenario` in a temporary folder; returns the seconds taken."""
    from nca_world.sim.runner import run_scenario
    from nca_world.sim.scenario import load_scenario

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        run_scenario(load_scenario(scenario), steps=steps, out=Path(folder) / "warmup.h5", progress=False)
    return time.perf_counter() - started


if __name__ == "__main__":
    print("compiling the numba kernels once (cached: later runs start at once) ...", flush=True)
    print(f"kernels ready ({warm_up():.0f} s)")

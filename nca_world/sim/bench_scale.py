"""`nca-world bench --scale`: how the core's speed holds up as worlds grow and fill with organisms.

For each world size (256² up to `max_size`²) and organism count (4 up to 4096, as many as leave
each organism a disc of at least `MIN_AREA` cells), organisms cover 10% of the grid; plus the
whole grid alive. Each row: ms per step, fired cell-updates per second, their share of this
machine's matmul rate (FLOP of the fired updates over the BLAS rate), the world's memory per cell
(`world.memory_needed`), and the same step with every frame recorded (default settings).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from nca_world.agents.spec import Rule
from nca_world.sim.bench import bench_rule, fired_updates, matmul_gflops
from nca_world.sim.world import World, memory_needed

SIZES = (256, 512, 1024, 2048, 4096)
COUNTS = (4, 64, 256, 1024, 4096)
AREA_FRACTION = 0.10
MIN_AREA = 50  # cells per organism: a disc of radius 4, which a benchmark rule keeps alive


@dataclass(frozen=True)
class ScaleRow:
    """One line of the scaling table."""

    size: int
    organisms: int | None  # None: the whole grid alive, one organism
    ms_per_step: float
    updates_per_s: float
    matmul_fraction: float
    bytes_per_cell: float
    recorded_ms_per_step: float


def layouts(max_size: int) -> list[tuple[int, int | None]]:
    """``(size, organisms)`` pairs measured: counts that leave `MIN_AREA` cells each, then all alive."""
    pairs: list[tuple[int, int | None]] = []
    for size in (s for s in SIZES if s <= max_size):
        pairs += [(size, n) for n in COUNTS if AREA_FRACTION * size * size / n >= MIN_AREA]
        pairs.append((size, None))
    return pairs


def scale_world(size: int, organisms: int | None, rule: Rule) -> World:
    """A ``size²`` world: `organisms` discs on a regular lattice covering 10% of it, or (None) the
    whole grid alive as one organism."""
    world = World(size, size, species={"a": rule}, seed=7, threads=numba.config.NUMBA_NUM_THREADS)
    state = world.state
    if organisms is None:
        world.spawn("o0", "a", (0, 0))
        state[:] = 0.5
        state[:, :, 3] = 1.0
        world.owner[:] = 1
        return world
    per_side = math.ceil(math.sqrt(organisms))
    spacing = size / per_side
    radius = math.sqrt(AREA_FRACTION * size * size / organisms / math.pi)
    reach = math.ceil(radius)
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disc = yy**2 + xx**2 <= radius**2
    for k in range(organisms):
        cy, cx = int((k // per_side + 0.5) * spacing), int((k % per_side + 0.5) * spacing)
        organism = world.spawn(f"o{k}", "a", (cy, cx))
        window = (slice(cy - reach, cy + reach + 1), slice(cx - reach, cx + reach + 1))
        state[window][disc] = 0.5
        state[window][disc, 3] = 1.0
        world.owner[window][disc] = organism.index
    return world


def step_seconds(world: World, steps: int, repeats: int, recorder=None) -> float:
    """Median seconds per step over `repeats` rounds of `steps` steps (each step recorded first
    when a `recorder` is given, as `nca-world run` does)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            if recorder is not None:
                recorder.observe(world)
            world.step()
        times.append((time.perf_counter() - start) / steps)
    return float(np.median(times))


def _recorder(world: World, path: Path):
    from nca_world.sim.recorder import Recorder
    from nca_world.sim.recorder_settings import recorded_channels
    from nca_world.sim.scenario_sections import RecordSection

    settings = RecordSection()
    return Recorder(path, world, scenario_text="", channels=recorded_channels(settings.channels, world),
                    dtype=settings.dtype, compression=settings.compression, every=settings.every,
                    keyframe_every=settings.keyframe_every, flush_every=settings.flush_every)


def measure(size: int, organisms: int | None, rule: Rule, gflops: float, repeats: int) -> ScaleRow:
    """One row: plain and recorded steps alternated in the same rounds (the machine is noisy)."""
    world = scale_world(size, organisms, rule)
    world.step(2)
    updates = fired_updates(world)
    steps = max(1, int(2e6 // (size * size)))  # ~2M cells a round: a few ms on small grids, one step on big ones
    plain, recorded = [], []
    with tempfile.TemporaryDirectory() as folder, _recorder(world, Path(folder) / "scale.h5") as recorder:
        for _ in range(repeats):
            plain.append(step_seconds(world, steps, 1))
            recorded.append(step_seconds(world, steps, 1, recorder))
    seconds = float(np.median(plain))
    spec = rule.spec
    cells = size * size
    return ScaleRow(size, organisms, seconds * 1e3, updates / seconds,
                    updates * spec.flops_per_update / seconds / (gflops * 1e9),
                    memory_needed(size, size, spec.channels, spec.hidden, 1) / cells, float(np.median(recorded)) * 1e3)


def run(max_size: int = 4096, repeats: int = 3) -> list[ScaleRow]:
    """Measure every layout up to `max_size`, print the table and return its rows."""
    rule = bench_rule(1)
    gflops = matmul_gflops()
    print(f"nca-world bench --scale: C=16, hidden 128, fire rate 0.5, {AREA_FRACTION:.0%} of the grid alive "
          f"unless 'all'; matmul {gflops:.0f} GFLOP/s")
    print(f"{'world':>10} {'organisms':>9} {'ms/step':>9} {'updates/s':>10} {'% matmul':>8} {'B/cell':>7} "
          f"{'recorded':>9} {'+rec':>6}")
    rows = []
    for size, organisms in layouts(max_size):
        row = measure(size, organisms, rule, gflops, repeats)
        rows.append(row)
        print(f"{size:>5}x{size:<4} {'all' if organisms is None else organisms:>9} {row.ms_per_step:9.2f} "
              f"{row.updates_per_s / 1e6:9.2f}M {100 * row.matmul_fraction:7.1f}% {row.bytes_per_cell:7.0f} "
              f"{row.recorded_ms_per_step:9.2f} {100 * (row.recorded_ms_per_step / row.ms_per_step - 1):+5.0f}%",
              flush=True)
    for line in targets(rows):
        print(line)
    return rows


def targets(rows: list[ScaleRow]) -> list[str]:
    """The scaling targets with their measured values (those whose rows were measured)."""
    rate = {(r.size, r.organisms): r.updates_per_s for r in rows}
    lines = []
    for (size, n), (base_size, base_n) in (((2048, 256), (256, 4)), ((1024, 1024), (1024, 64))):
        if (size, n) in rate and (base_size, base_n) in rate:
            lines.append(f"{size}² with {n} organisms: {100 * rate[size, n] / rate[base_size, base_n]:.0f}% of the "
                         f"update rate of {base_size}² with {base_n} (target >= 80%)")
    return lines

"""`nca-world bench`: one table of speeds and ratios, all measured in one run.

The machine is shared and noisy, so every figure that is compared is measured here, now:
this machine's float32 matrix-multiply rate, a plain numpy reference, and for each world state
the numba core and its strongest torch peers (`sim.bench_peers`: NCHW, channels_last, cropped to
the living box) timed alternately in the same rounds; each ratio is against the fastest peer.
Peers step one species over the grid: for the two-species layout that favours torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from nca_world.agents.firing import fire_mask
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.bench_peers import interleaved, torch_peers
from nca_world.sim.world import World

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.toml"
SIZE = 256
AREA_FRACTION = 0.10


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    name: str
    ms_per_step: float
    cell_updates_per_s: float
    note: str = ""


def median_seconds(function: Callable[[], object], repeats: int, inner: int) -> float:
    """Median over `repeats` of the mean time of `inner` calls of `function` (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            function()
        times.append((time.perf_counter() - start) / inner)
    return float(np.median(times))


def matmul_gflops(size: int = 1024, repeats: int = 9) -> float:
    """float32 ``size x size`` matrix product rate of numpy's BLAS on all cores, GFLOP/s: the best
    of `repeats` (this shared machine's rate swings by a third; the best is what it can do, and
    the highest rate makes the core's fraction of it the most conservative)."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    best = min(median_seconds(lambda: a @ a, repeats=1, inner=5) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def bench_rule(seed: int) -> Rule:
    """A 16-channel, 128-hidden rule whose small last layer keeps a state nearly unchanged; its
    target is a disc the size of a benchmark organism (so the analysis has something to align)."""
    spec = RuleSpec(channels=16, hidden=128)
    rule = Rule.random(spec, seed=seed, zero_last_layer=False)
    radius = np.sqrt(AREA_FRACTION * SIZE * SIZE / 4 / np.pi)
    yy, xx = np.mgrid[-24:25, -24:25]
    target = np.zeros((49, 49, 4), np.float32)
    target[yy**2 + xx**2 <= radius**2] = (0.5, 0.5, 0.5, 1.0)
    return Rule(spec, rule.w1, rule.b1, rule.w2 * np.float32(1e-3), rule.b2 * np.float32(0.0), target=target)


def _discs(world: World, centres: list[tuple[int, int]], radius: float, species: list[str]) -> None:
    yy, xx = np.mgrid[: world.height, : world.width]
    state = world.state
    for k, ((cy, cx), name) in enumerate(zip(centres, species, strict=True)):
        organism = world.spawn(f"o{k}", name, (cy, cx))
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        state[disc] = 0.5
        state[disc, 3] = 1.0
        world.owner[disc] = organism.index


def make_world(layout: str, rules: dict[str, Rule]) -> World:
    """A ``SIZE x SIZE`` world in one of the benchmark layouts, stepping with every thread (timings
    of the core alone; `bench --contention` times the chosen counts)."""
    world = World(SIZE, SIZE, species=rules, seed=7, threads=numba.config.NUMBA_NUM_THREADS)
    names = list(rules)
    if layout == "all alive":
        world.spawn("o0", names[0], (0, 0))
        world.state[:] = 0.5
        world.state[:, :, 3] = 1.0
        world.owner[:] = 1
    elif layout == "one organism":
        _discs(world, [(SIZE // 2, SIZE // 2)], np.sqrt(AREA_FRACTION * SIZE * SIZE / np.pi), names[:1])
    else:
        radius = np.sqrt(AREA_FRACTION * SIZE * SIZE / 4 / np.pi)
        q = SIZE // 4
        centres = [(q, q), (q, 3 * q), (3 * q, q), (3 * q, 3 * q)]
        _discs(world, centres, radius, [names[k % len(names)] for k in range(4)])
    return world


def fired_updates(world: World) -> float:
    """Fired cells the core must update at the next step (those inside the alive halo)."""
    hot = world.alpha > world.alive_threshold
    halo = np.zeros_like(hot)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            halo |= np.roll(hot, (dy, dx), (0, 1))
    fire = fire_mask(world.seed, world.step_count, world.height, world.width, 0.5)
    return float((halo & fire).sum())


def numpy_reference_step(rule: Rule) -> Callable[[], object]:
    """A plain numpy step: shifted-slice perception, two matrix products over the grid."""
    x = np.random.default_rng(1).random((SIZE, SIZE, rule.spec.channels), dtype=np.float32)

    def maxpool(a: np.ndarray) -> np.ndarray:
        p = np.pad(a, 1)
        return np.max([p[dy : dy + SIZE, dx : dx + SIZE] for dy in range(3) for dx in range(3)], axis=0)

    def step() -> np.ndarray:
        p = np.pad(x, ((1, 1), (1, 1), (0, 0)))
        n = {(dy, dx): p[1 + dy : 1 + dy + SIZE, 1 + dx : 1 + dx + SIZE] for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
        sx = (n[-1, 1] - n[-1, -1] + 2 * (n[0, 1] - n[0, -1]) + n[1, 1] - n[1, -1]) / 8
        sy = (n[1, -1] + 2 * n[1, 0] + n[1, 1] - n[-1, -1] - 2 * n[-1, 0] - n[-1, 1]) / 8
        features = np.concatenate([x, sx, sy], axis=2)
        dx = np.maximum(features @ rule.w1 + rule.b1, 0) @ rule.w2 + rule.b2
        y = x + dx * (np.random.default_rng(0).random((SIZE, SIZE, 1)) < 0.5)
        life = (maxpool(x[:, :, 3]) > 0.1) & (maxpool(y[:, :, 3]) > 0.1)
        return y * life[:, :, None]

    return step


def training_rates(steps: int = 32, repeats: int = 2) -> tuple[float, float]:
    """Iterations/s of the trainer and of a straightforward implementation of the same recipe
    (NCHW, depthwise conv2d perception, 1x1 convolutions), same batch and rollout length.

    The recipe is the identity paper's: 60x60 grid, 17 channels, hidden 128, batch 8, from grown
    organisms (the steady state of a pool), so that skipping empty space is not over-credited.
    """
    import torch
    import torch.nn.functional as F

    from nca_world.agents.spec import PERCEPTION_KERNELS
    from nca_world.agents.train import Trainer, keep_freed_memory
    from nca_world.agents.trainconfig import TrainingFile

    keep_freed_memory()
    config = TrainingFile.model_validate({
        "target": {"kind": "shape", "shape": "disc", "size": 30, "padding": 15},
        "model": {"channels": 17, "identity_channels": 1},
        "train": {"variant": "B", "batch": 8, "pool_size": 64, "rollout": [steps, steps],
                  "reseed_worst": 3, "damage_best": 3}})
    trainer = Trainer(config, base=Path("."), device="cpu")
    # steady state: every sample a grown organism (the target's colours, hidden channels 0.5)
    grown = torch.zeros_like(trainer.pool.states[:1])
    grown[..., :4] = trainer.targets[0]
    grown[..., 4:] = 0.5 * (trainer.targets[0][..., 3:4] > 0.1)
    trainer.pool.states[:] = grown
    ours = median_seconds(trainer.step, repeats, 1)

    c, h = 17, 128
    kernels = torch.from_numpy(PERCEPTION_KERNELS.copy())[:, None].repeat(c, 1, 1, 1)
    conv1, conv2 = torch.nn.Conv2d(3 * c, h, 1), torch.nn.Conv2d(h, c, 1)
    torch.nn.init.zeros_(conv2.weight)
    optimizer = torch.optim.Adam([*conv1.parameters(), *conv2.parameters()], lr=2e-3)
    target = trainer.targets[0].permute(2, 0, 1)[None]

    def plain_iteration() -> None:
        x = grown.repeat(8, 1, 1, 1).permute(0, 3, 1, 2)
        for _ in range(steps):
            pre = F.max_pool2d(x[:, 3:4], 3, 1, 1) > 0.1
            dx = conv2(torch.relu(conv1(F.conv2d(x, kernels, padding=1, groups=c))))
            x = x + dx * (torch.rand(8, 1, x.shape[2], x.shape[3]) < 0.5)
            x = x * (pre & (F.max_pool2d(x[:, 3:4], 3, 1, 1) > 0.1))
        loss = ((x[:, :4] - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        for p in [*conv1.parameters(), *conv2.parameters()]:
            p.grad /= p.grad.norm() + 1e-8
        optimizer.step()

    plain = median_seconds(plain_iteration, repeats, 1)
    return 1 / ours, 1 / plain


def recording_costs(layout: str, rules: dict[str, Rule], steps: int = 300, repeats: int = 5) -> dict[str, float]:
    """Slow-down of stepping while every frame is recorded with the default settings (median of
    runs alternated with plain ones; opening and closing the file are timed apart, as they do not
    grow with the run), the file size per 1000 frames, and the frames/s the recorder writes
    when it is the only thing running."""
    import tempfile

    from nca_world.sim.recorder import Recorder
    from nca_world.sim.recorder_settings import recorded_channels
    from nca_world.sim.scenario_sections import RecordSection

    settings = RecordSection()

    def recorder(world: World, path: Path) -> Recorder:
        return Recorder(path, world, scenario_text="", channels=recorded_channels(settings.channels, world),
                        dtype=settings.dtype, compression=settings.compression, every=settings.every,
                        keyframe_every=settings.keyframe_every, flush_every=settings.flush_every)

    def timed_run(path: Path | None) -> tuple[float, float]:
        """Seconds stepping (and recording), and seconds opening and closing the recording."""
        world = make_world(layout, rules)
        world.step(2)
        if path is None:
            start = time.perf_counter()
            world.step(steps)
            return time.perf_counter() - start, 0.0
        opened = time.perf_counter()
        rec = recorder(world, path)
        start = time.perf_counter()
        for _ in range(steps):
            rec.observe(world)  # as `nca-world run` records
            world.step()
        stop = time.perf_counter()
        rec.close(complete=True)
        return stop - start, start - opened + time.perf_counter() - stop

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.h5"
        pairs = [(timed_run(None)[0], *timed_run(path)) for _ in range(repeats)]  # alternated: same noise
        plain, recorded, fixed = (float(np.median(times)) for times in zip(*pairs, strict=True))
        size = path.stat().st_size
        world = make_world(layout, rules)
        world.step(2)
        with recorder(world, Path(folder) / "writer.h5") as rec:
            start = time.perf_counter()
            for _ in range(steps):
                rec.observe(world)
                world.step_count += 1  # the same state, recorded as further frames
            writer = time.perf_counter() - start
    return {"slowdown": recorded / plain - 1, "mb_per_1000_frames": size / steps * 1000 / 1e6,
            "frames_per_s": steps / writer, "open_close_ms": fixed * 1e3}


def scenario_of(rules: dict[str, Rule], folder: Path):
    """A scenario object for a benchmark world (its models written to `folder`)."""
    from nca_world.agents.modelfile import save_rule
    from nca_world.sim.scenario import Scenario
    from nca_world.sim.scenario_file import ScenarioFile

    species = [{"name": name, "model": str(save_rule(rule, folder / f"{name}.h5"))} for name, rule in rules.items()]
    file = ScenarioFile.model_validate({"world": {"height": SIZE, "width": SIZE, "seed": 7}, "species": species,
                                        "run": {"steps": 0}})
    return Scenario(file, "", folder / "bench.toml", rules)


def viewer_rates(rules: dict[str, Rule], frames: int = 90) -> tuple[float, float]:
    """Frames/s and steps/s of the live viewer (dummy video driver) stepping as fast as it can."""
    import os
    import tempfile

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from nca_world.sim.runner import Run
    from nca_world.sim.viewer import Viewer
    from nca_world.sim.viewer_sources import LiveSource
    from nca_world.sim.viewer_state import SPEEDS

    with tempfile.TemporaryDirectory() as folder:
        world = make_world("4 organisms, 2 species", rules)
        source = LiveSource(Run(scenario_of(rules, Path(folder)), world, None))
        with Viewer(source, zoom=2, fps=1000) as viewer:
            viewer.state.speed = len(SPEEDS) - 1  # as fast as possible
            viewer.run(max_frames=5)
            start, steps = time.perf_counter(), world.step_count
            viewer.run(max_frames=frames)
            seconds = time.perf_counter() - start
            return frames / seconds, (world.step_count - steps) / seconds


def big_viewer_fps(frames: int = 40) -> float:
    """Frames/s the paused viewer draws of a 2048 x 2048 world with 256 organisms (10% alive) in
    a 1000 x 1800 window at zoom 1 (dummy video driver): drawing, not stepping, since one step of
    that world takes longer than a frame."""
    import os
    import tempfile

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from nca_world.sim.bench_scale import scale_world
    from nca_world.sim.runner import Run
    from nca_world.sim.viewer import Viewer
    from nca_world.sim.viewer_sources import LiveSource

    rule = bench_rule(1)
    world = scale_world(2048, 256, rule)
    world.step()
    with tempfile.TemporaryDirectory() as folder:
        source = LiveSource(Run(scenario_of({"a": rule}, Path(folder)), world, None))
        with Viewer(source, zoom=1, fps=1000) as viewer:
            viewer.resize(1800, 1000)
            viewer.state.paused = True
            viewer.run(max_frames=3)
            start = time.perf_counter()
            viewer.run(max_frames=frames)
            return frames / (time.perf_counter() - start)


def analysis_seconds(rules: dict[str, Rule], frames: int = 1000) -> float:
    """Time to analyse a recording of `frames` frames of the 4-organism world (no video)."""
    import tempfile

    from nca_world.sim.analysis import analyze
    from nca_world.sim.events import record_of
    from nca_world.sim.recorder import Recorder
    from nca_world.sim.scenario_events import Spawn

    with tempfile.TemporaryDirectory() as folder:
        world = make_world("4 organisms, 2 species", rules)
        path = Path(folder) / "analysis.h5"
        with Recorder(path, world, scenario_text="", channels=[0, 1, 2, 3], keyframe_every=frames) as recorder:
            for organism in world.organisms:
                spawn = Spawn(kind="spawn", step=0, name=organism.name, species=organism.species,
                              position=organism.seed_cell)
                recorder.event(record_of(spawn, 0, {"index": organism.index}, "scenario"))
            for _ in range(frames):
                recorder.observe(world)
                world.step()
        start = time.perf_counter()
        analyze(path)
        return time.perf_counter() - start


def meeting_costs(rule: Rule, repeats: int, inner: int) -> dict[str, float]:
    """Extra time per step of the meeting rules on the 4-organism world, timed alternately with
    the same world under the defaults: walls on 10% of the grid (three 9-row bands in the empty
    space between the organisms), and ``senses = "self"`` for every pair."""
    worlds = {"defaults": make_world("4 organisms, 1 species", {"a": rule})}
    walled = make_world("4 organisms, 1 species", {"a": rule})
    bands = np.zeros((SIZE, SIZE), bool)
    for y in (0, SIZE // 2 - 4, SIZE - 9):
        bands[y : y + 9] = True
    walled.set_walls(bands)
    worlds["walls on 10%"] = walled
    blind = make_world("4 organisms, 1 species", {"a": rule})
    blind.set_meeting(senses="self")
    worlds['senses = "self"'] = blind
    # many short rounds: the differences sought (a few %) are smaller than a loaded machine's drift
    times = interleaved({name: world.step for name, world in worlds.items()}, 20 * repeats, max(inner // 4, 1))
    costs = {name: times[name] / times["defaults"] - 1 for name in worlds if name != "defaults"}
    costs["16 organisms, fission checks every 10 steps"] = fission_cost(rule, repeats)
    return costs


def fission_cost(rule: Rule, repeats: int) -> float:
    """Extra time of ``split = true`` (a check every 10 steps) on a world of 16 organisms on 10% of
    the grid: one `fission.splitting` check against 10 steps, timed alternately (the check is
    the whole extra; timing it apart, not as the small difference of two noisy totals, keeps the
    figure steady on a loaded machine)."""
    from nca_world.sim.fission import splitting

    world = World(SIZE, SIZE, species={"a": rule}, seed=7)
    spacing = SIZE // 4
    centres = [(spacing // 2 + spacing * (k // 4), spacing // 2 + spacing * (k % 4)) for k in range(16)]
    _discs(world, centres, np.sqrt(AREA_FRACTION * SIZE * SIZE / 16 / np.pi), ["a"] * 16)
    world.step(10)
    if splitting(world, 10):
        raise RuntimeError("the bench's 16 discs are whole: none may split")
    times = interleaved({"steps": lambda: world.step(10), "check": lambda: splitting(world, 10)}, repeats, 1)
    return times["check"] / times["steps"]


def startup_seconds() -> tuple[float, float, float]:
    """Wall times in fresh processes: ``nca-world run scenarios/demo.toml --steps 1`` (the first
    step of `make run`, recorded) with an empty numba cache (the cold compile); set-up's warm-up
    (`sim.warmup`, two processes) with an empty cache; the same run after that warm-up."""
    with tempfile.TemporaryDirectory() as folder:
        run_demo = [sys.executable, "-m", "nca_world.sim.cli", "run", str(DEMO), "--steps", "1", "--overwrite",
                    "--out", str(Path(folder) / "demo.h5")]
        warm = [sys.executable, "-m", "nca_world.sim.warmup"]
        times = []
        for cache, command in (("cold", run_demo), ("set-up", warm), ("set-up", run_demo)):
            env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(folder) / cache)}
            start = time.perf_counter()
            subprocess.run(command, check=True, env=env, capture_output=True)
            times.append(time.perf_counter() - start)
    return times[0], times[1], times[2]


def run(json_path: Path | None = None, repeats: int = 5, inner: int = 20) -> dict[str, object]:
    """Measure everything, print the table and return (and optionally write) the figures."""
    rule_a, rule_b = bench_rule(1), bench_rule(2)
    flops = rule_a.spec.flops_per_update
    gflops = matmul_gflops()
    grid = SIZE * SIZE
    numpy_s = median_seconds(numpy_reference_step(rule_a), max(1, repeats // 2), 1)
    rows = [Row("numpy reference (full grid)", numpy_s * 1e3, grid / numpy_s)]
    figures: dict[str, object] = {"matmul_gflops": gflops, "numpy_ms": numpy_s * 1e3}
    layouts = [("all alive", {"a": rule_a}), ("one organism", {"a": rule_a}),
               ("4 organisms, 1 species", {"a": rule_a}), ("4 organisms, 2 species", {"a": rule_a, "b": rule_b})]
    for layout, rules in layouts:
        world = make_world(layout, rules)
        updates = fired_updates(world)
        peers = torch_peers(rule_a, world.state.copy())
        times = interleaved({"core": world.step, **peers}, repeats, inner)
        seconds = times.pop("core")
        best = min(times, key=times.__getitem__)
        fraction = updates * flops / seconds / (gflops * 1e9)
        rows.append(Row(f"core: {layout}", seconds * 1e3, updates / seconds,
                        f"{times[best] / seconds:6.1f}x best torch ({best})  {numpy_s / seconds:7.1f}x numpy  "
                        f"{100 * fraction:5.1f}% of matmul"))
        rows += [Row(f"  {name}", t * 1e3, updates / t) for name, t in times.items()]
        figures[layout] = {"ms_per_step": seconds * 1e3, "steps_per_s": 1 / seconds,
                           "fired_updates_per_s": updates / seconds, "vs_best_torch": times[best] / seconds,
                           "best_torch_peer": best, "torch_ms": {name: t * 1e3 for name, t in times.items()},
                           "vs_numpy": numpy_s / seconds, "matmul_fraction": fraction}
    one, two = figures["4 organisms, 1 species"], figures["4 organisms, 2 species"]
    figures["two_species_slowdown"] = two["ms_per_step"] / one["ms_per_step"] - 1  # type: ignore[index]
    figures["meeting_costs"] = meeting_costs(rule_a, repeats, inner)
    figures["cold_compile_s"], figures["setup_compile_s"], figures["first_step_s"] = startup_seconds()
    for layout in ("all alive", "one organism"):
        figures[f"recording, {layout}"] = recording_costs(layout, {"a": rule_a})
    figures["viewer_fps"], figures["viewer_steps_per_s"] = viewer_rates({"a": rule_a, "b": rule_b})
    figures["big_viewer_fps"] = big_viewer_fps()
    figures["analysis_1000_frames_s"] = analysis_seconds({"a": rule_a, "b": rule_b})
    trainer_rate, plain_rate = training_rates()
    figures["training"] = {"trainer_it_per_s": trainer_rate, "straightforward_it_per_s": plain_rate,
                           "speedup": trainer_rate / plain_rate}
    print(f"nca-world bench: {SIZE}x{SIZE}, C=16, hidden 128, fire rate 0.5, "
          f"{flops} FLOP per cell-update; matmul {gflops:.0f} GFLOP/s")
    print(f"{'':32} {'ms/step':>9} {'steps/s':>9} {'updates/s':>10}")
    for row in rows:
        print(f"{row.name:32} {row.ms_per_step:9.3f} {1e3 / row.ms_per_step:9.1f} "
              f"{row.cell_updates_per_s / 1e6:9.2f}M  {row.note}")
    print(f"two species vs one (same area): {100 * figures['two_species_slowdown']:+.1f}%")  # type: ignore[operator]
    for layout, goal in (("all alive", 75), ("one organism", 60)):
        share = 100 * figures[layout]["matmul_fraction"]  # type: ignore[index]
        print(f"{layout}: {share:.0f}% of the matmul rate (target >= {goal}%)")
    goals = {"walls on 10%": 5, 'senses = "self"': 35, "16 organisms, fission checks every 10 steps": 5}
    for name, cost in figures["meeting_costs"].items():  # type: ignore[union-attr]
        where = "" if name.startswith("16 organisms") else "4 organisms, "
        print(f"{where}{name}: {100 * cost:+.1f}% over the defaults (goal <= +{goals[name]}%)")
    print(f"run demo --steps 1 in a fresh process: {figures['cold_compile_s']:.1f} s with an empty numba cache "
          f"(cold compile; goal <= 20 s), {figures['first_step_s']:.2f} s after set-up (goal <= 1 s); "
          f"set-up's warm-up (two processes) {figures['setup_compile_s']:.1f} s")
    for layout, goal in (("all alive", 15), ("one organism", 50)):
        costs = figures[f"recording, {layout}"]
        print(f"recording every frame, {layout:13}: {100 * costs['slowdown']:+6.1f}% run time (goal <= +{goal}%), "  # type: ignore[index]
              f"{costs['mb_per_1000_frames']:6.1f} MB per 1000 frames, "  # type: ignore[index]
              f"writer alone {costs['frames_per_s']:6.0f} frames/s, "  # type: ignore[index]
              f"open + close {costs['open_close_ms']:.0f} ms")  # type: ignore[index]
    print(f"viewer, 4 organisms, dummy video: {figures['viewer_fps']:.0f} frames/s while stepping "
          f"{figures['viewer_steps_per_s']:.0f} steps/s; 2048x2048 with 256 organisms, paused, 1000 x 1800 "
          f"window at zoom 1: {figures['big_viewer_fps']:.0f} frames/s (goal >= 30)")
    seconds = figures["analysis_1000_frames_s"]
    print(f"analysis of a 1000-frame {SIZE}x{SIZE} recording with 4 organisms: {seconds:.1f} s")
    print(f"training (60x60, C=17, batch 8, 32 steps): trainer {trainer_rate:.2f} it/s, "
          f"straightforward conv2d {plain_rate:.2f} it/s: {trainer_rate / plain_rate:.2f}x")
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2))
    return figures

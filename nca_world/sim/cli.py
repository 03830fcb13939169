"""The `nca-world` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from nca_world.agents.errors import NcaWorldError

if TYPE_CHECKING:
    from nca_world.sim.scenario import Scenario


def _bench(args: argparse.Namespace) -> None:
    if args.training:
        from nca_world.sim import bench_training

        bench_training.run(rounds=args.rounds)
        return
    if args.scale:
        from nca_world.sim import bench_scale

        bench_scale.run(max_size=args.max_size, repeats=args.repeats)
        return
    if args.contention:
        from nca_world.sim import bench_contention

        bench_contention.print_table(bench_contention.contention(rounds=args.rounds))
        return
    from nca_world.sim import bench

    bench.run(json_path=args.json, repeats=args.repeats)


def _train(args: argparse.Namespace) -> None:
    import signal

    from nca_world.agents.errors import ConfigError
    from nca_world.agents.trainconfig import load_training_file

    config = load_training_file(args.config)  # validated before torch is imported: refusals are quick
    try:
        config.target.images(args.config.parent)
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(str(args.config)) else f"{args.config}: {message}") from error
    out = args.out or args.config.with_suffix(".h5")
    checkpoint = args.checkpoint or out.with_name(out.stem + ".ckpt.h5")
    slim = out.with_name(out.stem + ".resume.h5")  # weights, Adam and RNG states, no pool: small enough for git
    if checkpoint.resolve() in (args.config.resolve(), out.resolve(), slim.resolve()):
        raise ConfigError(f"{args.config}: --checkpoint: expected a file other than the config, the model and "
                          f"its resume file, got {checkpoint}")
    source = checkpoint if checkpoint.is_file() else slim
    if (args.resume or args.snapshot) and not source.is_file():
        raise ConfigError(f"{checkpoint}: no checkpoint to resume from (nor {slim})")
    if not (args.resume or args.snapshot) and checkpoint.exists():
        raise ConfigError(f"{checkpoint}: a checkpoint of an earlier training exists: continue it with --resume, "
                          f"or delete it to start again")

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # `kill` or a scheduler's SIGTERM: checkpoint and stop like Ctrl-C

    signal.signal(signal.SIGTERM, stop)
    from nca_world.agents.checkpoint import save_checkpoint
    from nca_world.agents.train import Trainer, keep_freed_memory, run

    keep_freed_memory()
    trainer = Trainer(config, base=args.config.parent)
    if args.resume or args.snapshot:
        trainer.resume_from(source)
    if args.snapshot:
        trainer.save_model(out)
        save_checkpoint(trainer.checkpoint(with_pool=False), slim)
        print(f"model at iteration {trainer.iteration} of {config.train.iterations}: {out}; resume file: {slim} "
              f"(`--resume` continues from it, regrowing the pool)")
        return
    print(f"training {args.config} on {trainer.device} ({config.train.iterations} iterations, "
          f"from {trainer.iteration}); checkpoints: {checkpoint}")
    try:
        run(trainer, checkpoint)
    except KeyboardInterrupt:
        print(f"nca-world: interrupted at iteration {trainer.iteration}; resume with --resume "
              f"(checkpoint {checkpoint})", file=sys.stderr)
        raise SystemExit(130) from None
    trainer.save_model(out)
    print(f"model: {out}  sheet: {out.with_suffix('.png')}  final loss {trainer.rule().provenance['final_loss']:.5f}")


def _loaded(path: Path, overrides: list[str]) -> Scenario:
    """The scenario at `path`, its warnings printed to stderr."""
    from nca_world.sim.scenario import load_scenario

    scenario = load_scenario(path, overrides)
    for warning in scenario.warnings:
        print(f"nca-world: warning: {warning}", file=sys.stderr)
    return scenario


def _run(args: argparse.Namespace) -> None:
    from nca_world.agents.errors import RecordingError, ScenarioError
    from nca_world.sim.runner import check_steps, fork, run_scenario

    def announce(path: Path) -> None:
        print(f"recording to {path}", flush=True)

    overwrite = "finished" if args.overwrite else "never"  # the run of a recording replaced must have ended
    origin = args.source or args.scenario or Path("run")
    if args.steps is not None:
        check_steps(origin, args.steps)
    if args.source is None and args.at is not None:
        raise ScenarioError(f"{origin}: --at: expected --from RECORDING with it, got --at {args.at} alone")
    if args.source is not None:
        if args.at is None:
            raise RecordingError(f"{args.source}: --at: expected the step to fork at, got none")
        if args.at < 0:
            raise RecordingError(f"{args.source}: --at: expected a step >= 0, got {args.at}")
        if args.seed is not None:
            raise RecordingError(f"{args.source}: --seed: expected none in a fork (it keeps the recording's seed), "
                                f"got {args.seed}")
        scenario = _loaded(args.scenario, args.set) if args.scenario else None
        summary = fork(args.source, args.at, scenario, steps=args.steps, out=args.out, overwrite=overwrite,
                       overrides=[] if args.scenario else args.set, on_start=announce, threads=args.threads)
    elif args.scenario is None:
        raise ScenarioError("run: scenario: expected a scenario file, or --from RECORDING --at STEP, got neither")
    else:
        summary = run_scenario(_loaded(args.scenario, args.set), steps=args.steps, out=args.out,
                               seed=args.seed, overwrite=overwrite, on_start=announce, threads=args.threads)
    print(f"ran {summary.steps} steps in {summary.first_step_seconds + summary.seconds:.1f} s: "
          f"{summary.steps_per_second:.0f} steps/s after the first step, which took "
          f"{summary.first_step_seconds:.1f} s (loading the numba kernels)")
    for name, cells in summary.organisms:
        print(f"  {name:20} {'alive' if cells else 'dead ':5} {cells:7d} cells")
    print(f"recording: {summary.recording} ({summary.recording_bytes / 1e6:.1f} MB)")


def _view(args: argparse.Namespace) -> None:
    from nca_world.sim.recording import open_recording
    from nca_world.sim.runner import Run, build_world
    from nca_world.sim.viewer import HEADLESS_HINT, Viewer, missing_display
    from nca_world.sim.viewer_sources import LiveSource, ReplaySource

    problem = missing_display()
    if problem:
        raise NcaWorldError(f"view: {problem}; {HEADLESS_HINT}")
    if args.record_to is not None and args.record_to.exists():
        raise NcaWorldError(f"{args.record_to}: --record-to: expected a new file (a live session never "
                            f"overwrites), got an existing one")
    if args.path.suffix == ".toml":
        scenario = _loaded(args.path, args.set)
        source = LiveSource(Run(scenario, build_world(scenario), None), record_to=args.record_to)
    else:
        source = ReplaySource(open_recording(args.path))
    with Viewer(source, zoom=args.zoom, fps=args.fps) as viewer:
        if args.view:
            viewer.state.view = args.view
        viewer.run()


def _snapshot(args: argparse.Namespace) -> None:
    from nca_world.sim.recording import open_recording
    from nca_world.sim.runner import Run, build_world
    from nca_world.sim.snapshot import check_output, snapshot
    from nca_world.sim.viewer_sources import LiveSource, ReplaySource

    try:
        steps = [int(s) for s in args.at.split(",")]
    except ValueError:
        raise NcaWorldError(f"snapshot: --at: expected steps separated by commas, got {args.at!r}") from None
    if any(s < 0 for s in steps):
        raise NcaWorldError(f"snapshot: --at: expected steps >= 0, got {args.at!r}")
    check_output(args.out)  # before a live scenario is built and run
    if args.path.suffix == ".toml":
        scenario = _loaded(args.path, args.set)
        source = LiveSource(Run(scenario, build_world(scenario), None))
        written = snapshot(source, steps, args.out, view=args.view, zoom=args.zoom, labels=not args.no_labels)
    else:
        with open_recording(args.path) as recording:
            written = snapshot(ReplaySource(recording), steps, args.out, view=args.view, zoom=args.zoom,
                               labels=not args.no_labels)
    print(f"wrote {written}")


def _analyze(args: argparse.Namespace) -> None:
    from nca_world.sim import figures
    from nca_world.sim.analysis import analyze
    from nca_world.sim.recording import open_recording

    out = args.out or args.recording.with_suffix("")
    video = args.video  # where the user asked: relative to the current folder, not the recording
    view = args.view or "rgb"
    with open_recording(args.recording) as recording:
        figures.check_outputs(recording, out, video, args.view or ("rgb" if video else None))  # before any work
        analysis = analyze(recording, rotations=args.rotations)
        written = figures.write_tables(analysis, out)
        written.append(figures.plot_timeseries(analysis, out / "shape_error_and_mass.png"))
        written.append(figures.plot_tracks(analysis, recording, out / "centroid_tracks.png"))
        montage = figures.montage(analysis, recording, out / "damage_montage.png")
        written += [montage] if montage else []
        for extra in (figures.plot_lineage(analysis, out / "lineage.png"),
                      figures.plot_body_shares(analysis, out / "body_shares.png")):
            written += [extra] if extra else []
        if video is not None:
            video.parent.mkdir(parents=True, exist_ok=True)
            written.append(figures.export_video(recording, video, view=view, scale=args.zoom))
    print(analysis.summary())
    print(f"wrote {len(written)} files to {out}/" + (f" and {video}" if video is not None else ""))


def _sweep(args: argparse.Namespace) -> None:
    from nca_world.sim.sweep import Sweep
    from nca_world.sim.sweep_run import collect, run_sweep

    sweep = Sweep(args.sweep)
    out = args.out or Path("sweeps") / args.sweep.stem
    try:
        table = run_sweep(sweep, out, scheduler=args.scheduler, workers=args.workers)
    except KeyboardInterrupt:
        collect(sweep, out)
        print(f"nca-world: interrupted; finished runs are in {out}/results.csv (rerun to continue)",
              file=sys.stderr)
        raise SystemExit(130) from None
    failed = int((table["error"].astype("string").fillna("") != "").sum()) if "error" in table else 0
    print(f"{len(table)} runs ({failed} failed): {out / 'results.csv'}")
    if sweep.controls():
        print(f"{len(sweep.controls())} controls: {out / 'controls.csv'}")
    print(f"per-step series of every run: {out / 'series.h5'}")


def _report(args: argparse.Namespace) -> None:
    from nca_world.sim.report import write_report

    if not (args.folder / "results.csv").is_file():
        raise NcaWorldError(f"{args.folder}: no results.csv (run `nca-world sweep` first)")
    path = write_report(args.folder, group=args.compare, by=args.by, measure=args.measure, title=args.title)
    print(path.read_text())


def _validate(args: argparse.Namespace) -> None:
    from nca_world.sim.scenario import load_scenario

    failed = []
    for path in args.paths:
        try:
            scenario = load_scenario(path)
        except NcaWorldError as error:
            failed.append(str(error))
            continue
        for warning in scenario.warnings:
            print(f"nca-world: warning: {warning}", file=sys.stderr)
        print(f"{path}: OK" + (f" ({len(scenario.warnings)} warning(s))" if scenario.warnings else ""))
    if failed:
        raise NcaWorldError("\n".join(failed))


def _import(args: argparse.Namespace) -> None:
    from nca_world.agents import library
    from nca_world.agents.demo_format import read_demo_model
    from nca_world.agents.modelfile import save_rule

    folder = args.out or library.user_folder()
    rules = [(path, read_demo_model(path, licence=args.licence)) for path in args.paths]  # all checked first
    targets = [folder / f"{path.stem}.h5" for path, _ in rules]
    taken = [str(t) for t in targets if t.exists()]
    if taken:
        raise NcaWorldError(f"{taken[0]}: already exists (import never overwrites; remove it or choose --out)")
    if len(set(targets)) != len(targets):
        raise NcaWorldError(f"import: two files would both become {targets[0].name}: import them separately")
    for (path, rule), target in zip(rules, targets, strict=True):
        save_rule(rule, target)
        card = rule.provenance["imported"]
        target.with_suffix(".md").write_text(
            f"# {target.stem}\n\nImported from `{card['source']}` (sha256 {card['sha256']}) on {card['imported']}, "
            f"format {card['format']}; licence: {card['licence']}.\n\n- **Rule**: {rule.spec.channels} channels, "
            f"hidden {rule.spec.hidden}, no identity channel, fire rate {rule.spec.fire_rate}.\n", encoding="utf-8")
        print(f"{path} -> {target} (library name {target.stem!r})")


def _export(args: argparse.Namespace) -> None:
    import numpy as np

    from nca_world.agents.demo_format import demo_json, read_demo_model
    from nca_world.agents.modelfile import load_rule
    from nca_world.sim.world import World

    rule = load_rule(args.model)
    out = args.out or args.model.with_suffix(".json")
    if out.exists():
        raise NcaWorldError(f"{out}: already exists (export never overwrites; remove it or choose --out)")
    try:
        text, error = demo_json(rule)
    except NcaWorldError as problem:
        raise NcaWorldError(f"{args.model}: cannot be written as {args.format}: {problem}") from problem
    out.write_text(text, encoding="utf-8")
    side = rule.target.shape[-2] if rule.target is not None else 72
    grown = []
    for candidate in (rule, read_demo_model(out)):
        world = World(side, side, species={"m": candidate}, seed=0)
        world.spawn("o", "m", (side // 2, side // 2))
        world.step(args.grow_steps)
        grown.append(np.clip(world.rgba, 0.0, 1.0))
    drift = float(np.mean((grown[0] - grown[1]) ** 2))
    print(f"{out}: 8-bit weights, max error {error.max_error:.2e}, RMS {error.rms_error:.2e}; grown "
          f"{args.grow_steps} steps from a seed, RGBA MSE against the unquantised model {drift:.2e}")


def _models(args: argparse.Namespace) -> int:
    from nca_world.agents import library
    from nca_world.agents.modelfile import load_rule

    if args.sheet is not None:
        _sheet(args)
        return 0
    if not args.paths:
        _list_library()
        return 0
    paths = [library.locate(given, Path.cwd()) for given in args.paths]  # a file or a library name
    rules = [(path, load_rule(path)) for path in paths]  # every file checked before any work
    for path, rule in rules:
        spec = rule.spec
        print(f"{path}: C={spec.channels} hidden={spec.hidden} identity={spec.identity_channels} "
              f"({spec.identity_mode}) fire_rate={spec.fire_rate} boundary={spec.boundary} "
              f"target={None if rule.target is None else rule.target.shape}")
    if args.stability:
        args.steps = 2000 if args.steps is None else args.steps
        return _stability(args, rules)
    return 0


def _sheet(args: argparse.Namespace) -> None:
    """Draw the contact sheet of the named models (each refused with its reason when unreadable),
    or of the whole library (an unreadable model skipped with a note)."""
    from nca_world.agents import library
    from nca_world.agents.errors import ModelFileError
    from nca_world.agents.modelfile import load_rule
    from nca_world.sim.contact_sheet import check_output, contact_sheet

    check_output(args.sheet, args.overwrite)  # before any model is grown
    models = []
    if args.paths:
        for given in args.paths:
            path = library.locate(given, Path.cwd())
            if not path.exists():
                raise NcaWorldError(f"{given}: expected a model file or a library name, got neither")
            models.append((path.stem, load_rule(path)))
    else:
        for name, path in library.models().items():
            try:
                models.append((name, load_rule(path)))
            except ModelFileError as error:
                print(f"nca-world: warning: {name}: skipped ({error})", file=sys.stderr)
    steps = 200 if args.steps is None else args.steps
    print(f"{contact_sheet(models, args.sheet, steps=steps, overwrite=args.overwrite)}: {len(models)} model(s) "
          f"grown {steps} steps")


def _list_library() -> None:
    from nca_world.agents import library
    from nca_world.agents.errors import ModelFileError
    from nca_world.agents.modelfile import load_rule

    print(f"{'name':24} {'C':>3} {'identity':>9}  {'stability':9}  source")
    for name, path in library.models().items():
        try:
            rule = load_rule(path)
        except ModelFileError as error:
            print(f"{name:24} unreadable: {error}")
            continue
        card = path.with_suffix(".md")
        text = card.read_text(encoding="utf-8") if card.is_file() else ""
        verdict = next((w for w in ("PASS", "FAIL") if f"## Stability check: {w}" in text), "-")
        identity = f"{rule.spec.identity_channels} {rule.spec.identity_mode}" if rule.spec.identity_channels else "-"
        print(f"{name:24} {rule.spec.channels:3d} {identity:>9}  {verdict:9}  {path}")
    print(f"folders (searched in this order): {', '.join(str(f) for f in library.folders())}")


def _stability(args: argparse.Namespace, rules: list) -> int:
    """Check each model; 1 when any fails (usable as a gate in scripts and CI), else 0."""
    from nca_world.sim import stability

    for path, rule in rules:
        if rule.target is None:
            raise NcaWorldError(f"{path}: --stability: expected a model file that stores its target, got none")
    gates = stability.Gates()
    failed = []
    for path, rule in rules:
        growths = stability.check_model(rule, steps=args.steps, seeds=tuple(range(args.seeds)), gates=gates)
        print(stability.table(path.stem, growths))
        for growth in growths:
            for failure in growth.failures[:3]:
                print(f"  FAIL identity {growth.identity}: {failure}")
            if len(growth.failures) > 3:
                print(f"  ... and {len(growth.failures) - 3} more for identity {growth.identity}")
        failed += [path] if not all(g.passed for g in growths) else []
        if args.card:
            card = path.with_suffix(".md")
            section = stability.card_section(path.stem, growths, args.steps, args.seeds, 2, gates)
            text = card.read_text(encoding="utf-8") if card.is_file() else f"# {path.stem}\n"
            card.write_text(stability.replace_section(text, section), encoding="utf-8")
            print(f"card: {card}")
    print(f"stability: {len(rules) - len(failed)} of {len(rules)} model(s) pass"
          + (f"; failing: {', '.join(str(p) for p in failed)}" if failed else ""))
    return 1 if failed else 0


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
    bench.set_defaults(handler=_bench)
    train = commands.add_parser("train", help="train a rule from a training config (TOML)")
    train.add_argument("config", type=Path)
    train.add_argument("--out", type=Path, help="model file to write (default: CONFIG with .h5)")
    train.add_argument("--checkpoint", type=Path, help="checkpoint file (default: OUT.ckpt.h5)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint (or from MODEL.resume.h5 when there is none)")
    train.add_argument("--snapshot", action="store_true",
                       help="do not train: write the model and a small MODEL.resume.h5 from the checkpoint")
    train.set_defaults(handler=_train)
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
    run.set_defaults(handler=_run)
    view = commands.add_parser("view", help="watch a scenario live, or replay a recording")
    view.add_argument("path", type=Path, help="scenario (.toml) or recording (.h5)")
    view.add_argument("--view", choices=("rgb", "alpha", "identity", "owner", "hidden"))
    view.add_argument("--zoom", type=_view_zoom, help="pixels per cell, 1..64, or 1/K (K cells a pixel, 2..16; "
                      "default: fit the screen)")
    view.add_argument("--fps", type=_count(1, 1000), default=60)
    view.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    view.add_argument("--record-to", type=Path, help="where `r` records a live session")
    view.set_defaults(handler=_view)
    snap = commands.add_parser("snapshot", help="PNG of a scenario or recording at given steps (no screen needed)")
    snap.add_argument("path", type=Path, help="scenario (.toml, run without recording) or recording (.h5)")
    snap.add_argument("--at", required=True, help="steps, separated by commas: one panel each, side by side")
    snap.add_argument("-o", "--out", type=Path, required=True, help="the PNG to write (never overwritten)")
    snap.add_argument("--view", default="rgb", choices=("rgb", "alpha", "identity", "owner", "hidden"))
    snap.add_argument("--zoom", type=_count(1, 64), default=4, help="pixels per cell (default 4)")
    snap.add_argument("--no-labels", action="store_true", help="leave out the organisms' names")
    snap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    snap.set_defaults(handler=_snapshot)
    analyze = commands.add_parser("analyze", help="per-organism tables, figures and a summary of a recording")
    analyze.add_argument("recording", type=Path)
    analyze.add_argument("--out", type=Path, help="output folder (default: next to the recording)")
    analyze.add_argument("--rotations", action="store_true", help="also align the 4 right-angle rotations")
    analyze.add_argument("--zoom", type=_count(1, 32), default=2, help="pixels per cell in --video (default 2)")
    analyze.add_argument("--video", type=Path,
                         help="also export the recording to this file (from the current folder): run.gif or run.mp4")
    analyze.add_argument("--view", choices=("rgb", "alpha", "identity", "owner", "hidden"),
                         help="the video's view (default rgb); refused if the recorded channels lack it")
    analyze.set_defaults(handler=_analyze)
    sweep = commands.add_parser("sweep", help="run a sweep file on Dask (a LocalCluster by default)")
    sweep.add_argument("sweep", type=Path)
    sweep.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    sweep.add_argument("--workers", type=int, help="local workers (default: one per core)")
    sweep.add_argument("--out", type=Path, help="output folder (default: sweeps/<name>)")
    sweep.set_defaults(handler=_sweep)
    report = commands.add_parser("report", help="statistics, plots and a markdown report of a sweep folder")
    report.add_argument("folder", type=Path)
    report.add_argument("--compare", help="the grid axis whose groups are compared (default: the sweep's own)")
    report.add_argument("--by", help="the grid axis to break results down by (default: the sweep's own)")
    report.add_argument("--measure", help="the results column compared (default: the sweep's own)")
    report.add_argument("--title", default="Sweep report")
    report.set_defaults(handler=_report)
    validate = commands.add_parser("validate", help="check scenario files and print every problem")
    validate.add_argument("paths", nargs="+", type=Path)
    validate.set_defaults(handler=_validate)
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
    models.set_defaults(handler=_models)
    imports = commands.add_parser("import", help="convert published model files (Growing NCA demo JSON) to nca-world")
    imports.add_argument("paths", nargs="+", type=Path)
    imports.add_argument("--out", type=Path, help="folder to write to (default: the user's model library)")
    imports.add_argument("--licence", default="unknown", help="the licence of the files, recorded in the card")
    imports.set_defaults(handler=_import)
    export = commands.add_parser("export", help="write a model file in a published format")
    export.add_argument("model", type=Path)
    export.add_argument("--format", required=True, choices=("demo-json",))
    export.add_argument("--out", type=Path, help="file to write (default: MODEL.json)")
    export.add_argument("--grow-steps", type=_count(1, 100_000), default=200,
                        help="steps grown to compare the 8-bit model with the original (default 200)")
    export.set_defaults(handler=_export)
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

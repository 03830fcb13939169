"""The compute commands of `nca-world`: `train` (a rule from a training config, checkpointed and
resumable; Ctrl-C or SIGTERM stops at a checkpoint) and `bench` (what runs and trainings cost)."""

from __future__ import annotations

import argparse
import sys


def train(args: argparse.Namespace) -> None:
    """`nca-world train`: train a rule from a training config, with checkpoints, resume and snapshots."""
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


def bench(args: argparse.Namespace) -> None:
    """`nca-world bench`: print one of the benchmark tables (simulator, training, scale or contention)."""
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

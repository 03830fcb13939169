"""The trainer: recipe pieces on small arrays, learning, exact resume, config refusals."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from nca_world.agents import targets
from nca_world.agents.checkpoint import load_checkpoint, save_checkpoint
from nca_world.agents.errors import ConfigError
from nca_world.agents.modelfile import load_rule
from nca_world.agents.train import Trainer, run
from nca_world.agents.trainconfig import load_training_file
from nca_world.sim.cli import main

TINY = """
[target]
kind = "shape"
shape = "disc"
size = 8
padding = 4

[model]
channels = {channels}
hidden = 32
identity_channels = {k}

[train]
variant = "{variant}"
pool_size = 32
batch = 4
rollout = [10, 14]
reseed_worst = 1
damage_best = 1
iterations = {iterations}
checkpoint_every = 1000
sheet_steps = 8
"""


def tiny(tmp_path: Path, variant: str = "plain", iterations: int = 60, name: str = "tiny.toml") -> Path:
    k = 1 if variant in "ABC" else 0
    path = tmp_path / name
    path.write_text(TINY.format(channels=8 + k, k=k, variant=variant, iterations=iterations))
    return path


def grown_error(trainer: Trainer, steps: int = 12) -> float:
    """MSE to the target after growing a fresh seed with a fixed fire sequence."""
    identity, classes = trainer.draw_identities(1)
    generator = torch.Generator().manual_seed(99)
    x = trainer.seeds(identity, classes)
    with torch.no_grad():
        for _ in range(steps):
            x = trainer.model(x, generator=generator)
        return float(((x[..., :4] - trainer.targets[classes]) ** 2).mean())


def test_loss_falls_clearly_on_a_tiny_recipe(tmp_path):
    path = tiny(tmp_path)
    path.write_text(path.read_text().replace("[train]", "[train]\nlearning_rate = 1e-2"))
    trainer = Trainer(load_training_file(path), tmp_path)
    before = grown_error(trainer)
    for _ in range(60):
        trainer.step()
    assert grown_error(trainer) < 0.6 * before
    assert np.mean(trainer.losses[-10:]) < np.mean(trainer.losses[:5])


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    config = load_training_file(tiny(tmp_path, variant="C", iterations=6))
    straight = Trainer(config, tmp_path)
    for _ in range(6):
        straight.step()
    first = Trainer(config, tmp_path)
    for _ in range(3):
        first.step()
    save_checkpoint(first.checkpoint(), tmp_path / "c.h5")
    second = Trainer(config, tmp_path)
    second.resume_from(tmp_path / "c.h5")
    for _ in range(3):
        second.step()
    for name in ("w1", "b1", "w2", "b2"):
        assert torch.equal(getattr(straight.model, name), getattr(second.model, name))
    assert torch.equal(straight.pool.states, second.pool.states)


def test_ctrl_c_writes_a_checkpoint_that_resumes_exactly(tmp_path, monkeypatch):
    config = load_training_file(tiny(tmp_path, iterations=5))
    straight = Trainer(config, tmp_path)
    run(straight, tmp_path / "straight.h5", progress=False)

    interrupted = Trainer(config, tmp_path)
    real_step = interrupted.step

    def step_then_interrupt() -> float:
        if interrupted.iteration == 3:
            interrupted.rng.random()  # the interrupted iteration had already drawn numbers
            raise KeyboardInterrupt
        return real_step()

    monkeypatch.setattr(interrupted, "step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(interrupted, tmp_path / "cut.h5", progress=False)
    assert load_checkpoint(tmp_path / "cut.h5").iteration == 3
    resumed = Trainer(config, tmp_path)
    resumed.resume_from(tmp_path / "cut.h5")
    run(resumed, tmp_path / "cut.h5", progress=False)
    assert torch.equal(resumed.model.w1, straight.model.w1)


def test_identity_targets_seeds_and_sampling(tmp_path):
    trainer = Trainer(load_training_file(tiny(tmp_path, variant="C")), tmp_path)
    identity, classes = trainer.draw_identities(300)
    assert set(identity[:, 0].tolist()) == {0.0, 0.5, 1.0}
    seeds = trainer.seeds(identity[:3], classes[:3])
    c = trainer.size // 2
    assert (seeds[:, c, c, 3:8] == 1).all() and torch.equal(seeds[:, c, c, 8], identity[:3, 0])
    assert seeds.abs().sum() == pytest.approx(float(3 * 5 + identity[:3].sum()))
    # the identity loss: the value on the dilated silhouette, 0 elsewhere
    target = trainer.targets[0]
    perfect = torch.zeros(2, trainer.size, trainer.size, 9)
    perfect[..., :4] = target
    perfect[..., 8] = torch.tensor([0.5, 0.0])[:, None, None] * trainer.silhouettes[0]
    losses = trainer.losses_of(perfect, torch.tensor([[0.5], [0.0]]), torch.zeros(2, dtype=torch.long))
    assert torch.allclose(losses, torch.zeros(2))
    wrong = trainer.losses_of(perfect, torch.tensor([[1.0], [0.5]]), torch.zeros(2, dtype=torch.long))
    assert (wrong > 0).all()


def test_silhouette_is_a_one_pixel_dilation():
    image = np.zeros((7, 7, 4), np.float32)
    image[3, 3, 3] = 1.0
    mask = targets.silhouette(image)
    assert mask.sum() == 9 and mask[2:5, 2:5].all()


def test_damage_cuts_a_disc_and_reseeding_replaces_the_worst(tmp_path):
    trainer = Trainer(load_training_file(tiny(tmp_path)), tmp_path)
    full = torch.ones(50, trainer.size, trainer.size, 8)
    cut = trainer.damage(full)
    removed = (cut[..., 3] == 0).float().mean(dim=(1, 2))
    # radius 0.1-0.4 of the half-width: between ~0.5% and ~13% of the grid
    assert (removed > 0).all() and (removed < 0.14).all()
    trainer.pool.states[:] = 0.5  # everything far from the target: all losses equal but high
    trainer.pool.states[:, :, :, 3] = 1.0
    _, states, _, _ = trainer.prepare_batch()
    seeds = (states[..., 3] > 0).sum(dim=(1, 2)) == 1
    assert seeds.sum() == 1  # reseed_worst = 1


@pytest.mark.parametrize(("text", "message"), [
    ("[train]\nbatchsize = 4\n", r"tiny.toml:2: train.batchsize: unknown key \(did you mean 'batch'\?\)"),
    ("[train]\nbatch = 'eight'\n", "train.batch: Input should be a valid integer"),
    ("[target]\nkind = 'png'\npath = 'nope.png'\n", "nope.png: target image not found"),
    ("[target]\nsize = 2\n", "target.size: Input should be greater than or equal to 3"),
    ("[train]\nrollout = [50, 10]\n", "rollout: expected 1 <= min <= max"),
    ("[train]\nvariant = 'B'\n", "expected model.identity_channels = 1"),
    ("[model]\nchannels = [16]\n", "model.channels: Input should be a valid integer"),
    ("[model\n", "not valid TOML"),
])
def test_malformed_configs_are_refused_with_file_and_field(tmp_path, text, message):
    path = tmp_path / "tiny.toml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError, match=message):
        Trainer(load_training_file(path), tmp_path)


def test_png_targets_and_a_missing_emoji_font(tmp_path, monkeypatch):
    from PIL import Image

    image = Image.new("RGBA", (20, 10))
    image.paste((255, 0, 0, 255), (0, 0, 20, 10))
    image.save(tmp_path / "bar.png")
    target = targets.from_png(tmp_path / "bar.png", size=10, padding=2)
    assert target.shape == (14, 14, 4) and target[..., 3].sum() == pytest.approx(50, abs=3)
    (tmp_path / "bad.png").write_text("no")
    with pytest.raises(ConfigError, match=r"bad\.png: not a readable image"):
        targets.from_png(tmp_path / "bad.png", 10, 2)
    monkeypatch.setattr(targets, "EMOJI_FONT_PATHS", (tmp_path / "missing.ttf",))
    with pytest.raises(ConfigError, match="fonts-noto-color-emoji"):
        targets.from_emoji("🦎", 20, 4)


def test_conditional_digits_one_hot_identity(tmp_path):
    path = tmp_path / "digits.toml"
    path.write_text(textwrap.dedent("""
        [target]
        kind = "digits"
        classes = [0, 1, 7]
        size = 8
        padding = 2
        [model]
        channels = 11
        hidden = 16
        identity_channels = 3
        identity_mode = "frozen"
        [train]
        variant = "conditional"
        pool_size = 16
        batch = 4
        rollout = [4, 6]
        iterations = 2
    """))
    trainer = Trainer(load_training_file(path), tmp_path)
    assert trainer.targets.shape == (3, 12, 12, 4)
    identity, classes = trainer.draw_identities(50)
    assert torch.equal(identity, torch.eye(3)[classes])
    assert set(classes.tolist()) == {0, 1, 2}  # every class is drawn (P(one missing in 50) < 1e-8)
    assert not torch.equal(trainer.targets[0], trainer.targets[1])
    trainer.step()


def test_train_command_writes_a_model_file_and_a_sheet(tmp_path):
    path = tiny(tmp_path, iterations=3)
    assert main(["train", str(path)]) == 0
    rule = load_rule(tmp_path / "tiny.h5")
    assert rule.provenance["iterations"] == 3 and len(rule.provenance["loss_curve"]) == 3
    assert rule.target.shape == (16, 16, 4)
    assert (tmp_path / "tiny.png").stat().st_size > 0
    assert main(["train", str(path), "--resume"]) == 0  # nothing left to do, still a model


def test_ctrl_c_between_iterations_keeps_the_finished_one(tmp_path, monkeypatch):
    path = tiny(tmp_path, iterations=4)
    path.write_text(path.read_text().replace("checkpoint_every = 1000", "checkpoint_every = 2"))
    config = load_training_file(path)
    straight = Trainer(config, tmp_path)
    run(straight, tmp_path / "straight.h5", progress=False)
    interrupted = Trainer(config, tmp_path)
    real_save = __import__("nca_world.agents.train", fromlist=["save_checkpoint"]).save_checkpoint
    calls = []

    def save_then_interrupt(checkpoint, path):
        calls.append(checkpoint.iteration)
        if len(calls) == 1:  # the periodic checkpoint after iteration 2: Ctrl-C arrives while writing it
            raise KeyboardInterrupt
        return real_save(checkpoint, path)

    monkeypatch.setattr("nca_world.agents.train.save_checkpoint", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(interrupted, tmp_path / "cut.h5", progress=False)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "cut.h5").iteration == 2
    resumed = Trainer(config, tmp_path)
    resumed.resume_from(tmp_path / "cut.h5")
    run(resumed, tmp_path / "cut.h5", progress=False)
    assert torch.equal(resumed.model.w1, straight.model.w1)


def test_variant_c_draws_identities_with_the_notebooks_quarter_half_quarter(tmp_path):
    trainer = Trainer(load_training_file(tiny(tmp_path, variant="C")), tmp_path)
    identity, _ = trainer.draw_identities(20000)
    shares = [float((identity[:, 0] == v).float().mean()) for v in (0.0, 0.5, 1.0)]
    # binomial standard error at n = 20000 is ~0.0035: 0.02 is more than 5 of them
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.02)


def test_cumulative_damage_cuts_the_best_one_two_and_three_times(tmp_path):
    path = tiny(tmp_path)
    path.write_text(path.read_text().replace("damage_best = 1", "damage_best = 3")
                    .replace("batch = 4", "batch = 6").replace("reseed_worst = 1", "reseed_worst = 1"))
    trainer = Trainer(load_training_file(path), tmp_path)
    order = torch.tensor([4, 0, 5, 2, 1, 3])  # highest loss first: 3 is the best sample
    renew = torch.zeros(6, dtype=torch.bool)
    rounds = trainer.damage_targets(order, renew)
    holes = {i: sum(int(i in r.tolist()) for r in rounds) for i in range(6)}
    assert holes == {3: 3, 1: 2, 2: 1, 0: 0, 4: 0, 5: 0}
    renew[3] = True  # a sample being re-seeded is never cut
    assert all(3 not in r.tolist() for r in trainer.damage_targets(order, renew))
    single = trainer.config.train.model_copy(update={"damage_holes": "single"})
    trainer.config = trainer.config.model_copy(update={"train": single})
    assert [sorted(r.tolist()) for r in trainer.damage_targets(order, torch.zeros(6, dtype=torch.bool))] == [[1, 2, 3]]


def test_prepare_batch_damages_the_lowest_loss_samples_not_the_worst(tmp_path):
    path = tiny(tmp_path)
    path.write_text(path.read_text().replace("reseed_worst = 1", "reseed_worst = 0"))
    trainer = Trainer(load_training_file(path), tmp_path)
    target = trainer.targets[0]
    trainer.pool.states[:] = 0.0
    trainer.pool.states[..., :4] = target  # every sample perfect ...
    trainer.pool.states[..., 4:] = 1.0
    far = torch.arange(trainer.config.train.pool_size) % 2 == 1
    trainer.pool.states[far, ..., :3] = 0.0  # ... except odd samples, which lose their colour
    trainer.rng = np.random.default_rng(5)
    index, states, _, _ = trainer.prepare_batch()
    cut = (states[..., 4] == 0).any(dim=(1, 2))  # a hole zeroes the hidden channels that were all 1
    assert cut.sum() == 1 and not far[index[cut]].any()


def test_a_batch_that_dies_during_the_rollout_is_skipped_not_a_crash(tmp_path):
    trainer = Trainer(load_training_file(tiny(tmp_path, iterations=3)), tmp_path)
    with torch.no_grad():
        trainer.model.b2[3] = -5.0  # every fired cell's alpha falls below the threshold: all die
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.step()
    assert trainer.dead_batches == 1 and trainer.iteration == 1
    assert all(torch.equal(before[n], p) for n, p in trainer.model.named_parameters())


def test_a_crash_writes_a_checkpoint_first(tmp_path, monkeypatch):
    trainer = Trainer(load_training_file(tiny(tmp_path, iterations=5)), tmp_path)
    calls = {"n": 0}
    real_step = trainer.step

    def failing_step() -> float:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return real_step()

    monkeypatch.setattr(trainer, "step", failing_step)
    with pytest.raises(RuntimeError, match="boom"):
        run(trainer, tmp_path / "c.h5", progress=False)
    assert load_checkpoint(tmp_path / "c.h5").iteration == 2


def test_resume_allows_more_iterations_and_names_a_changed_field(tmp_path):
    path = tiny(tmp_path, iterations=2)
    trainer = Trainer(load_training_file(path), tmp_path)
    trainer.step()
    save_checkpoint(trainer.checkpoint(), tmp_path / "c.h5")
    path.write_text(path.read_text().replace("iterations = 2", "iterations = 9"))
    longer = Trainer(load_training_file(path), tmp_path)
    longer.resume_from(tmp_path / "c.h5")
    assert longer.iteration == 1
    path.write_text(path.read_text().replace("batch = 4", "batch = 5"))
    with pytest.raises(ConfigError, match=r"train\.batch: 4 in the checkpoint, 5 now"):
        Trainer(load_training_file(path), tmp_path).resume_from(tmp_path / "c.h5")


def test_a_slim_checkpoint_regrows_its_pool_from_the_model(tmp_path):
    trainer = Trainer(load_training_file(tiny(tmp_path, variant="C")), tmp_path)
    for _ in range(2):
        trainer.step()
    checkpoint = trainer.checkpoint()
    checkpoint.pool = {}
    save_checkpoint(checkpoint, tmp_path / "slim.h5")
    resumed = Trainer(load_training_file(tiny(tmp_path, variant="C")), tmp_path)
    resumed.resume_from(tmp_path / "slim.h5")
    assert resumed.iteration == 2
    assert torch.equal(resumed.model.w2, trainer.model.w2)
    assert resumed.pool.states.shape == trainer.pool.states.shape
    grown = (resumed.pool.states[..., 3] > 0.1).sum(dim=(1, 2))
    assert (grown >= 1).all()  # every sample grew from its seed (none is an empty state)
    resumed.step()


BAD_CONFIGS = sorted((Path(__file__).parent / "configs" / "bad").glob("*.toml"))


@pytest.mark.parametrize("bad", BAD_CONFIGS, ids=[p.stem for p in BAD_CONFIGS])
def test_malformed_training_configs_are_refused_by_train(bad, tmp_path, capsys):
    from tests.test_scenario import expected

    target = tmp_path / bad.name
    shutil.copy(bad, target)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["train", str(target)]) == 2
    message = capsys.readouterr().err
    assert message.startswith(f"nca-world: error: {target}")
    assert expected(bad) in message and "Traceback" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_a_refused_config_is_refused_before_torch_is_imported(tmp_path):
    shutil.copy(BAD_CONFIGS[0], tmp_path / "bad.toml")
    code = ("import sys; from nca_world.sim.cli import main; code = main(['train', 'bad.toml']); "
            "sys.exit(10 + code if 'torch' in sys.modules else code)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 2, done.stderr


def test_train_refuses_to_overwrite_an_earlier_checkpoint(tmp_path, capsys):
    path = tiny(tmp_path, iterations=1)
    (tmp_path / "tiny.ckpt.h5").write_bytes(b"an earlier training")
    assert main(["train", str(path)]) == 2
    assert "continue it with --resume" in capsys.readouterr().err
    assert (tmp_path / "tiny.ckpt.h5").read_bytes() == b"an earlier training"


def test_snapshot_writes_the_model_and_a_slim_resume_file_that_resume_continues(tmp_path, capsys):
    path = tiny(tmp_path, iterations=2)
    assert main(["train", str(path)]) == 0
    path.write_text(path.read_text().replace("iterations = 2", "iterations = 3"))
    assert main(["train", str(path), "--snapshot"]) == 0
    slim = load_checkpoint(tmp_path / "tiny.resume.h5")
    assert slim.iteration == 2 and slim.pool == {}
    assert load_rule(tmp_path / "tiny.h5").provenance["iterations"] == 2
    (tmp_path / "tiny.ckpt.h5").unlink()  # a fresh clone has only what git keeps: the resume file
    assert main(["train", str(path), "--resume"]) == 0
    assert load_checkpoint(tmp_path / "tiny.ckpt.h5").iteration == 3
    assert load_rule(tmp_path / "tiny.h5").provenance["iterations"] == 3


def test_prepare_batch_reseeds_the_highest_loss_sample(tmp_path):
    path = tiny(tmp_path)
    path.write_text(path.read_text().replace("damage_best = 1", "damage_best = 0"))
    trainer = Trainer(load_training_file(path), tmp_path)
    trainer.pool.states[:] = 0.0
    trainer.pool.states[..., :4] = trainer.targets[0]
    trainer.pool.states[..., 4:] = 0.5
    trainer.rng = np.random.default_rng(3)
    drawn = np.random.default_rng(3).choice(trainer.config.train.pool_size, trainer.config.train.batch, replace=False)
    worst = int(drawn[2])
    trainer.pool.states[worst, ..., :3] = 1.0 - trainer.pool.states[worst, ..., :3]  # far from the target
    index, states, _, _ = trainer.prepare_batch()
    assert index.tolist() == drawn.tolist()
    reseeded = [i for i in range(len(index)) if (states[i, ..., 3] > 0).sum() == 1]
    assert reseeded == [2]


def test_a_damage_hole_is_the_disc_drawn_from_the_rng(tmp_path):
    trainer = Trainer(load_training_file(tiny(tmp_path)), tmp_path)
    trainer.rng = np.random.default_rng(17)  # centre (0.35, -0.34), radius 0.27: off both diagonals
    expected_rng = np.random.default_rng(17)
    centre = expected_rng.uniform(-0.5, 0.5, (1, 2))[0]  # (x, y) in [-1, 1] grid coordinates
    radius = expected_rng.uniform(0.1, 0.4, 1)[0]
    cut = trainer.damage(torch.ones(1, trainer.size, trainer.size, 8))[0, ..., 3].numpy()
    coordinate = np.linspace(-1.0, 1.0, trainer.size)
    rows, columns = np.meshgrid(coordinate, coordinate, indexing="ij")
    hole = (columns - centre[0]) ** 2 + (rows - centre[1]) ** 2 < radius**2
    assert hole.any() and not hole.all()
    np.testing.assert_array_equal(cut == 0, hole)  # x is the column, y the row; the disc is centred there

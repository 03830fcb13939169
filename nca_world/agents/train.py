"""The trainer: Growing NCA's pool-based regeneration recipe, with the identity variants.

One iteration (Mordvintsev et al. 2020; Stovold 2025):

1. draw a batch from the pool; re-seed samples whose RGBA sum fell under the collapse threshold;
2. rank the batch by loss: re-seed the `reseed_worst` highest (variant C draws a new identity,
   conditional a new class), cut a random circular hole into the `damage_best` lowest;
3. run a random number of steps, take the loss at the last step, back-propagate, normalise each
   parameter's gradient (``g / (|g| + 1e-8)``), step Adam with the scheduled learning rate;
4. write the batch back into the pool.

Loss: MSE over RGBA; variants B and C add the identity channel (target: the identity value on
the 1-pixel dilation of the silhouette, 0 elsewhere) with equal weight.
"""

from __future__ import annotations

import ctypes
import json
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from nca_world.agents.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nca_world.agents.errors import ConfigError
from nca_world.agents.modelfile import save_rule
from nca_world.agents.sheet import write_sheet
from nca_world.agents.spec import Rule
from nca_world.agents.targets import silhouette
from nca_world.agents.torch_nca import TorchNCA
from nca_world.agents.trainconfig import TrainingFile

PARAMETERS = ("w1", "b1", "w2", "b2")


@dataclass
class Pool:
    """The sample pool: states ``(N, S, S, C)``, identity values ``(N, K)``, target classes ``(N,)``."""

    states: torch.Tensor
    identity: torch.Tensor
    classes: torch.Tensor


class Trainer:
    """Trains one rule from a `TrainingFile`; `run` can be interrupted and resumed exactly."""

    def __init__(self, config: TrainingFile, base: Path, device: str | None = None) -> None:
        self.config = config
        torch.set_num_threads(config.train.threads)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.spec = config.model.spec()
        self.target_images = config.target.images(base)  # (n, S, S, 4)
        self.targets = torch.from_numpy(self.target_images).to(self.device)
        self.silhouettes = torch.from_numpy(silhouette(self.target_images).astype(np.float32)).to(self.device)
        self.model = TorchNCA.from_rule(Rule.random(self.spec, seed=config.train.seed)).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.train.learning_rate)
        self.rng = np.random.default_rng(config.train.seed)
        self.generator = torch.Generator(device=self.device).manual_seed(config.train.seed)
        self.iteration = 0
        self.losses: list[float] = []
        self.seconds = 0.0
        self.dead_batches = 0
        n = config.train.pool_size
        identity, classes = self.draw_identities(n)
        self.pool = Pool(self.seeds(identity, classes), identity, classes)

    # ------------------------------------------------------------------ samples

    @property
    def size(self) -> int:
        """Side of the square training grid."""
        return self.target_images.shape[1]

    def draw_identities(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Identity values ``(count, K)`` and target classes ``(count,)`` for new seeds."""
        variant, k = self.config.train.variant, self.spec.identity_channels
        classes = np.zeros(count, np.int64)
        identity = np.ones((count, k), np.float32)
        if variant == "C":
            weights = np.asarray(self.config.train.identity_weights, np.float64)
            identity[:, 0] = self.rng.choice(np.asarray(self.config.train.identity_values, np.float32), count,
                                             p=weights / weights.sum())
        elif variant == "conditional":
            classes = self.rng.integers(0, len(self.targets), count)
            identity = np.eye(k, dtype=np.float32)[classes]
        return (torch.from_numpy(identity).to(self.device), torch.from_numpy(classes).to(self.device))

    def seeds(self, identity: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Seed states: one cell in the centre with channels 3.. set to 1 and its identity."""
        del classes  # every class grows from the same cell; the identity tells them apart
        states = torch.zeros(len(identity), self.size, self.size, self.spec.channels, device=self.device)
        states[:, self.size // 2, self.size // 2, 3:] = 1.0
        if self.spec.identity_channels:
            states[:, self.size // 2, self.size // 2, self.spec.identity_slice] = identity
        return states

    def damage(self, states: torch.Tensor) -> torch.Tensor:
        """Cut a random circular hole (centre within +-0.5, radius in `damage_radius`, coordinates
        in [-1, 1]) into each state."""
        low, high = self.config.train.damage_radius
        n = len(states)
        centre = self.rng.uniform(-0.5, 0.5, (n, 2)).astype(np.float32)
        radius = self.rng.uniform(low, high, n).astype(np.float32)
        axis = np.linspace(-1.0, 1.0, self.size, dtype=np.float32)
        y, x = axis[None, :, None], axis[None, None, :]
        hole = (x - centre[:, 0, None, None]) ** 2 + (y - centre[:, 1, None, None]) ** 2 < radius[:, None, None] ** 2
        keep = torch.from_numpy(~hole).to(self.device)[..., None].to(states.dtype)
        return states * keep

    def losses_of(self, states: torch.Tensor, identity: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Per-sample loss ``(B,)``: MSE over RGBA, plus the identity channel for variants B and C."""
        error = (states[..., :4] - self.targets[classes]) ** 2
        if self.config.train.variant in ("B", "C"):
            wanted = identity[:, 0, None, None] * self.silhouettes[classes]
            id_error = (states[..., self.spec.channels - 1] - wanted) ** 2
            return (error.sum(dim=(1, 2, 3)) + id_error.sum(dim=(1, 2))) / (5 * self.size * self.size)
        return error.mean(dim=(1, 2, 3))

    def rollout(self, states: torch.Tensor, identity: torch.Tensor, steps: int) -> torch.Tensor:
        """`steps` steps of the rule from `states`."""
        frozen = identity if self.spec.identity_mode == "frozen" else None
        for _ in range(steps):
            states = self.model(states, identity=frozen, generator=self.generator)
        return states

    # ------------------------------------------------------------------ one iteration

    def prepare_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw a batch and apply re-seeding and damage; returns pool indices and the batch."""
        recipe = self.config.train
        index = torch.from_numpy(self.rng.choice(recipe.pool_size, recipe.batch, replace=False)).to(self.device)
        states, identity, classes = self.pool.states[index], self.pool.identity[index], self.pool.classes[index]
        with torch.no_grad():
            collapsed = states[..., :4].sum(dim=(1, 2, 3)) < recipe.collapse_threshold
            order = torch.argsort(self.losses_of(states, identity, classes), descending=True)
        renew = collapsed.clone()
        renew[order[: recipe.reseed_worst]] = True
        if renew.any():
            fresh_identity, fresh_classes = self.draw_identities(int(renew.sum()))
            identity, classes = identity.clone(), classes.clone()
            identity[renew], classes[renew] = fresh_identity, fresh_classes
            states = states.clone()
            states[renew] = self.seeds(fresh_identity, fresh_classes)
        for best in self.damage_targets(order, renew):
            states[best] = self.damage(states[best])
        return index, states, identity, classes

    def damage_targets(self, order: torch.Tensor, renew: torch.Tensor) -> list[torch.Tensor]:
        """Batch indices to cut one hole into, one entry per round of holes.

        `order` ranks the batch from highest to lowest loss; samples being re-seeded are never cut.
        "single": one round over the `damage_best` lowest. "cumulative": round j (0-based) cuts the
        ``damage_best - j`` lowest, so the lowest-loss sample gets `damage_best` holes, the next
        one fewer, down to one hole.
        """
        recipe = self.config.train
        if not recipe.damage_best:
            return []
        rounds = range(recipe.damage_best) if recipe.damage_holes == "cumulative" else range(1)
        targets = []
        for j in rounds:
            chosen = order[len(order) - (recipe.damage_best - j):]
            targets.append(chosen[~renew[chosen]])
        return targets

    def step(self) -> float:
        """One training iteration; returns its loss."""
        recipe = self.config.train
        index, states, identity, classes = self.prepare_batch()
        steps = int(self.rng.integers(recipe.rollout[0], recipe.rollout[1] + 1))
        for group in self.optimizer.param_groups:
            group["lr"] = recipe.learning_rate_at(self.iteration)
        self.optimizer.zero_grad(set_to_none=True)
        out = self.rollout(states, identity, steps)
        loss = self.losses_of(out, identity, classes).mean()
        if loss.requires_grad:
            loss.backward()
            if recipe.gradient_normalisation:
                with torch.no_grad():
                    for parameter in self.model.parameters():
                        parameter.grad /= parameter.grad.norm() + 1e-8
            self.optimizer.step()
        else:  # every sample died during the rollout: no gradient; they are re-seeded when drawn again
            self.dead_batches += 1
        with torch.no_grad():
            self.pool.states[index] = out.detach()
            self.pool.identity[index] = identity
            self.pool.classes[index] = classes
        self.iteration += 1
        value = float(loss.detach())
        self.losses.append(value)
        return value

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self, with_pool: bool = True) -> Checkpoint:
        """The complete training state (without the pool: a slim checkpoint, which regrows it)."""
        adam = {}
        for name in PARAMETERS:
            state = self.optimizer.state.get(getattr(self.model, name), {})
            adam[name] = {key: value.detach().cpu().numpy() for key, value in state.items()}
        return Checkpoint(
            iteration=self.iteration,
            config_json=self.config.model_dump_json(),
            weights={name: getattr(self.model, name).detach().cpu().numpy() for name in PARAMETERS},
            adam=adam,
            pool={"states": self.pool.states.cpu().numpy(), "identity": self.pool.identity.cpu().numpy(),
                  "classes": self.pool.classes.cpu().numpy()} if with_pool else {},
            numpy_rng=self.rng.bit_generator.state,
            torch_rng=self.generator.get_state().numpy(),
            losses=list(self.losses),
            seconds=self.seconds,
        )

    def restore(self, checkpoint: Checkpoint, path: Path) -> None:
        """Continue from `checkpoint` (which must come from the same config)."""
        changed = config_changes(json.loads(checkpoint.config_json), self.config.model_dump(mode="json"))
        if changed:
            raise ConfigError(f"{path}: this checkpoint was made with a different training config "
                              f"({'; '.join(changed)}); only {', '.join(RESUMABLE_CHANGES)} may change")
        with torch.no_grad():
            for name in PARAMETERS:
                getattr(self.model, name).copy_(torch.from_numpy(checkpoint.weights[name]))
        for name, moments in checkpoint.adam.items():
            if moments:
                parameter = getattr(self.model, name)
                # Adam keeps its step count as a 0-d CPU tensor and its moments beside the parameter
                self.optimizer.state[parameter] = {
                    k: torch.from_numpy(np.asarray(v)).to(self.device if np.ndim(v) else "cpu")
                    for k, v in moments.items()}
        self.rng.bit_generator.state = checkpoint.numpy_rng
        self.generator.set_state(torch.from_numpy(checkpoint.torch_rng))
        if checkpoint.pool:
            self.pool = Pool(*(torch.from_numpy(checkpoint.pool[k]).to(self.device)
                               for k in ("states", "identity", "classes")))
        else:  # a slim checkpoint (committed to git without its pool): regrow the pool from the model
            self.regrow_pool()
        self.iteration, self.losses, self.seconds = checkpoint.iteration, list(checkpoint.losses), checkpoint.seconds

    def regrow_pool(self, batch: int = 64) -> None:
        """Fill the pool with fresh seeds grown by the current rule for a random rollout length each.

        Resuming from a slim checkpoint continues the training, but not bit for bit like an
        uninterrupted run (the pool differs).
        """
        low, high = self.config.train.rollout
        n = self.config.train.pool_size
        identity, classes = self.draw_identities(n)
        states = self.seeds(identity, classes)
        with torch.no_grad():
            for start in range(0, n, batch):
                part = slice(start, min(n, start + batch))
                steps = int(self.rng.integers(low, high + 1))
                states[part] = self.rollout(states[part], identity[part], steps)
        self.pool = Pool(states, identity, classes)

    def resume_from(self, path: Path) -> None:
        """Load and restore the checkpoint at `path`."""
        self.restore(load_checkpoint(path), path)

    # ------------------------------------------------------------------ results

    def rule(self) -> Rule:
        """The trained rule with its target and provenance."""
        recipe = self.config.train
        provenance = {
            "variant": recipe.variant, "iterations": self.iteration, "seed": recipe.seed,
            "loss_curve": self.losses, "wall_seconds": round(self.seconds, 1),
            "final_loss": float(np.mean(self.losses[-20:])) if self.losses else None,
            "config": self.config.model_dump(mode="json"),
            "versions": {p: version(p) for p in ("torch", "numpy", "nca-world")},
        }
        target = self.target_images[0] if len(self.target_images) == 1 else self.target_images
        return self.model.to_rule(target=target, provenance=provenance)

    def save_model(self, path: Path) -> Path:
        """Write the model file and, beside it, its growth-and-regrowth sheet (``.png``)."""
        rule = self.rule()
        save_rule(rule, path)
        write_sheet(rule, path.with_suffix(".png"), self.size, self.config.train.sheet_steps, self.sheet_identities())
        return path

    def sheet_identities(self) -> list[np.ndarray]:
        """The identities shown on the sheet: each value of variant C, each class, else one."""
        variant, k = self.config.train.variant, self.spec.identity_channels
        if variant == "C":
            return [np.full(k, v, np.float32) for v in self.config.train.identity_values]
        if variant == "conditional":
            return list(np.eye(k, dtype=np.float32))
        return [np.ones(k, np.float32)]


RESUMABLE_CHANGES = ("train.iterations", "train.checkpoint_every", "train.threads", "train.sheet_steps")


def config_changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    """The dotted fields whose values differ between two config dicts, except `RESUMABLE_CHANGES`."""
    changes = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        if name in RESUMABLE_CHANGES:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, name + ".")
        elif a != b:
            changes.append(f"{name}: {a!r} in the checkpoint, {b!r} now")
    return changes


def keep_freed_memory() -> None:
    """Ask glibc to keep freed blocks instead of returning them to the system.

    A training step allocates and frees tensors of tens of MB; by default each one is a fresh
    ``mmap`` whose pages fault in again, which made an iteration 1.75x slower here.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    mmap_threshold, trim_threshold, top_pad = -3, -1, -2  # mallopt parameters of glibc
    libc.mallopt(mmap_threshold, 1 << 30)
    libc.mallopt(trim_threshold, 1 << 36)
    libc.mallopt(top_pad, 1 << 28)


def run(trainer: Trainer, checkpoint_path: Path, progress: bool = True) -> None:
    """Train to the configured number of iterations, checkpointing every N and on Ctrl-C."""
    from tqdm import tqdm

    recipe = trainer.config.train
    bar = tqdm(total=recipe.iterations, initial=trainer.iteration, disable=not progress, unit="it",
               dynamic_ncols=True)
    before = None  # (iteration, RNG states) at the start of the iteration in progress
    try:
        while trainer.iteration < recipe.iterations:
            start = time.perf_counter()
            before = (trainer.iteration, trainer.rng.bit_generator.state, trainer.generator.get_state())
            loss = trainer.step()
            trainer.seconds += time.perf_counter() - start
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{recipe.learning_rate_at(trainer.iteration):.0e}")
            if trainer.iteration % recipe.checkpoint_every == 0:
                save_checkpoint(trainer.checkpoint(), checkpoint_path)
    except BaseException:  # Ctrl-C or a crash: keep every finished iteration
        if before is not None and before[0] == trainer.iteration:  # undo the unfinished iteration's draws
            trainer.rng.bit_generator.state = before[1]
            trainer.generator.set_state(before[2])
        save_checkpoint(trainer.checkpoint(), checkpoint_path)
        raise
    finally:
        bar.close()
    save_checkpoint(trainer.checkpoint(), checkpoint_path)

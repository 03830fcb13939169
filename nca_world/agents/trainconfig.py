"""The training config: every number of the recipe, validated before training starts.

Defaults are Growing NCA's regenerating recipe (Mordvintsev et al. 2020). The identity
variants of Stovold (2025) are `A`, `B` and `C`; `conditional` grows one of several targets
from a one-hot class held in frozen identity channels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from nca_world.agents import targets
from nca_world.agents.config import Strict, load
from nca_world.agents.errors import ConfigError
from nca_world.agents.spec import RuleSpec

Variant = Literal["plain", "A", "B", "C", "conditional"]


class TargetConfig(Strict):
    """What to grow: an emoji, an image file, a procedural shape or scikit-learn digits."""

    kind: Literal["emoji", "png", "shape", "digits"] = "emoji"
    emoji: str = "🦎"
    path: Path | None = None
    shape: Literal["disc", "ring", "square", "cross", "triangle"] = "disc"
    colour: tuple[float, float, float] = (0.2, 0.4, 0.8)
    classes: list[int] = Field(default_factory=lambda: [0, 1, 2])
    size: int = Field(40, ge=3, le=512)
    padding: int = Field(16, ge=0, le=512)

    @model_validator(mode="after")
    def _kind_matches_fields(self) -> TargetConfig:
        implied = [kind for kind, field in (("shape", "shape"), ("png", "path"), ("digits", "classes"))
                   if field in self.model_fields_set and kind != self.kind]
        if implied and "kind" not in self.model_fields_set:
            raise ValueError(f"kind: expected kind = {implied[0]!r} with the {implied[0]} fields given "
                             f"(the default kind is 'emoji')")
        return self

    def images(self, base: Path) -> np.ndarray:
        """The target(s) as premultiplied RGBA ``(n, S, S, 4)``; relative paths from `base`."""
        if self.kind == "emoji":
            return targets.from_emoji(self.emoji, self.size, self.padding)[None]
        if self.kind == "png":
            if self.path is None:
                raise ConfigError("target.path: required for a png target")
            return targets.from_png(base / self.path, self.size, self.padding)[None]
        if self.kind == "shape":
            return targets.from_shape(self.shape, self.colour, self.size, self.padding)[None]
        return targets.from_digits(self.classes, self.colour, self.size, self.padding)


class ModelConfig(Strict):
    """The rule's hyperparameters (see `agents.spec.RuleSpec`)."""

    channels: int = Field(16, ge=4)
    hidden: int = Field(128, ge=1)
    identity_channels: int = Field(0, ge=0)
    identity_mode: Literal["learned", "frozen"] = "learned"
    fire_rate: float = Field(0.5, gt=0, le=1)
    alive_threshold: float = Field(0.1, ge=0, lt=1)
    boundary: Literal["zero", "wrap"] = "zero"

    def spec(self) -> RuleSpec:
        """The `RuleSpec` these values describe."""
        return RuleSpec(**self.model_dump())


class TrainConfig(Strict):
    """The optimisation recipe."""

    variant: Variant = "plain"
    pool_size: int = Field(1024, ge=1)
    batch: int = Field(8, ge=1)
    rollout: tuple[int, int] = (64, 96)
    reseed_worst: int = Field(1, ge=0)
    damage_best: int = Field(3, ge=0)
    damage_radius: tuple[float, float] = (0.1, 0.4)
    collapse_threshold: float = Field(0.01, ge=0)
    identity_values: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0])
    # P(each identity value) for a new seed of variant C; the notebook's round(2U)/2 gives 1/4, 1/2, 1/4
    identity_weights: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.25])
    # "cumulative": the i-th best of the damage_best samples gets i holes (the identity notebook's
    # 1, 2 and 3 holes); "single": one hole each (Growing NCA)
    damage_holes: Literal["cumulative", "single"] = "cumulative"
    # torch intra-op threads of this training; 1 is fastest per CPU-second when trainings run side by side
    threads: int = Field(1, ge=1, le=256)
    gradient_normalisation: bool = True
    learning_rate: float = Field(2e-3, gt=0)
    lr_milestones: list[int] = Field(default_factory=lambda: [2000])
    lr_factor: float = Field(0.1, gt=0)
    iterations: int = Field(8000, ge=1)
    seed: int = Field(0, ge=0, lt=2**63)
    checkpoint_every: int = Field(100, ge=1)
    sheet_steps: int = Field(200, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        low, high = self.rollout
        if not 1 <= low <= high:
            raise ValueError(f"rollout: expected 1 <= min <= max, got {self.rollout}")
        if self.reseed_worst + self.damage_best > self.batch:
            raise ValueError("reseed_worst + damage_best: expected at most batch")
        if self.batch > self.pool_size:
            raise ValueError("batch: expected at most pool_size")
        if len(self.identity_weights) != len(self.identity_values):
            raise ValueError(f"identity_weights: expected one weight per identity value "
                             f"({len(self.identity_values)}), got {len(self.identity_weights)}")
        if any(not np.isfinite(w) or w < 0 for w in self.identity_weights) or sum(self.identity_weights) <= 0:
            raise ValueError("identity_weights: expected finite non-negative weights with a positive sum")
        if not all(np.isfinite(v) for v in self.identity_values):
            raise ValueError("identity_values: expected finite numbers")
        if not 0 < self.damage_radius[0] <= self.damage_radius[1]:
            raise ValueError(f"damage_radius: expected 0 < min <= max, got {self.damage_radius}")
        return self

    def learning_rate_at(self, iteration: int) -> float:
        """The step schedule: ``learning_rate * lr_factor ** (milestones passed)``."""
        passed = sum(iteration >= m for m in self.lr_milestones)
        return self.learning_rate * self.lr_factor**passed


class TrainingFile(Strict):
    """A whole training config file: ``[target]``, ``[model]``, ``[train]``."""

    target: TargetConfig = Field(default_factory=TargetConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _variant_fits_model(self) -> TrainingFile:
        variant, model = self.train.variant, self.model
        if variant in ("A", "B", "C") and (model.identity_channels != 1 or model.identity_mode != "learned"):
            raise ValueError(f"train.variant {variant}: expected model.identity_channels = 1 and "
                             f"identity_mode = 'learned'")
        if variant == "conditional":
            if self.target.kind != "digits":
                raise ValueError("train.variant conditional: expected target.kind = 'digits'")
            if model.identity_mode != "frozen" or model.identity_channels != len(self.target.classes):
                raise ValueError(f"train.variant conditional: expected identity_mode = 'frozen' and "
                                 f"identity_channels = {len(self.target.classes)} (one per class)")
        if variant == "plain" and model.identity_channels:
            raise ValueError("train.variant plain: expected model.identity_channels = 0")
        if self.target.kind == "digits" and variant != "conditional":
            raise ValueError("target.kind digits: expected train.variant = 'conditional'")
        if model.channels < 4 + model.identity_channels:
            raise ValueError("model.channels: expected at least 4 + identity_channels")
        return self


def load_training_file(path: Path) -> TrainingFile:
    """Read and validate a training config; problems raise `ConfigError` naming file and field."""
    return load(TrainingFile, path)

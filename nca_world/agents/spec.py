"""The NCA rule: its hyperparameters (`RuleSpec`) and its weights (`Rule`).

One cell holds ``C`` float32 channels: ``0..2`` premultiplied RGB, ``3`` alpha, then hidden
channels, then the last ``K`` identity channels (Stovold 2025; ``K = 0`` is plain Growing NCA).

Perception (Mordvintsev et al. 2020) is a fixed depthwise 3x3 cross-correlation giving ``3C``
features in this order, written down once here and tested::

    p = [identity(x) (C), sobel_x(x) / 8 (C), sobel_y(x) / 8 (C)]

    SOBEL_X = [[-1, 0, 1],        SOBEL_Y = [[-1, -2, -1],
               [-2, 0, 2],                   [ 0,  0,  0],
               [-1, 0, 1]] / 8               [ 1,  2,  1]] / 8

where row ``i`` of a kernel weighs the neighbour at ``y + i - 1`` and column ``j`` the one at
``x + j - 1``. The update is ``dx = W2^T relu(W1^T p + b1) + b2`` with ``W1: (3C, H)``,
``W2: (H, C)``, applied as ``x + dx * fire``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from nca_world.agents.errors import ModelFileError

IdentityMode = Literal["learned", "frozen"]
Boundary = Literal["zero", "wrap"]
IDENTITY_MODES: tuple[str, ...] = ("learned", "frozen")
BOUNDARIES: tuple[str, ...] = ("zero", "wrap")
RGBA_CHANNELS = 4

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32) / 8.0
SOBEL_Y = SOBEL_X.T.copy()
IDENTITY_KERNEL = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32)
PERCEPTION_KERNELS = np.stack([IDENTITY_KERNEL, SOBEL_X, SOBEL_Y])  # (3, 3, 3)
PERCEPTION = "identity,sobel_x/8,sobel_y/8"


@dataclass(frozen=True)
class RuleSpec:
    """Hyperparameters of one NCA rule; every field is checked on construction."""

    channels: int = 16
    hidden: int = 128
    identity_channels: int = 0
    identity_mode: IdentityMode = "learned"
    fire_rate: float = 0.5
    alive_threshold: float = 0.1
    boundary: Boundary = "zero"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """Every inconsistency of this spec, as `field: expected X, got Y` strings."""
        out = []
        if not isinstance(self.channels, int) or self.channels < RGBA_CHANNELS + self.identity_channels:
            out.append(f"channels: expected an integer >= 4 + identity_channels, got {self.channels!r}")
        if not isinstance(self.hidden, int) or self.hidden < 1:
            out.append(f"hidden: expected a positive integer, got {self.hidden!r}")
        if not isinstance(self.identity_channels, int) or self.identity_channels < 0:
            out.append(f"identity_channels: expected an integer >= 0, got {self.identity_channels!r}")
        if self.identity_mode not in IDENTITY_MODES:
            out.append(f"identity_mode: expected one of {IDENTITY_MODES}, got {self.identity_mode!r}")
        if not (isinstance(self.fire_rate, float | int) and 0.0 < self.fire_rate <= 1.0):
            out.append(f"fire_rate: expected a number in (0, 1], got {self.fire_rate!r}")
        if not (isinstance(self.alive_threshold, float | int) and 0.0 <= self.alive_threshold < 1.0):
            out.append(f"alive_threshold: expected a number in [0, 1), got {self.alive_threshold!r}")
        if self.boundary not in BOUNDARIES:
            out.append(f"boundary: expected one of {BOUNDARIES}, got {self.boundary!r}")
        return out

    @property
    def features(self) -> int:
        """Length of the perception vector, ``3C``."""
        return 3 * self.channels

    @property
    def identity_slice(self) -> slice:
        """The identity channels, the last ``K`` of the state."""
        return slice(self.channels - self.identity_channels, self.channels)

    @property
    def updated_channels(self) -> int:
        """Channels the MLP writes: all of them, or all but the identity ones when frozen."""
        frozen = self.identity_mode == "frozen"
        return self.channels - (self.identity_channels if frozen else 0)

    @property
    def flops_per_update(self) -> int:
        """Floating-point operations of one cell-update's MLP (multiply-add = 2)."""
        c, h = self.channels, self.hidden
        return 2 * (3 * c * h + h * c) + 2 * (h + c)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain dict for the model file's JSON `spec` attribute."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, eq=False)
class Rule:
    """A rule's spec and float32 weights, plus what it was trained to grow.

    Shapes: ``w1 (3C, H)``, ``b1 (H,)``, ``w2 (H, C)``, ``b2 (C,)``; ``target`` is RGBA
    ``(h, w, 4)`` or ``None``; ``provenance`` is JSON-able training metadata.
    """

    spec: RuleSpec
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    target: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = weight_problems(self.spec, self.weights())
        if problems:
            raise ModelFileError("; ".join(problems))

    def weights(self) -> dict[str, np.ndarray]:
        """The four weight arrays by name."""
        return {"w1": self.w1, "b1": self.b1, "w2": self.w2, "b2": self.b2}

    @classmethod
    def random(cls, spec: RuleSpec, *, seed: int, zero_last_layer: bool = True) -> Rule:
        """A freshly initialised rule: uniform fan-in init, last layer zero as in Growing NCA."""
        rng = np.random.default_rng(seed)
        bound1 = 1.0 / math.sqrt(spec.features)
        bound2 = 1.0 / math.sqrt(spec.hidden)
        w1 = rng.uniform(-bound1, bound1, (spec.features, spec.hidden)).astype(np.float32)
        b1 = rng.uniform(-bound1, bound1, spec.hidden).astype(np.float32)
        w2 = rng.uniform(-bound2, bound2, (spec.hidden, spec.channels)).astype(np.float32)
        b2 = rng.uniform(-bound2, bound2, spec.channels).astype(np.float32)
        if zero_last_layer:
            w2[:] = 0.0
            b2[:] = 0.0
        return cls(spec, w1, b1, w2, b2)


def weight_shapes(spec: RuleSpec) -> dict[str, tuple[int, ...]]:
    """The shape each weight array must have under `spec`."""
    return {
        "w1": (spec.features, spec.hidden),
        "b1": (spec.hidden,),
        "w2": (spec.hidden, spec.channels),
        "b2": (spec.channels,),
    }


def weight_problems(spec: RuleSpec, weights: dict[str, np.ndarray]) -> list[str]:
    """Every wrong shape, dtype or non-finite value among `weights`, as readable strings."""
    out = []
    for name, shape in weight_shapes(spec).items():
        array = weights.get(name)
        if array is None:
            out.append(f"{name}: missing")
        elif not isinstance(array, np.ndarray) or array.dtype != np.float32:
            out.append(f"{name}: expected a float32 array, got {getattr(array, 'dtype', type(array))}")
        elif array.shape != shape:
            out.append(f"{name}: expected shape {shape}, got {array.shape}")
        elif not np.isfinite(array).all():
            out.append(f"{name}: contains NaN or infinite values")
    return out


def seed_state(spec: RuleSpec, identity: np.ndarray | None = None) -> np.ndarray:
    """The state of a seed cell: alpha and hidden channels 1, identity channels = `identity`.

    Returns float32 ``(C,)``. With ``K > 0`` the identity defaults to ones (variant A/B).
    """
    cell = np.zeros(spec.channels, dtype=np.float32)
    cell[3:] = 1.0
    if spec.identity_channels:
        value = np.ones(spec.identity_channels, np.float32) if identity is None else identity
        cell[spec.identity_slice] = value
    return cell

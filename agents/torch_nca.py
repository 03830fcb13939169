"""The torch twin of the rule: the same maths as `sim.core`, on batches, with gradients.

Shapes: states are ``(B, C, H, W)`` float32; a fire mask is ``(B, 1, H, W)`` or ``(1, 1, H, W)``
(bool or 0/1 float); a frozen identity is ``(B, K)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.spec import PERCEPTION_KERNELS, Rule, RuleSpec


class TorchNCA(nn.Module):
    """Growing NCA with identity channels (see `agents.spec` for the rule)."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__()
        self.spec = spec
        c, h = spec.channels, spec.hidden
        self.w1 = nn.Parameter(torch.zeros(3 * c, h))
        self.b1 = nn.Parameter(torch.zeros(h))
        self.w2 = nn.Parameter(torch.zeros(h, c))
        self.b2 = nn.Parameter(torch.zeros(c))
        sobel = torch.from_numpy(PERCEPTION_KERNELS[1:].copy())  # (2, 3, 3): sobel_x, sobel_y
        self.register_buffer("sobel", sobel[:, None].repeat(c, 1, 1, 1), persistent=False)

    @classmethod
    def from_rule(cls, rule: Rule) -> TorchNCA:
        """A module holding a copy of `rule`'s weights."""
        module = cls(rule.spec)
        module.load_rule(rule)
        return module

    def load_rule(self, rule: Rule) -> None:
        """Copy `rule`'s weights into the parameters."""
        with torch.no_grad():
            for name, array in rule.weights().items():
                getattr(self, name).copy_(torch.from_numpy(array))

    def to_rule(self, **extra: object) -> Rule:
        """The current weights as a `Rule` (float32 numpy copies); `extra` goes to `Rule`."""
        arrays = {n: getattr(self, n).detach().cpu().numpy().astype(np.float32).copy()
                  for n in ("w1", "b1", "w2", "b2")}
        return Rule(self.spec, **arrays, **extra)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.boundary == "wrap":
            return F.pad(x, (1, 1, 1, 1), mode="circular")
        return F.pad(x, (1, 1, 1, 1))

    def perceive(self, x: torch.Tensor) -> torch.Tensor:
        """``[x, sobel_x(x)/8, sobel_y(x)/8]`` → ``(B, 3C, H, W)``, in that block order."""
        b, c, h, w = x.shape
        gradients = F.conv2d(self._pad(x), self.sobel, groups=c)  # (B, 2C, H, W): c0x, c0y, c1x...
        gradients = gradients.view(b, c, 2, h, w).transpose(1, 2).reshape(b, 2 * c, h, w)
        return torch.cat([x, gradients], dim=1)

    def alive(self, x: torch.Tensor) -> torch.Tensor:
        """``maxpool3x3(alpha) > threshold`` → bool ``(B, 1, H, W)``."""
        alpha = x[:, 3:4]
        if self.spec.boundary == "wrap":
            pooled = F.max_pool2d(F.pad(alpha, (1, 1, 1, 1), mode="circular"), 3, 1)
        else:
            pooled = F.max_pool2d(alpha, 3, 1, 1)
        return pooled > self.spec.alive_threshold

    def update(self, x: torch.Tensor) -> torch.Tensor:
        """``dx = W2^T relu(W1^T p + b1) + b2`` → ``(B, C, H, W)``; frozen identity gets 0."""
        p = self.perceive(x).permute(0, 2, 3, 1)
        dx = torch.relu(p @ self.w1 + self.b1) @ self.w2 + self.b2
        dx = dx.permute(0, 3, 1, 2)
        if self.spec.identity_mode == "frozen" and self.spec.identity_channels:
            dx = torch.cat([dx[:, : self.spec.updated_channels], torch.zeros_like(dx[:, self.spec.identity_slice])], 1)
        return dx

    def forward(self, x: torch.Tensor, fire: torch.Tensor | None = None,
                identity: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """One step. Without `fire` each cell fires with probability ``fire_rate``.

        `identity` ``(B, K)`` is required for a frozen identity: living cells get it.
        """
        if fire is None:
            shape = (x.shape[0], 1, x.shape[2], x.shape[3])
            fire = torch.rand(shape, generator=generator, device=x.device) < self.spec.fire_rate
        pre = self.alive(x)
        x = x + self.update(x) * fire.to(x.dtype)
        life = pre & self.alive(x)
        x = x * life.to(x.dtype)
        if self.spec.identity_mode == "frozen" and self.spec.identity_channels:
            if identity is None:
                raise ValueError("a frozen-identity rule needs the identity of every sample")
            frozen = life.to(x.dtype) * identity[:, :, None, None].to(x.dtype)
            x = torch.cat([x[:, : self.spec.updated_channels], frozen], dim=1)
        return x

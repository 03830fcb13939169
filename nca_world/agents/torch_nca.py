"""The torch twin of the rule: the same maths as `sim.core`, on batches, with gradients.

Channels last, like `World.state`: states are ``(B, H, W, C)`` float32; a fire mask is
``(B, H, W)`` or ``(1, H, W)`` (bool or 0/1 float); a frozen identity is ``(B, K)``.
Perception is one fixed depthwise convolution, the MLP two matrix products over the channel
axis, and with a zero boundary a step is computed only on the box around living cells.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nca_world.agents.spec import PERCEPTION_KERNELS, Rule, RuleSpec


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
        written = torch.ones(c)
        if spec.identity_mode == "frozen":
            written[spec.identity_slice] = 0.0
        self.register_buffer("written", written, persistent=False)
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
        """``(B, H, W, C)`` → ``(B, H + 2, W + 2, C)`` with a ring of zeros or wrapped cells."""
        if self.spec.boundary == "wrap":
            x = torch.cat([x[:, -1:], x, x[:, :1]], dim=1)
            return torch.cat([x[:, :, -1:], x, x[:, :, :1]], dim=2)
        return F.pad(x, (0, 0, 1, 1, 1, 1))

    def perceive(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """``[x, sobel_x(x)/8, sobel_y(x)/8]`` → ``(B, H, W, 3C)``, in that block order.

        The two gradients come from one depthwise convolution with fixed kernels (no gradient
        flows into the kernels, only into the state). `visible` ``(B, H, W, 9)`` is who senses
        whom (`senses` in worlds): 0 where a cell reads its neighbour ``(i, j)`` (raster order over
        the 3x3 window) as zero in every channel; the gradients are then sums over the masked window.
        """
        b, h, w, c = x.shape
        planar = self._pad(x).permute(0, 3, 1, 2)
        if visible is None:
            gradients = F.conv2d(planar, self.sobel, groups=c).view(b, c, 2, h, w)  # c0x, c0y, c1x, ...
        else:
            window = F.unfold(planar, 3).view(b, c, 9, h, w) * visible.permute(0, 3, 1, 2)[:, None].to(x.dtype)
            gradients = torch.einsum("bcnhw,kn->bckhw", window, self.sobel[:2, 0].reshape(2, 9))
        gradients = gradients.permute(0, 3, 4, 2, 1).reshape(b, h, w, 2 * c)
        return torch.cat([x, gradients], dim=-1)

    def alive(self, x: torch.Tensor) -> torch.Tensor:
        """``maxpool3x3(alpha) > threshold`` → bool ``(B, H, W, 1)``."""
        alpha = x[:, None, :, :, 3]
        if self.spec.boundary == "wrap":
            pooled = F.max_pool2d(F.pad(alpha, (1, 1, 1, 1), mode="circular"), 3, 1)
        else:
            pooled = F.max_pool2d(alpha, 3, 1, 1)
        return pooled[:, 0, :, :, None] > self.spec.alive_threshold

    def update(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """``dx = W2^T relu(W1^T p + b1) + b2`` → ``(B, H, W, C)``; a frozen identity gets 0.
        `visible`: see `perceive`."""
        dx = torch.relu(self.perceive(x, visible) @ self.w1 + self.b1) @ self.w2 + self.b2
        return dx * self.written

    def forward(self, x: torch.Tensor, fire: torch.Tensor | None = None,
                identity: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """One step. Without `fire` each cell fires with probability ``fire_rate``.

        `identity` ``(B, K)`` is required for a frozen identity: living cells get it.
        """
        if fire is None:
            fire = torch.rand(x.shape[:3], generator=generator, device=x.device) < self.spec.fire_rate
        if fire.shape[0] != x.shape[0]:
            fire = fire.expand(x.shape[0], -1, -1)
        box = self._live_box(x) if self.spec.boundary == "zero" else None
        if box is None:
            return self._step(x, fire, identity)
        (top, bottom), (left, right) = box
        if bottom == top:  # nothing alive anywhere: everything is zero after the step
            return torch.zeros_like(x)
        inner = self._step(x[:, top:bottom, left:right], fire[:, top:bottom, left:right], identity)
        return F.pad(inner, (0, 0, left, x.shape[2] - right, top, x.shape[1] - bottom))

    def _live_box(self, x: torch.Tensor) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Rows and columns within 2 cells of a hot cell (alpha > threshold) in any sample, or None
        when that is the whole grid. Everything outside is zero after the step (it is not alive
        before it), so a zero-boundary step may be computed on this box alone: same numbers,
        far fewer cells while organisms are small."""
        hot = (x[..., 3] > self.spec.alive_threshold).any(dim=0)
        rows, columns = hot.any(dim=1).nonzero(), hot.any(dim=0).nonzero()
        height, width = hot.shape
        if len(rows) == 0:
            return (0, 0), (0, 0)
        top, bottom = max(0, int(rows[0]) - 2), min(height, int(rows[-1]) + 3)
        left, right = max(0, int(columns[0]) - 2), min(width, int(columns[-1]) + 3)
        if (bottom - top) * (right - left) == height * width:
            return None
        return (top, bottom), (left, right)

    def _step(self, x: torch.Tensor, fire: torch.Tensor, identity: torch.Tensor | None) -> torch.Tensor:
        pre = self.alive(x)
        x = x + self.update(x) * fire[..., None].to(x.dtype)
        life = (pre & self.alive(x)).to(x.dtype)
        if self.spec.identity_mode == "frozen" and self.spec.identity_channels:
            if identity is None:
                raise ValueError("a frozen-identity rule needs the identity of every sample")
            held = torch.zeros(x.shape[0], self.spec.channels, dtype=x.dtype, device=x.device)
            held[:, self.spec.identity_slice] = identity.to(x.dtype)
            return (x * self.written + held[:, None, None, :]) * life
        return x * life

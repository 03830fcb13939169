"""A PNG sheet of a trained rule: growth from its seed, then regrowth after a cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nca_world.agents.spec import Rule
from nca_world.agents.torch_nca import TorchNCA

SCALE = 4


def to_rgb(state: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA of a ``(H, W, C)`` state over white, as uint8 ``(H, W, 3)``."""
    rgba = np.clip(state[..., :4], 0.0, 1.0)
    return np.uint8(255 * np.clip(1.0 - rgba[..., 3:4] + rgba[..., :3], 0.0, 1.0))


def growth_frames(rule: Rule, size: int, steps: int, identity: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """States at 0, steps/4, steps/2 and `steps` from a seed, then a circular cut of a quarter
    of the body's area at its centre, and the regrowth after steps/4, steps/2 and `steps`."""
    model = TorchNCA.from_rule(rule)
    generator = torch.Generator().manual_seed(seed)
    spec = rule.spec
    x = torch.zeros(1, size, size, spec.channels)
    x[0, size // 2, size // 2, 3:] = 1.0
    if spec.identity_channels:
        x[0, size // 2, size // 2, spec.identity_slice] = torch.from_numpy(identity)
    frozen = torch.from_numpy(identity)[None] if spec.identity_mode == "frozen" else None
    marks = {0, steps // 4, steps // 2, steps}
    frames = []
    with torch.no_grad():
        for phase in range(2):
            for t in range(steps + 1):
                if t in marks and not (phase and t == 0):
                    frames.append(x[0].numpy().copy())
                if t < steps:
                    x = model(x, identity=frozen, generator=generator)
            if phase == 0:
                alive = (x[0, ..., 3] > 0.1).numpy()
                ys, xs = np.nonzero(alive) if alive.any() else ([size // 2], [size // 2])
                radius = np.sqrt(0.25 * max(1, alive.sum()) / np.pi)
                yy, xx = np.mgrid[:size, :size]
                hole = (yy - np.mean(ys)) ** 2 + (xx - np.mean(xs)) ** 2 <= radius**2
                x[0][torch.from_numpy(hole)] = 0.0
                frames.append(x[0].numpy().copy())
    return frames


def write_sheet(rule: Rule, path: Path, size: int, steps: int, identities: list[np.ndarray]) -> Path:
    """One row of `growth_frames` per identity (per class for a conditional rule)."""
    rows = [np.concatenate([to_rgb(f) for f in growth_frames(rule, size, steps, identity)], axis=1)
            for identity in identities]
    image = Image.fromarray(np.concatenate(rows, axis=0))
    image.resize((image.width * SCALE, image.height * SCALE), Image.Resampling.NEAREST).save(path)
    return path

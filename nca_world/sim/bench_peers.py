"""The benchmark's peers: the strongest torch steps a user would write, timed in the same rounds.

Each peer computes exactly the rule's step (perception by a depthwise 3x3 convolution with the
identity and Sobel/8 kernels, two 1x1 convolutions, a fire mask, max-pool alive masks before and
after) on a world's current state, without gradients, on all cores:

- **torch NCHW**: the layout of the Growing NCA notebooks, over the whole grid;
- **torch channels_last**: the same in NHWC memory, which lets oneDNN run the 1x1 convolutions as
  plain matrix products (usually the faster of the two on a CPU);
- **torch box NCHW / channels_last**: both layouts cropped to the box of rows and columns within
  2 cells of a living cell (what the trainer does, and what a user with a sparse world would do):
  everything outside is dead before and after the step. Left out where the box is the grid.

`interleaved` times the core and its peers alternately, in rotating order, so that a noisy
machine slows all of them alike; medians are taken over the rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from nca_world.agents.spec import PERCEPTION_KERNELS, Rule


def torch_step_function(rule: Rule, state: np.ndarray, *, channels_last: bool,
                        fire: np.ndarray | None = None) -> Callable[[], object]:
    """A no-grad step of `rule` on `state` ``(H, W, C)``; `fire` ``(H, W)`` fixes the fire mask
    (for tests), else each call draws one with ``torch.rand`` like common code does."""
    import torch
    import torch.nn.functional as F

    c = rule.spec.channels
    memory = torch.channels_last if channels_last else torch.contiguous_format
    kernels = torch.from_numpy(PERCEPTION_KERNELS.copy())[:, None].repeat(c, 1, 1, 1)  # (3C, 1, 3, 3): id, sx, sy, ...
    # the depthwise output is interleaved per channel (c0 id, c0 sx, c0 sy, c1 id, ...): reorder W1's rows
    order = np.arange(3 * c).reshape(3, c).T.ravel()
    w1 = torch.from_numpy(rule.w1[order].T.copy())[:, :, None, None].contiguous(memory_format=memory)
    w2 = torch.from_numpy(rule.w2.T.copy())[:, :, None, None].contiguous(memory_format=memory)
    b1, b2 = torch.from_numpy(rule.b1.copy()), torch.from_numpy(rule.b2.copy())
    x = torch.from_numpy(np.ascontiguousarray(state.transpose(2, 0, 1)))[None].contiguous(memory_format=memory)
    fixed = None if fire is None else torch.from_numpy(fire.astype(np.float32))[None, None]
    height, width = state.shape[:2]

    def step() -> torch.Tensor:
        with torch.no_grad():
            pre = F.max_pool2d(x[:, 3:4], 3, 1, 1) > rule.spec.alive_threshold
            hidden = torch.relu(F.conv2d(F.conv2d(x, kernels, padding=1, groups=c), w1, b1))
            dx = F.conv2d(hidden, w2, b2)
            mask = fixed if fixed is not None else (torch.rand(1, 1, height, width) < rule.spec.fire_rate).float()
            y = x + dx * mask
            return y * (pre & (F.max_pool2d(y[:, 3:4], 3, 1, 1) > rule.spec.alive_threshold))

    return step


def living_box(state: np.ndarray, threshold: float) -> tuple[slice, slice]:
    """Rows and columns within 2 cells of a living cell (alpha > threshold)."""
    hot = state[..., 3] > threshold
    rows, columns = np.nonzero(hot.any(axis=1))[0], np.nonzero(hot.any(axis=0))[0]
    if not len(rows):
        return slice(0, 0), slice(0, 0)
    return (slice(max(0, rows[0] - 2), min(state.shape[0], rows[-1] + 3)),
            slice(max(0, columns[0] - 2), min(state.shape[1], columns[-1] + 3)))


def torch_peers(rule: Rule, state: np.ndarray) -> dict[str, Callable[[], object]]:
    """The peers of the module docstring on `state` ``(H, W, C)``."""
    peers = {"torch NCHW": torch_step_function(rule, state, channels_last=False),
             "torch channels_last": torch_step_function(rule, state, channels_last=True)}
    rows, columns = living_box(state, rule.spec.alive_threshold)
    crop = np.ascontiguousarray(state[rows, columns])
    if crop.shape[:2] != state.shape[:2]:
        peers["torch box NCHW"] = torch_step_function(rule, crop, channels_last=False)
        peers["torch box channels_last"] = torch_step_function(rule, crop, channels_last=True)
    return peers


def interleaved(functions: dict[str, Callable[[], object]], rounds: int, inner: int) -> dict[str, float]:
    """Median seconds per call of each function, timed alternately (`inner` calls each, the order
    rotating every round) after one warm-up call each."""
    for function in functions.values():
        function()
    names = list(functions)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            start = time.perf_counter()
            for _ in range(inner):
                functions[name]()
            times[name].append((time.perf_counter() - start) / inner)
    return {name: float(np.median(values)) for name, values in times.items()}

"""Stochastic firing as a pure function of ``(seed, step, y, x)``.

A cell fires at a step when its counter-based hash, taken as a uniform number, is below the
fire rate::

    h = splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ step) ^ y) ^ x)
    u = (h >> 40) / 2**24                    # 24 uniform bits, exact in float32
    fires  <=>  u < fire_rate  <=>  (h >> 40) < ceil(fire_rate * 2**24)

``splitmix64`` is the finaliser of Steele, Lea and Flood (2014), all arithmetic modulo 2**64.
The comparison is done on integers so that numba, numpy and torch agree bit for bit, whatever
the thread count or call order. Three twins live here: a numba scalar (used by the core), numpy
and torch (used by tests and the trainer's parity checks).
"""

from __future__ import annotations

import math

import numba
import numpy as np

GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
UNIFORM_BITS = 24


def fire_threshold(fire_rate: float) -> int:
    """The integer ``t`` with ``fires <=> (h >> 40) < t``, i.e. ``ceil(rate * 2**24)``."""
    return min(1 << UNIFORM_BITS, math.ceil(fire_rate * (1 << UNIFORM_BITS)))


@numba.njit(cache=True, inline="always")
def splitmix64(z: np.uint64) -> np.uint64:
    """One splitmix64 round (all operands uint64, wrapping)."""
    z = z + np.uint64(GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def row_key(seed: int, step: int, y: int) -> np.uint64:
    """The hash state after mixing seed, step and row: ``splitmix64(...(seed) ^ step) ^ y)``."""
    h = splitmix64(np.uint64(seed))
    h = splitmix64(h ^ np.uint64(step))
    return splitmix64(h ^ np.uint64(y))


@numba.njit(cache=True, inline="always")
def cell_fires(key: np.uint64, x: int, threshold: int) -> bool:
    """Whether cell `x` of the row with hash state `key` fires under integer `threshold`."""
    h = splitmix64(key ^ np.uint64(x))
    return (h >> np.uint64(64 - UNIFORM_BITS)) < np.uint64(threshold)


def _splitmix64_numpy(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


def fire_mask(seed: int, step: int, height: int, width: int, fire_rate: float) -> np.ndarray:
    """The numpy twin: bool ``(height, width)`` mask of the cells that fire at `step`."""
    with np.errstate(over="ignore"):
        h = _splitmix64_numpy(np.array([seed], dtype=np.uint64))
        h = _splitmix64_numpy(h ^ np.uint64(step))
        h = _splitmix64_numpy(h ^ np.arange(height, dtype=np.uint64))[:, None]
        h = _splitmix64_numpy(h ^ np.arange(width, dtype=np.uint64)[None, :])
    return (h >> np.uint64(64 - UNIFORM_BITS)) < np.uint64(fire_threshold(fire_rate))


def _as_int64(value: int) -> int:
    """The two's-complement int64 with the same 64 bits as the unsigned `value`."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _splitmix64_torch(z):
    # torch has no uint64 arithmetic: int64 wraps the same way, and a logical right shift is
    # an arithmetic one with the sign-extended bits masked off.
    def shr(v, s):
        return (v >> s) & ((1 << (64 - s)) - 1)

    z = z + _as_int64(GOLDEN)
    z = (z ^ shr(z, 30)) * _as_int64(MIX1)
    z = (z ^ shr(z, 27)) * _as_int64(MIX2)
    return z ^ shr(z, 31)


def fire_mask_torch(seed: int, step: int, height: int, width: int, fire_rate: float, device=None):
    """The torch twin: bool tensor ``(height, width)``, equal to `fire_mask`."""
    import torch

    h = _splitmix64_torch(torch.tensor([_as_int64(seed % (1 << 64))], dtype=torch.int64, device=device))
    h = _splitmix64_torch(h ^ step)
    h = _splitmix64_torch(h ^ torch.arange(height, dtype=torch.int64, device=device))[:, None]
    h = _splitmix64_torch(h ^ torch.arange(width, dtype=torch.int64, device=device)[None, :])
    top = (h >> (64 - UNIFORM_BITS)) & ((1 << UNIFORM_BITS) - 1)
    return top < fire_threshold(fire_rate)

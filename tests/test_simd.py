"""The 16-lane compress and expand of `sim.simd` (AVX-512 instructions, AVX2 table permutations
or LLVM's generic lowering, whichever this host takes) against numpy, on every 16-bit mask."""

import numba
import numpy as np

from nca_world.sim.simd import LANES, vcompress, vexpand, vload, vstore


@numba.njit
def _compress_all(values, packed):
    """Row m of `packed`: the lanes of `values` whose bit is set in mask m, packed to the front."""
    vector = vload(values, 0)
    for m in range(packed.shape[0]):
        vcompress(packed, (m, 0), vector, np.int64(m))


@numba.njit
def _expand_all(source, passthru, expanded):
    """Row m of `expanded`: `passthru` with the lanes of mask m taken in order from ``source[m]``."""
    keep = vload(passthru, 0)
    for m in range(expanded.shape[0]):
        vstore(expanded, (m, 0), vexpand(source, (m, 0), np.int64(m), keep))


def _masks() -> np.ndarray:
    """``bits[m, i]``: bit i of m, for every 16-bit m."""
    return (np.arange(1 << LANES)[:, None] >> np.arange(LANES)) & 1 == 1


def test_compress_packs_the_set_lanes_in_order_for_every_mask():
    values = np.arange(1, LANES + 1, dtype=np.float32) * 1.5
    packed = np.full((1 << LANES, 2 * LANES), -1.0, np.float32)  # room past the 16 lanes a store may touch
    _compress_all(values, packed)
    for m, bits in enumerate(_masks()):
        kept = values[bits]
        assert np.array_equal(packed[m, : len(kept)], kept), f"mask {m:#06x}"
    assert np.all(packed[:, LANES:] == -1.0)  # nothing written past the 16 lanes


def test_expand_is_the_inverse_of_compress_and_keeps_passthru_for_every_mask():
    rng = np.random.default_rng(0)
    source = np.zeros((1 << LANES, 2 * LANES), np.float32)
    source[:, :LANES] = rng.standard_normal((1 << LANES, LANES)).astype(np.float32)
    passthru = -np.arange(1, LANES + 1, dtype=np.float32)
    expanded = np.zeros((1 << LANES, LANES), np.float32)
    _expand_all(source, passthru, expanded)
    bits = _masks()
    rank = np.cumsum(bits, axis=1) - 1  # the element a set lane takes
    expected = np.where(bits, np.take_along_axis(source, np.maximum(rank, 0), axis=1), passthru)
    assert np.array_equal(expanded, expected)

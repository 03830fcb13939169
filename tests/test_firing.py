import numba
import numpy as np
import pytest

from nca_world.agents.firing import cell_fires, fire_mask, fire_mask_torch, fire_threshold, row_key, splitmix64


@numba.njit
def _numba_mask(seed, step, height, width, threshold):
    out = np.zeros((height, width), np.bool_)
    for y in range(height):
        key = row_key(seed, step, y)
        for x in range(width):
            out[y, x] = cell_fires(key, x, threshold)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2**40 + 3, 2**63 - 1])
@pytest.mark.parametrize("rate", [0.5, 0.3, 1.0])
def test_numpy_numba_and_torch_masks_are_identical(seed, rate):
    a = fire_mask(seed, 17, 31, 45, rate)
    b = _numba_mask(seed, 17, 31, 45, fire_threshold(rate))
    c = fire_mask_torch(seed, 17, 31, 45, rate).numpy()
    assert (a == b).all() and (a == c).all()


def test_mask_depends_on_every_input():
    base = fire_mask(5, 3, 64, 64, 0.5)
    assert (base != fire_mask(6, 3, 64, 64, 0.5)).mean() > 0.4
    assert (base != fire_mask(5, 4, 64, 64, 0.5)).mean() > 0.4
    # rows and columns are not copies of each other
    assert (base[1:] != base[:-1]).mean() > 0.4 and (base[:, 1:] != base[:, :-1]).mean() > 0.4


def test_mean_is_within_one_percent_of_the_rate():
    for rate in (0.5, 0.25, 0.75):
        assert abs(fire_mask(9, 0, 1000, 1000, rate).mean() - rate) < 0.01 * rate


def test_threshold_is_exact_at_the_ends():
    assert fire_threshold(1.0) == 2**24
    assert fire_mask(1, 1, 50, 50, 1.0).all()
    assert fire_threshold(0.5) == 2**23


MASK64 = (1 << 64) - 1


def python_splitmix64(z: int) -> int:
    """splitmix64 on Python integers, written from Steele, Lea and Flood (2014)."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def test_splitmix64_gives_the_published_sequence():
    # the first two outputs of the reference splitmix64 generator started at 0
    assert python_splitmix64(0) == 0xE220A8397B1DCDAF
    assert python_splitmix64(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4
    assert int(splitmix64(np.uint64(0))) == 0xE220A8397B1DCDAF


@pytest.mark.parametrize(("seed", "step", "rate"), [(42, 7, 0.5), (2**63 - 1, 123456, 0.3), (0, 0, 0.9)])
def test_masks_follow_the_documented_hash_cell_by_cell(seed, step, rate):
    # h = splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ step) ^ y) ^ x); fires <=> (h >> 40) < t
    t = fire_threshold(rate)
    expected = np.zeros((5, 19), bool)
    for y in range(5):
        key = python_splitmix64(python_splitmix64(python_splitmix64(seed) ^ step) ^ y)
        for x in range(19):
            expected[y, x] = (python_splitmix64(key ^ x) >> 40) < t
    np.testing.assert_array_equal(fire_mask(seed, step, 5, 19, rate), expected)
    np.testing.assert_array_equal(_numba_mask(seed, step, 5, 19, t), expected)
    np.testing.assert_array_equal(fire_mask_torch(seed, step, 5, 19, rate).numpy(), expected)


def test_a_pinned_mask_does_not_change():
    # rows of fire_mask(42, 7, 4, 16, 0.5) as bits (x = 0 is the lowest): recorded runs replay with it
    rows = [int("".join("1" if b else "0" for b in row[::-1]), 2) for row in fire_mask(42, 7, 4, 16, 0.5)]
    assert rows == [62283, 49527, 13624, 15867]


def test_threshold_rounds_the_rate_up():
    assert fire_threshold(0.3) == 5033165  # ceil(0.3 * 2**24 = 5033164.8)
    assert fire_threshold(0.25) == 2**22  # exact: no rounding
    assert fire_threshold(1e-9) == 1  # a positive rate lets something fire
    assert fire_threshold(0.999999999) == 2**24

import numba
import numpy as np
import pytest

from agents.firing import cell_fires, fire_mask, fire_mask_torch, fire_threshold, row_key


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

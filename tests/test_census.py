"""Cell counts and centroids of an owner map against numpy, on strided views and edge shapes."""

import numpy as np
import pytest

from nca_world.sim.census import cell_counts, centroids


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (40, 33), (64, 64)])
@pytest.mark.parametrize("stride", [1, 3])
def test_counts_and_centroids_match_numpy(shape, stride):
    rng = np.random.default_rng(sum(shape) + stride)
    full = rng.integers(0, 6, (shape[0] * stride, shape[1] * stride)).astype(np.int32)
    full[: full.shape[0] // 2, : full.shape[1] // 2] = 2  # long runs of one owner
    owner = full[1 % stride :: stride, ::stride]
    expected = np.bincount(owner.ravel(), minlength=6)[:5]  # organisms 1..4: owner 5 is not counted
    np.testing.assert_array_equal(cell_counts(owner, 4), expected)
    counts, mean_y, mean_x = centroids(owner, 4)
    np.testing.assert_array_equal(counts, expected)
    for k in range(5):
        ys, xs = np.nonzero(owner == k)
        if len(ys):
            assert mean_y[k] == pytest.approx(ys.mean()) and mean_x[k] == pytest.approx(xs.mean())
        else:
            assert np.isnan(mean_y[k]) and np.isnan(mean_x[k])


def test_an_empty_map_counts_nothing():
    assert cell_counts(np.zeros((0, 5), np.uint16), 3).tolist() == [0, 0, 0, 0]
    assert cell_counts(np.zeros((4, 5), np.uint16), 0).tolist() == [20]

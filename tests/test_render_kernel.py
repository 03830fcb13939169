"""`rgb_over_white`'s kernel against the numpy formula, value for value, on strided views."""

import numpy as np
import pytest

from nca_world.sim.render import _bytes, rgb_over_white


def reference(rgba):
    rgba = np.clip(rgba, 0.0, 1.0)
    return _bytes(1.0 - rgba[..., 3:4] + rgba[..., :3])


@pytest.mark.parametrize("shape, step", [((1, 1), 1), ((17, 23), 1), ((40, 30), 3), ((5, 64), 2)])
def test_the_kernel_gives_the_numpy_bytes(shape, step):
    rng = np.random.default_rng(shape[0] * 7 + step)
    full = (rng.random((shape[0] * step, shape[1] * step, 6), dtype=np.float32) * 1.4 - 0.2).astype(np.float32)
    full[0, :, :3], full[0, :, 3] = 0.0, 0.5  # 1 - 0.5 + 0 = 0.5: 127.5, rounded half to even
    full[-1, :, 3] = 0.0
    view = full[::step, ::step, :4]
    np.testing.assert_array_equal(rgb_over_white(view), reference(view))
    grid = (np.arange(256, dtype=np.float32) / 255).reshape(16, 16)  # every byte value's neighbourhood
    exact = np.stack([grid, grid * 0.5, grid * 0.25, np.full_like(grid, 0.75)], axis=-1)
    np.testing.assert_array_equal(rgb_over_white(exact), reference(exact))
    half = np.array([[[0.0, 0.0, 0.0, 0.5]]], np.float32)  # black at alpha 0.5 over white: 127.5 rounds to 128
    assert tuple(rgb_over_white(half)[0, 0]) == (128, 128, 128)

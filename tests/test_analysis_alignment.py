"""The FFT alignment against plain loops, number by number, on many shapes (issue 18)."""

import numpy as np
import pytest

from nca_world.sim.alignment import ALIVE, Template, align
from tests.test_analysis import brute_force_error


def brute_force_iou(organism: np.ndarray, target: np.ndarray, top: int, left: int) -> float:
    """IoU of the living silhouettes with the target's frame at (top, left) of the organism image."""
    h, w = target.shape[:2]
    canvas = np.zeros((organism.shape[0] + 2 * h, organism.shape[1] + 2 * w), bool)
    canvas[h : h + organism.shape[0], w : w + organism.shape[1]] = organism[..., 3] > ALIVE
    window = canvas[top + h : top + 2 * h, left + w : left + 2 * w]
    silhouette = target[..., 3] > ALIVE
    inter = int((window & silhouette).sum())
    return inter / (int(canvas.sum()) + int(silhouette.sum()) - inter)


@pytest.mark.parametrize("seed", range(8))
def test_fft_alignment_equals_plain_loops(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(3, 8, 2)  # targets of every aspect, organisms larger or smaller than them
    target = (rng.random((h, w, 4)) * (rng.random((h, w, 1)) < 0.7)).astype(np.float32)
    organism = (rng.random((*rng.integers(1, 11, 2), 4)) * 0.9).astype(np.float32)
    aligned = align(organism, target)
    assert aligned.error == pytest.approx(brute_force_error(organism, target), rel=1e-5, abs=1e-7)
    assert aligned.iou == pytest.approx(brute_force_iou(organism, target, aligned.top, aligned.left))
    turns = Template(target, rotations=True).align(organism)
    best = min(brute_force_error(organism, np.rot90(target, turn)) for turn in range(4))
    assert turns.error == pytest.approx(best, rel=1e-5, abs=1e-7) and turns.error <= aligned.error + 1e-7
    chosen = brute_force_error(organism, np.rot90(target, turns.rotation))  # the turn it names gives that error
    assert chosen == pytest.approx(turns.error, rel=1e-5, abs=1e-7)


def test_a_shifted_copy_has_zero_error_and_the_target_corner_where_it_was_put():
    target = np.zeros((6, 4, 4), np.float32)
    target[1:5, 1:3] = (0.1, 0.2, 0.3, 1.0)
    image = np.zeros((20, 30, 4), np.float32)
    image[7:13, 11:15] = target
    aligned = align(image, target)
    assert aligned.error == pytest.approx(0.0, abs=1e-7) and (aligned.top, aligned.left) == (7, 11)
    assert aligned.iou == 1.0
    nothing = align(np.zeros((5, 5, 4), np.float32), target)  # all of the target is missed
    assert nothing.error == pytest.approx(float((target**2).sum()) / (4 * 6 * 4)) and nothing.iou == 0.0


@pytest.mark.parametrize("faint_in", ["organism", "target"])
def test_a_cell_exactly_at_the_alive_threshold_is_not_part_of_a_silhouette(faint_in):
    solid = np.zeros((5, 5, 4))
    solid[2, 2] = (0.5, 0.5, 0.5, 1.0)
    faint = solid.copy()
    faint[2, 3, 3] = ALIVE  # alpha exactly at the threshold (float64, so exactly 0.1): not alive
    organism, target = (faint, solid) if faint_in == "organism" else (solid, faint)
    aligned = align(organism, target)
    assert aligned.iou == 1.0  # one living cell each, on top of each other (>= would give 1/2)

"""Recorded metrics on a torus: centroids and boxes of organisms straddling the edges, against a
plain-loop reference and hand-known answers (the same organism in the middle of the grid)."""

import numpy as np
import pytest

from nca_world.sim.frames import take
from nca_world.sim.metrics import arc_mean, arc_of, body_on_torus, minimum_image
from nca_world.sim.world import World
from tests.test_world import grower

H, W = 40, 60  # height != width, so a swapped modulus shows


def reference_arc(counts: np.ndarray) -> tuple[int, int]:
    """Plain loops: of every arc starting at an occupied entry, the shortest holding all occupied
    entries; on a tie, the first start going round from just after the first occupied entry."""
    n = len(counts)
    occupied = [i for i in range(n) if counts[i]]
    if not occupied:
        return -1, 0
    best = None
    for s in occupied:
        length = 1 + max((r - s) % n for r in occupied)
        key = (length, (s - occupied[0] - 1) % n)
        if best is None or key < best[0]:
            best = (key, s, length)
    return (best[1], best[2]) if best[2] < n else (0, n)


def reference_centroid(counts: np.ndarray, start: int) -> float:
    n = len(counts)
    total = sum(counts[i] for i in range(n))
    return (start + sum(((i - start) % n) * counts[i] for i in range(n)) / total) % n


def world_with(owner: np.ndarray, boundary: str = "wrap", organisms: int = 0) -> World:
    world = World(*owner.shape, species={"g": grower()}, boundary=boundary)
    for k in range(1, max(organisms, int(owner.max())) + 1):
        world.spawn(f"o{k}", "g", (0, 0))
    state = world.state
    state[:] = 0.0
    state[..., 3] = np.where(owner > 0, 0.5, 0.0)
    world.owner[:] = owner
    return world


def recorded(world: World) -> np.ndarray:
    frame = np.zeros((4, world.height, world.width), np.uint8)
    stored = np.zeros((world.height, world.width), np.uint16)
    written = np.zeros(world.height, np.uint8)
    return take(7, world.padded(), np.arange(4), world.rows_in_use(), world.owner, len(world.organisms), True, True,
                frame, stored, written, wrap=world.boundary == "wrap")


def block(top: int, left: int, index: int = 1, owner=None) -> np.ndarray:
    """A 5 x 7 block with its top-left cell at (top, left), wrapped round the torus."""
    owner = np.zeros((H, W), np.int32) if owner is None else owner
    owner[np.ix_(np.arange(top, top + 5) % H, np.arange(left, left + 7) % W)] = index
    return owner


def test_a_block_across_both_edges_has_the_centroid_and_box_of_the_same_block_in_the_middle():
    middle = recorded(world_with(block(15, 20)))[0]
    corner = recorded(world_with(block(38, 57)))[0]  # rows 38, 39, 0, 1, 2; columns 57 .. 63 (mod 60)
    assert middle.tolist() == [7, 1, 35, 17.5, 17.0, 23.0, 15, 20, 19, 26]
    assert corner.tolist() == [7, 1, 35, 17.5, 0.0, 0.0, 38, 57, 42, 63]  # centroid (40, 60) mod (40, 60)
    plain = recorded(world_with(block(38, 57), boundary="zero"))[0]  # a zero world has no such organism,
    assert plain[4] == (38 + 39 + 0 + 1 + 2) / 5  # but its plain mean shows the bug fixed above: 16, not 0


@pytest.mark.parametrize("seed", range(6))
def test_kernel_centroids_and_boxes_match_a_plain_loop_reference(seed):
    rng = np.random.default_rng(seed)
    owner = np.zeros((H, W), np.int32)
    for k in (1, 2, 3):  # blobs at random places, some across the edges, some ragged
        top, left = rng.integers(0, H), rng.integers(0, W)
        cells = rng.random((9, 13)) < 0.7
        ys, xs = np.nonzero(cells)
        owner[(top + ys) % H, (left + xs) % W] = k
    if seed == 0:
        owner[owner == 3] = 0  # a dead organism
    rows = recorded(world_with(owner, organisms=3))
    for k in (1, 2, 3):
        ys, xs = np.nonzero(owner == k)
        if not len(ys):
            assert rows[k - 1, 2] == 0 and np.isnan(rows[k - 1, 4]) and rows[k - 1, 6] == -1
            continue
        per_row, per_column = np.bincount(ys, minlength=H), np.bincount(xs, minlength=W)
        top, height = reference_arc(per_row)
        left, width = reference_arc(per_column)
        expected = [reference_centroid(per_row, top), reference_centroid(per_column, left), top, left,
                    top + height - 1, left + width - 1]
        np.testing.assert_allclose(rows[k - 1, 4:], expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(body_on_torus(ys, xs, H, W), expected, rtol=0, atol=1e-9)
        assert rows[k - 1, 2] == len(ys)


def test_arcs_of_edge_cases():
    assert arc_of(np.zeros(5, np.int64)) == (-1, 0)
    assert arc_of(np.ones(5, np.int64)) == (0, 5)  # no gap: the whole circle, unwrapped at 0
    assert arc_of(np.array([1, 0, 0, 0, 1, 1])) == (4, 3)  # rows 4, 5, 0
    assert arc_of(np.array([0, 1, 0, 1, 0, 0])) == (1, 3)
    assert arc_of(np.array([1])) == (0, 1)
    assert arc_mean(np.array([1, 0, 0, 0, 1, 1]), 4) == pytest.approx(5.0)
    assert np.isnan(arc_mean(np.zeros(4, np.int64), 0))
    np.testing.assert_allclose(minimum_image(np.array([59.0, -59.0, 30.0, -30.0, 1.0]), 60),
                               [-1.0, 1.0, -30.0, -30.0, 1.0])


def test_the_recorder_stores_torus_centroids_and_the_boundary(tmp_path):
    from nca_world.sim.recorder import Recorder
    from nca_world.sim.recording import open_recording

    world = world_with(block(38, 57))
    with Recorder(tmp_path / "t.h5", world, scenario_text="", channels=[0, 1, 2, 3]) as recorder:
        recorder.observe(world)
    with open_recording(tmp_path / "t.h5") as recording:
        assert recording.file.attrs["boundary"] == "wrap"
        row = recording.metrics[0]
    assert row[4:].tolist() == [0.0, 0.0, 38, 57, 42, 63]  # the unwrapped block's centroid and box

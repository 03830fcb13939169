"""The scaling table's layouts: known organism counts, areas and an honest count of the work."""

import numpy as np

from nca_world.sim.bench import bench_rule
from nca_world.sim.bench_scale import AREA_FRACTION, MIN_AREA, layouts, measure, scale_world


def test_layouts_leave_each_organism_enough_room_and_end_with_all_alive():
    pairs = layouts(1024)
    assert pairs[:3] == [(256, 4), (256, 64), (256, None)]
    assert (1024, 1024) in pairs and (1024, 4096) not in pairs  # 1024²/10/4096 < 50 cells each
    assert all(AREA_FRACTION * s * s / n >= MIN_AREA for s, n in pairs if n is not None)


def test_a_scale_world_has_its_organisms_on_a_tenth_of_the_grid():
    world = scale_world(256, 64, bench_rule(1))
    assert len(world.organisms) == 64
    counts = np.bincount(world.owner.ravel(), minlength=65)
    assert counts[0] > 0 and (counts[1:] > 0).all()
    assert abs(counts[1:].sum() / 256**2 - AREA_FRACTION) < 0.01
    assert np.array_equal(world.alpha > world.alive_threshold, world.owner > 0)
    whole = scale_world(256, None, bench_rule(1))
    assert (whole.owner == 1).all()


def test_a_row_counts_memory_and_the_recorded_step():
    row = measure(256, 4, bench_rule(1), gflops=100.0, repeats=1)
    assert row.ms_per_step > 0 and row.recorded_ms_per_step > 0
    assert 128 < row.bytes_per_cell < 2048  # two float32 states of 16 channels at least
    assert 0 < row.matmul_fraction < 1

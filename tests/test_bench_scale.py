"""The scaling table's layouts: known organism counts, areas and an honest count of the work."""

import numpy as np
import pytest

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
    rule = bench_rule(1)
    row = measure(256, 4, rule, gflops=100.0, repeats=1)
    assert row.ms_per_step > 0 and row.recorded_ms_per_step > 0
    assert 128 < row.bytes_per_cell < 2048  # two float32 states of 16 channels at least
    # the share of a (made-up) 100 GFLOP/s rate: the fired updates' FLOP over it, whatever the speed
    assert row.matmul_fraction == pytest.approx(row.updates_per_s * rule.spec.flops_per_update / 100e9)


def test_targets_compare_the_rows_they_name():
    from nca_world.sim.bench_scale import ScaleRow, targets

    def row(size, n, rate):
        return ScaleRow(size, n, 1.0, rate, 0.5, 150.0, 1.1)

    lines = targets([row(256, 4, 2e6), row(2048, 256, 1.5e6), row(1024, 64, 4e6), row(1024, 1024, 1e6)])
    assert lines == ["2048² with 256 organisms: 75% of the update rate of 256² with 4 (target >= 80%)",
                     "1024² with 1024 organisms: 25% of the update rate of 1024² with 64 (target >= 80%)"]
    assert targets([row(256, 4, 2e6)]) == []

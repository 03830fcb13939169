"""The training benchmark: its worker runs real iterations, its table divides correctly."""

from nca_world.sim import bench_training
from nca_world.sim.bench_training import Layout


def test_two_side_by_side_workers_report_cpu_and_wall_time():
    wall, cpu = bench_training.run_layout([1, 1], iterations=1)
    assert cpu > 0 and wall > 0
    assert cpu < 4 * wall  # one thread each: CPU time cannot exceed wall time by much


def test_the_table_compares_throughput_with_one_single_thread_training():
    layouts = [Layout("1 training, 1 thread", 2.0, 2.0, 0.5), Layout("1 training, 2 threads", 1.6, 3.0, 0.625),
               Layout("2 trainings, 1 thread each", 2.5, 2.4, 0.8)]
    text = bench_training.report(layouts)
    assert "1.25x" in text and "1.60x" in text and "1.00x" in text

"""`nca-world bench --contention`: the workers of a layout step at the same time, and the table
states each layout's slowdown against the run alone."""

import pytest

from nca_world.sim import bench_contention
from nca_world.sim.bench_contention import Layout, print_table, run_layout


def test_side_by_side_workers_begin_their_timed_steps_together():
    seconds, spread = run_layout(2, busy=True, steps=20)
    assert 0 < seconds < 1
    assert spread < 0.5  # both waited for the shared start (loading takes ~1 s each, unsynchronised)


def test_the_table_divides_by_the_run_alone(monkeypatch, capsys):
    calls = iter([0.002, 0.005, 0.003])
    monkeypatch.setattr(bench_contention, "run_layout", lambda runs, busy, steps: (next(calls), 0.0))
    layouts = bench_contention.contention(rounds=1, steps=5)
    assert [layout.slowdown for layout in layouts] == pytest.approx([1.0, 2.5, 1.5])
    print_table(layouts)
    out = capsys.readouterr().out
    assert "2 runs side by side" in out and "2.50x" in out and "goal" in out
    assert isinstance(layouts[0], Layout)

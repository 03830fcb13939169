"""Known answers for a sweep run's summary numbers (`sim.sweep_summary.summarise`) that its mutation
sampling (issue 18) showed unguarded; every expected value is counted by hand."""

import numpy as np
import pytest

from nca_world.sim.analysis import analyze
from nca_world.sim.sweep_summary import summarise
from tests.test_study_measures import blob, write_recording


def test_a_one_cell_organism_is_alive_and_contacts_are_those_of_the_last_frame(tmp_path):
    """a: a 3 x 3 square that stays; b: touches a along 3 edges in frame 0, then leaves a single
    cell, touching nothing, in frame 1."""
    first = np.zeros((20, 30), np.int64)
    first[blob(5, 5, 3)] = 1
    first[5:8, 8] = 2  # b: column 8, rows 5-7, right of a's column 7: 3 shared edges
    last = np.zeros((20, 30), np.int64)
    last[blob(5, 5, 3)] = 1
    last[15, 20] = 2  # b: one cell far away
    summary = summarise(analyze(write_recording(tmp_path / "r.h5", [first, last])))
    assert summary["alive_organisms"] == 2  # a one-cell organism is alive
    assert summary["total_cells"] == 10
    assert summary["contact_length"] == 0  # frame 0's 3 edges are not the last frame's
    assert summary["collapsed"] is False


def test_contact_length_counts_the_last_frame_only(tmp_path):
    """The reverse: no contact in frame 0, 4 shared edges in the last frame."""
    first = np.zeros((20, 30), np.int64)
    first[blob(5, 5, 4)] = 1
    first[blob(5, 20, 2)] = 2
    last = first.copy()
    last[blob(5, 20, 2)] = 0
    last[5:9, 9] = 2  # column 9, rows 5-8: next to a's column 8 along 4 edges
    summary = summarise(analyze(write_recording(tmp_path / "r.h5", [first, last], target_size=4)))
    assert summary["contact_length"] == 4


def test_an_organism_seen_in_one_frame_only_has_no_displacement(tmp_path):
    """b is spawned at the last frame: one centroid, so no displacement of its own (not 0.0);
    a moves 6 cells right."""
    first = np.zeros((20, 30), np.int64)
    first[blob(5, 5, 3)] = 1
    last = np.zeros((20, 30), np.int64)
    last[blob(5, 11, 3)] = 1
    last[blob(12, 20, 3)] = 2
    path = write_recording(tmp_path / "r.h5", [first, last], spawn_steps=[0, 1])
    summary = summarise(analyze(path))
    assert summary["displacement_a"] == pytest.approx(6.0)
    assert "displacement_b" not in summary
    assert summary["max_displacement"] == pytest.approx(6.0)

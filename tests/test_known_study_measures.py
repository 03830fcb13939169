"""Known answers for the study measures (`sim.study_measures`) that its mutation sampling
(issue 18) showed unguarded; every expected value is worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from nca_world.sim.study_measures import relative_to_controls, run_measures
from tests.test_study_measures import series


def test_away_is_measured_from_the_nearest_other_organism():
    """At step 100 (grown), o1 is at (10, 10), o2 at (10, 16) (6 away: the nearest) and o3 at
    (2, 10) (8 away); o1 then moves 3 to the left: straight away from o2, sideways to o3."""
    o1 = [(9, 9, 0, 10.0, 10.0)] * 3 + [(9, 9, 0, 10.0, 7.0)]
    o2 = [(9, 9, 0, 10.0, 16.0)] * 4
    o3 = [(9, 9, 0, 2.0, 10.0)] * 4
    measured = run_measures(series({1: o1, 2: o2, 3: o3}, mse=[0.0] * 4, spawn_steps=(0, 0, 0)))
    assert measured["moved_o1"] == pytest.approx(3.0)
    assert measured["away_o1"] == pytest.approx(3.0)  # not 0.0 (the part pointing away from o3)
    assert measured["direction_o1"] == pytest.approx(0.0)
    assert measured["moved_o2"] == 0.0 and measured["away_o2"] == 0.0 and np.isnan(measured["direction_o2"])
    assert np.isnan(measured["separation_change"])  # defined for two organisms only


def test_only_the_controls_breakdown_classes_are_copied():
    table = pd.DataFrame({"id": ["a"], "control": ["k"], "moved_o1": [4.0], "breakdown_o1": ["merged"],
                          "breakdown_step_o1": [200.0], "touching_o1": [True]})
    controls = pd.DataFrame({"id": ["k"], "error": [""], "moved_o1": [1.0], "breakdown_o1": ["intact"],
                             "breakdown_step_o1": [np.nan], "touching_o1": [False]})
    out = relative_to_controls(table, controls)
    assert [c for c in out.columns if c.startswith("control_")] == ["control_breakdown_o1"]
    assert out.control_breakdown_o1.tolist() == ["intact"] and out.moved_o1_vs_control.tolist() == [3.0]

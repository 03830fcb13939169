"""Statistics of the sweep report against values computed by hand (not by the same scipy call)."""

import numpy as np
import pandas as pd
import pytest

from nca_world.sim.stats import (
    bootstrap_ci,
    compare_groups,
    error_ranges,
    fisher_breakdowns,
    holm,
    paired_wilcoxon,
    vargha_delaney_a,
    versus_controls,
)


def groups(**values) -> pd.DataFrame:
    return pd.DataFrame([(name, v) for name, vs in values.items() for v in vs], columns=["variant", "err"])


def test_vargha_delaney_a_counts_wins_and_half_ties():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 5.0, 6.0])
    # of the 12 pairs, x wins one (3 > 2) and ties one (2 = 2): (1 + 0.5) / 12
    assert vargha_delaney_a(x, y) == pytest.approx(1.5 / 12)
    assert vargha_delaney_a(y, x) == pytest.approx(1 - 1.5 / 12)
    assert vargha_delaney_a([5, 6], [1, 2, 3]) == 1.0 and vargha_delaney_a([1, 1], [1, 1]) == 0.5


def test_mann_whitney_u_and_exact_p_by_hand():
    (c,) = compare_groups(groups(A=[1, 2, 3], B=[4, 5, 6]), "variant", "err")
    # U counts the pairs A wins: none. Exact two-sided p: 2 of the C(6, 3) = 20 equally likely
    # rank splits are as extreme (ranks {1,2,3} or {4,5,6}): p = 2 / 20
    assert (c.first, c.second, c.u, c.a) == ("A", "B", 0.0, 0.0)
    assert c.p == pytest.approx(0.1)
    (c,) = compare_groups(groups(A=[1, 2, 3], B=[2, 4, 5, 6]), "variant", "err")
    assert c.u == 1.5 and c.a == pytest.approx(1.5 / 12) and (c.n_first, c.n_second) == (3, 4)


def test_bonferroni_flag_depends_on_the_number_of_pairs():
    # 4 vs 4, fully separated: exact p = 2 / C(8, 4) = 2 / 70 = 0.0286
    two = compare_groups(groups(A=[1, 2, 3, 4], B=[5, 6, 7, 8]), "variant", "err")
    assert two[0].p == pytest.approx(2 / 70) and two[0].significant  # < 0.05 / 1
    three = compare_groups(groups(A=[1, 2, 3, 4], B=[5, 6, 7, 8], C=[9, 10, 11, 12]), "variant", "err")
    assert [(c.first, c.second) for c in three] == [("A", "B"), ("A", "C"), ("B", "C")]
    assert all(c.p == pytest.approx(2 / 70) for c in three)
    assert not any(c.significant for c in three)  # 0.0286 > 0.05 / 3
    # 5 vs 5: p = 2 / C(10, 5) = 2 / 252 = 0.0079 < 0.05 / 3
    five = compare_groups(groups(A=range(5), B=range(5, 10), C=range(10, 15)), "variant", "err")
    assert all(c.p == pytest.approx(2 / 252) and c.significant for c in five)


def test_holm_by_hand():
    adjusted, significant = holm([0.01, 0.04, 0.03])
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1: 0.03, 0.06, 0.04 -> running maximum 0.03, 0.06, 0.06
    assert adjusted == pytest.approx([0.03, 0.06, 0.06]) and significant.tolist() == [True, False, False]
    adjusted, significant = holm([0.01, 0.02, 0.03])
    # 0.03, 0.04, 0.03 -> 0.03, 0.04, 0.04: all significant (Bonferroni would keep only 0.01)
    assert adjusted == pytest.approx([0.03, 0.04, 0.04]) and significant.all()
    adjusted, significant = holm([0.9, 0.5])
    assert adjusted == pytest.approx([1.0, 1.0]) and not significant.any()
    assert holm([])[0].size == 0


def test_paired_wilcoxon_matches_configurations_by_hand():
    rows = []
    differences = [1, 2, -3, 4, 5]
    for config, d in enumerate(differences):
        rows += [("B", config, 1, 10.0 + config), ("A", config, 1, 10.0 + config + d)]
    table = pd.DataFrame(rows[::-1], columns=["variant", "distance", "seed", "err"])  # order must not matter
    (w,) = paired_wilcoxon(table, "variant", "err", ["distance", "seed"])
    # ranks of |d|: 1..5; W- = 3, W+ = 12; statistic min = 3. Exact: of the 2^5 sign patterns,
    # those with a rank sum <= 3 are {}, {1}, {2}, {3}, {1,2}: p = 2 * 5 / 32
    assert (w.first, w.second, w.pairs, w.statistic, w.median_difference) == ("A", "B", 5, 3.0, 2.0)
    assert w.p == pytest.approx(10 / 32)
    table.loc[(table.variant == "A") & (table.distance == 2), "err"] = 12.0 + 3  # all five now positive
    (w,) = paired_wilcoxon(table, "variant", "err", ["distance", "seed"])
    assert w.statistic == 0.0 and w.p == pytest.approx(2 / 32)
    same = pd.DataFrame({"variant": ["A", "B"], "distance": [1, 1], "seed": [1, 1], "err": [3.0, 3.0]})
    assert paired_wilcoxon(same, "variant", "err", ["distance", "seed"])[0].p == 1.0
    with pytest.raises(ValueError, match="do not identify a run"):
        paired_wilcoxon(table, "variant", "err", ["seed"])


def test_fisher_exact_on_breakdown_counts_by_hand():
    table = pd.DataFrame({"variant": ["A"] * 3 + ["B"] * 3, "broken": [True, True, True, False, False, False]})
    (f,) = fisher_breakdowns(table, "variant", "broken")
    # margins 3/3 and 3/3: P(all 3 broken runs in A) = C(3,3) C(3,0) / C(6,3) = 1/20, two-sided 2/20
    assert (f.broken_first, f.runs_first, f.broken_second, f.runs_second) == (3, 3, 0, 3)
    assert f.p == pytest.approx(0.1) and f.odds_ratio == np.inf
    table["broken"] = [True, True, False, False, False, False]
    (f,) = fisher_breakdowns(table, "variant", "broken")
    # a = broken in A, margins (3, 3) x (2, 4): P(a) = C(3,a) C(3,2-a) / C(6,2) = 3/15, 9/15, 3/15;
    # observed a = 2 (3/15); as or less likely: a = 0 and a = 2 -> 6/15
    assert f.p == pytest.approx(6 / 15)


def test_bootstrap_interval_of_a_is_seeded_and_sensible():
    x, y = np.array([5.0, 6, 7, 8]), np.array([1.0, 2, 3, 4])
    assert bootstrap_ci(x, y) == (1.0, 1.0)  # every resample has every x above every y
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 20), rng.normal(0.5, 1, 20)
    low, high = bootstrap_ci(a, b, seed=7)
    assert (low, high) == bootstrap_ci(a, b, seed=7)  # reproducible
    assert bootstrap_ci(a, b, seed=8) != (low, high)
    assert low < vargha_delaney_a(a, b) < high and low >= 0 and high <= 1
    # x = [1] against y resampled from [0, 2]: A is 1, 0.5 or 0 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_ci([1.0], [0.0, 2.0], resamples=4000) == (0.0, 1.0)
    low, high = bootstrap_ci([1.0], [0.0, 2.0], resamples=4000, level=0.4)
    assert low == high == 0.5  # the middle 40% lies inside the 50% mass at 0.5
    (c,) = compare_groups(groups(A=a, B=b), "variant", "err")
    assert (c.a_low, c.a_high) == bootstrap_ci(a, b, seed=0)


def test_error_ranges_are_max_minus_min_per_cell():
    table = pd.DataFrame({"variant": ["A"] * 3 + ["B"] * 4, "distance": [6, 6, 12, 6, 6, 12, 12],
                          "err": [1.0, 2.0, 3.0, 2.0, 4.0, 5.0, 6.0]})
    ranges = error_ranges(table, "variant", "distance", "err")
    assert ranges.loc[6, "A"] == 1.0 and ranges.loc[6, "B"] == 2.0 and ranges.loc[12, "A"] == 0.0
    assert ranges.loc[12, "B"] == 1.0


def test_runs_against_their_controls_by_hand():
    table = pd.DataFrame({"variant": ["A"] * 5 + ["B"] * 5, "distance": 6,
                          "err_vs_control": [1, 2, 3, 4, 5, 1, -2, 3, 4, 5]})
    a, b = versus_controls(table, "variant", "distance", "err_vs_control")
    assert (a.first, a.second, a.pairs, a.statistic, a.median_difference) == ("A, distance = 6", "its control", 5,
                                                                               0.0, 3.0)
    assert a.p == pytest.approx(2 / 32)
    # B: W- = 2; sign patterns with a rank sum <= 2: {}, {1}, {2}: p = 2 * 3 / 32
    assert b.statistic == 2.0 and b.p == pytest.approx(6 / 32)


def test_fisher_exact_with_breakdowns_in_both_groups_by_hand():
    table = pd.DataFrame({"variant": ["A"] * 4 + ["B"] * 4,
                          "broken": [True, True, True, False, True, False, False, False]})
    (f,) = fisher_breakdowns(table, "variant", "broken")
    # [[3, 1], [1, 3]]: margins 4/4 x 4/4, P(a) = C(4,a) C(4,4-a) / 70 = 1, 16, 36, 16, 1 (/70);
    # observed a = 3 (16/70): as or less likely are a = 0, 1, 3, 4 -> 34/70; odds ratio 3*3 / (1*1)
    assert (f.broken_first, f.broken_second) == (3, 1)
    assert f.p == pytest.approx(34 / 70) and f.odds_ratio == pytest.approx(9.0)


def test_holm_at_its_edges():
    adjusted, significant = holm([])
    assert adjusted.size == 0 and significant.size == 0 and significant.dtype == bool
    adjusted, significant = holm([0.025, 0.5])  # 2 x 0.025 = 0.05 exactly: significant at 0.05
    assert adjusted.tolist() == [0.05, 0.5] and significant.tolist() == [True, False]


def test_an_empty_group_gives_no_comparison_and_no_interval():
    assert all(np.isnan(bootstrap_ci(np.array([]), np.array([1.0, 2.0]))))
    assert all(np.isnan(bootstrap_ci(np.array([1.0, 2.0]), np.array([]))))
    table = groups(A=[1.0, 2.0, 3.0], B=[4.0, 5.0, 6.0])
    table = pd.concat([table, pd.DataFrame({"variant": ["C", "C"], "err": [np.nan, np.nan]})])
    pairs = compare_groups(table, "variant", "err", resamples=50)
    assert [(c.first, c.second) for c in pairs] == [("A", "B")]  # C has no values: its pairs are left out
    assert pairs[0].n_first == 3 and pairs[0].n_second == 3


def test_single_values_are_compared_and_the_threshold_is_strict():
    low, high = bootstrap_ci(np.array([3.0]), np.array([1.0, 2.0]), resamples=20)
    assert (low, high) == (1.0, 1.0)  # one value above every other: A = 1 in every resample
    assert bootstrap_ci(np.array([1.0, 2.0]), np.array([3.0]), resamples=20) == (0.0, 0.0)
    adjusted, significant = holm([0.01])
    assert adjusted.tolist() == [0.01] and significant.tolist() == [True]
    table = groups(A=[3.0], B=[1.0, 2.0])
    (pair,) = compare_groups(table, "variant", "err", resamples=20)
    assert (pair.n_first, pair.n_second, pair.a) == (1, 2, 1.0)
    # significant means p < alpha / pairs, strictly: at alpha = p exactly it is not
    (at_p,) = compare_groups(table, "variant", "err", alpha=pair.p, resamples=20)
    assert not at_p.significant

"""Statistics for sweep reports.

- `error_ranges`: ``max - min`` of a measure over runs, per breakdown value and group;
- `compare_groups`: two-sided Mann-Whitney U and the Vargha-Delaney A (with a seeded bootstrap
  confidence interval) between every pair of groups, with the Bonferroni flag;
- `paired_wilcoxon`: the Wilcoxon signed-rank test on matched configurations (same other axes
  and seed), for groups that ran the same configurations (e.g. models);
- `versus_controls`: the same test of each run against its control (organisms far apart);
- `fisher_breakdowns`: Fisher's exact test on counts of broken-down runs between groups;
- `holm`: Holm's step-down correction over any set of tests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact, mannwhitneyu, rankdata, wilcoxon

BOOTSTRAP_RESAMPLES = 2000


def vargha_delaney_a(x: np.ndarray, y: np.ndarray) -> float:
    """Probability that a value of `x` exceeds one of `y` (ties count half): ``(R_x/m - (m+1)/2) / n``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ranks = rankdata(np.concatenate([x, y]))
    m, n = len(x), len(y)
    return float((ranks[:m].sum() / m - (m + 1) / 2) / n)


def bootstrap_ci(x: np.ndarray, y: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the Vargha-Delaney A: both groups resampled with
    replacement, independently, `resamples` times from ``numpy.random.default_rng(seed)``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) == 0 or len(y) == 0:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    xs = x[rng.integers(0, len(x), (resamples, len(x)))]
    ys = y[rng.integers(0, len(y), (resamples, len(y)))]
    ranks = rankdata(np.concatenate([xs, ys], axis=1), axis=1)  # A of each resample, as in vargha_delaney_a
    m, n = len(x), len(y)
    values = (ranks[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    tail = (1 - level) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))


def holm(pvalues, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down correction: the adjusted p-values ``max_{j<=i} min(1, (m - j) p_(j))`` (in
    ascending order of p) and whether each test is significant at `alpha` (adjusted p <= alpha)."""
    p = np.asarray(pvalues, float)
    m = len(p)
    if m == 0:
        return p, np.zeros(0, bool)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted, adjusted <= alpha


@dataclass(frozen=True)
class Comparison:
    """One pairwise comparison of groups (Mann-Whitney U, Vargha-Delaney A and its bootstrap CI)."""

    first: str
    second: str
    u: float
    p: float
    a: float
    significant: bool  # at the Bonferroni threshold alpha / number of pairs
    a_low: float = np.nan
    a_high: float = np.nan
    n_first: int = 0
    n_second: int = 0


def compare_groups(table: pd.DataFrame, group: str, measure: str, alpha: float = 0.05, *,
                   resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> list[Comparison]:
    """Two-sided Mann-Whitney U between every pair of `group` values on `measure`, with the
    Bonferroni threshold ``alpha / number of pairs``, and the Vargha-Delaney A of each pair with
    its seeded bootstrap interval."""
    values = {str(k): pd.to_numeric(v[measure], errors="coerce").dropna().to_numpy() for k, v in table.groupby(group)}
    pairs = list(itertools.combinations(sorted(values), 2))
    out = []
    for first, second in pairs:
        x, y = values[first], values[second]
        if len(x) == 0 or len(y) == 0:
            continue
        u, p = mannwhitneyu(x, y, alternative="two-sided")
        low, high = bootstrap_ci(x, y, resamples=resamples, seed=seed)
        out.append(Comparison(first, second, float(u), float(p), vargha_delaney_a(x, y),
                              bool(p < alpha / max(1, len(pairs))), low, high, len(x), len(y)))
    return out


@dataclass(frozen=True)
class Paired:
    """A Wilcoxon signed-rank test of `first - second` over matched configurations."""

    first: str
    second: str
    pairs: int
    median_difference: float
    statistic: float
    p: float


def paired_wilcoxon(table: pd.DataFrame, group: str, measure: str, match: list[str]) -> list[Paired]:
    """For every pair of `group` values: the runs matched on the `match` columns (e.g. the other
    axes and the seed), and the two-sided Wilcoxon signed-rank test of their differences (zero
    differences dropped; no non-zero difference gives p = 1). Raises ValueError if `match` does not
    identify one run per group."""
    keyed = {str(k): v.set_index(match)[measure] for k, v in table.groupby(group)}
    if any(not series.index.is_unique for series in keyed.values()):
        raise ValueError(f"paired_wilcoxon: {match} do not identify a run within each {group!r} group")
    out = []
    for first, second in itertools.combinations(sorted(keyed), 2):
        joined = pd.concat([keyed[first].rename("x"), keyed[second].rename("y")], axis=1, join="inner")
        joined = joined.apply(pd.to_numeric, errors="coerce").dropna()
        if joined.empty:
            continue
        out.append(signed_rank(first, second, (joined.x - joined.y).to_numpy()))
    return out


def signed_rank(first: str, second: str, difference: np.ndarray) -> Paired:
    """The two-sided Wilcoxon signed-rank test of paired differences (zeros dropped; none left: p = 1)."""
    difference = np.asarray(difference, float)
    difference = difference[np.isfinite(difference)]
    if not np.any(difference != 0):
        return Paired(first, second, len(difference), 0.0, 0.0, 1.0)
    result = wilcoxon(difference, zero_method="wilcox", alternative="two-sided")
    return Paired(first, second, len(difference), float(np.median(difference)), float(result.statistic),
                  float(result.pvalue))


def versus_controls(table: pd.DataFrame, group: str, by: str, column: str) -> list[Paired]:
    """Per `group` and `by` value, the signed-rank test of `column` (a run's measure minus its
    control's, ``<measure>_vs_control``): does a neighbour change the measure? Within one `by`
    value (e.g. a distance) each run has its own control, so the pairs are independent."""
    out = []
    for (name, value), part in table.groupby([group, by]):
        values = pd.to_numeric(part[column], errors="coerce").dropna().to_numpy()
        if len(values):
            out.append(signed_rank(f"{name}, {by} = {value}", "its control", values))
    return out


@dataclass(frozen=True)
class FisherResult:
    """Fisher's exact test on broken-down runs: ``[[broken, intact] first, [broken, intact] second]``."""

    first: str
    second: str
    broken_first: int
    runs_first: int
    broken_second: int
    runs_second: int
    odds_ratio: float
    p: float


def fisher_breakdowns(table: pd.DataFrame, group: str, broken: str) -> list[FisherResult]:
    """Two-sided Fisher's exact test between every pair of `group` values on the boolean column
    `broken` (e.g. "any organism broke down")."""
    counts = {str(k): (int(v[broken].astype(bool).sum()), len(v)) for k, v in table.groupby(group)}
    out = []
    for first, second in itertools.combinations(sorted(counts), 2):
        (b1, n1), (b2, n2) = counts[first], counts[second]
        ratio, p = fisher_exact([[b1, n1 - b1], [b2, n2 - b2]], alternative="two-sided")
        out.append(FisherResult(first, second, b1, n1, b2, n2, float(ratio), float(p)))
    return out


def error_ranges(table: pd.DataFrame, group: str, by: str, measure: str) -> pd.DataFrame:
    """``max - min`` of `measure` over runs, per `by` value (rows) and `group` value (columns)."""
    spread = table.groupby([by, group])[measure].agg(lambda v: float(v.max() - v.min()))
    return spread.unstack(group)

"""Statistics for sweep reports: error ranges, Mann-Whitney U and Vargha-Delaney A."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu, rankdata


def vargha_delaney_a(x: np.ndarray, y: np.ndarray) -> float:
    """Probability that a value of `x` exceeds one of `y` (ties count half): ``(R_x/m - (m+1)/2) / n``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ranks = rankdata(np.concatenate([x, y]))
    m, n = len(x), len(y)
    return float((ranks[:m].sum() / m - (m + 1) / 2) / n)


@dataclass(frozen=True)
class Comparison:
    """One pairwise comparison of groups."""

    first: str
    second: str
    u: float
    p: float
    a: float
    significant: bool


def compare_groups(table: pd.DataFrame, group: str, measure: str, alpha: float = 0.05) -> list[Comparison]:
    """Two-sided Mann-Whitney U between every pair of `group` values on `measure`, with the
    Bonferroni threshold ``alpha / number of pairs``, and the Vargha-Delaney A of each pair."""
    values = {str(k): v[measure].dropna().to_numpy() for k, v in table.groupby(group)}
    pairs = list(itertools.combinations(sorted(values), 2))
    out = []
    for first, second in pairs:
        x, y = values[first], values[second]
        if len(x) == 0 or len(y) == 0:
            continue
        u, p = mannwhitneyu(x, y, alternative="two-sided")
        out.append(Comparison(first, second, float(u), float(p), vargha_delaney_a(x, y),
                              bool(p < alpha / max(1, len(pairs)))))
    return out


def error_ranges(table: pd.DataFrame, group: str, by: str, measure: str) -> pd.DataFrame:
    """``max - min`` of `measure` over runs, per `by` value (rows) and `group` value (columns)."""
    spread = table.groupby([by, group])[measure].agg(lambda v: float(v.max() - v.min()))
    return spread.unstack(group)

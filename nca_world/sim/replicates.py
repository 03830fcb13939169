"""Variant effects across training replicates: a difference between two variants (e.g. identity
variants A and B) is claimed only where it holds for every pair of their replicates (each
variant trained with several seeds), so that one particular trained model cannot pass for its
variant. Within-variant pairs show how much replicates of one variant differ by themselves.
"""

from __future__ import annotations

import itertools

from nca_world.agents.errors import NcaWorldError
from nca_world.sim.stats import Comparison, FisherResult


class ReplicateError(NcaWorldError):
    """A `--replicates` entry that is malformed or names a group the sweep does not have."""


def parse_replicates(entries: list[str], groups: list[str]) -> dict[str, list[str]]:
    """``["A=A1,A2", "B=B1,B2"]`` as ``{"A": ["A1", "A2"], "B": ["B1", "B2"]}``; each replicate
    must be one of `groups` (the compared values) and belong to one variant only."""
    variants: dict[str, list[str]] = {}
    for entry in entries:
        name, _, members = entry.partition("=")
        replicates = [m.strip() for m in members.split(",") if m.strip()]
        if not name.strip() or not replicates:
            raise ReplicateError(f"--replicates: expected VARIANT=GROUP,GROUP..., got {entry!r}")
        unknown = [r for r in replicates if r not in groups]
        if unknown:
            raise ReplicateError(f"--replicates: expected groups among {groups}, got {unknown} in {entry!r}")
        variants[name.strip()] = replicates
    seen = [r for members in variants.values() for r in members]
    if len(seen) != len(set(seen)):
        raise ReplicateError(f"--replicates: a group belongs to two variants: {entries}")
    if len(variants) < 2:
        raise ReplicateError(f"--replicates: expected at least two variants, got {entries}")
    return variants


def _oriented_a(comparisons: list[Comparison], x: str, y: str) -> tuple[float, bool]:
    """Vargha-Delaney A of `x` over `y` (> 0.5: x tends larger) and its significance."""
    for c in comparisons:
        if (c.first, c.second) == (x, y):
            return c.a, c.significant
        if (c.first, c.second) == (y, x):
            return 1.0 - c.a, c.significant
    raise ReplicateError(f"no comparison of {x} and {y} in the report")


def _oriented_rates(fisher: list[FisherResult], x: str, y: str) -> tuple[float, float, float]:
    """Breakdown rates of `x` and `y` and Fisher's p."""
    for f in fisher:
        if (f.first, f.second) in ((x, y), (y, x)):
            rate = {f.first: f.broken_first / f.runs_first, f.second: f.broken_second / f.runs_second}
            return rate[x], rate[y], f.p
    raise ReplicateError(f"no breakdown test of {x} and {y} in the report")


def replicate_section(variants: dict[str, list[str]], comparisons: list[Comparison], fisher: list[FisherResult],
                      measure: str, alpha: float = 0.05) -> list[str]:
    """Markdown: for every two variants, each replicate pair's verdict on `measure` (Mann-Whitney,
    Bonferroni as in the report) and on breakdowns (Fisher, Bonferroni over the Fisher tests),
    and whether a variant effect is claimed (all pairs significant, in one direction)."""
    fisher_alpha = alpha / max(1, len(fisher))
    lines = ["## Variant effects across training replicates", "",
             "A difference between two variants is claimed only when every pair of their replicates differs "
             f"significantly in the same direction: `{measure}` by Mann-Whitney (Bonferroni, as above), "
             f"breakdowns by Fisher's exact test (alpha = {alpha} / {max(1, len(fisher))}).", "",
             "| variants | measure | replicate pairs (A of the first; or breakdown rates, p) | claimed |",
             "| --- | --- | --- | --- |"]
    for (x_name, xs), (y_name, ys) in itertools.combinations(variants.items(), 2):
        pairs = list(itertools.product(xs, ys))
        oriented = [_oriented_a(comparisons, x, y) for x, y in pairs]
        larger = {a > 0.5 for a, _ in oriented}
        claimed = all(s for _, s in oriented) and len(larger) == 1
        verdict = (f"yes: {x_name} tends {'larger' if larger == {True} else 'smaller'}" if claimed else "no")
        cells = ", ".join(f"{x}/{y} {a:.2f}{'*' if s else ''}" for (x, y), (a, s) in zip(pairs, oriented, strict=True))
        lines.append(f"| {x_name} vs {y_name} | `{measure}` | {cells} | {verdict} |")
        if fisher:
            rates = [_oriented_rates(fisher, x, y) for x, y in pairs]
            more = {rx > ry for rx, ry, _ in rates}
            claimed = all(p < fisher_alpha for _, _, p in rates) and len(more) == 1
            verdict = f"yes: {x_name} breaks down {'more' if more == {True} else 'less'}" if claimed else "no"
            cells = ", ".join(f"{x}/{y} {rx:.2f} vs {ry:.2f} (p {p:.2g})"
                              for (x, y), (rx, ry, p) in zip(pairs, rates, strict=True))
            lines.append(f"| {x_name} vs {y_name} | breakdowns | {cells} | {verdict} |")
    within = [(name, x, y) for name, members in variants.items() for x, y in itertools.combinations(members, 2)]
    if within:
        lines += ["", "Replicates of one variant against each other (how much the trained model itself matters):",
                  "", "| variant | replicates | A of the first | significant |", "| --- | --- | --- | --- |"]
        for name, x, y in within:
            a, significant = _oriented_a(comparisons, x, y)
            lines.append(f"| {name} | {x} vs {y} | {a:.2f} | {'yes' if significant else 'no'} |")
    return [*lines, ""]

"""`nca-world report SWEEP_DIR`: error ranges, tests between groups, box plots, a markdown report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.stats import compare_groups, error_ranges


def write_report(folder: Path, *, group: str, by: str, measure: str, movement: str = "max_displacement",
                 title: str = "Sweep report") -> Path:
    """Read ``results.csv`` of a sweep folder and write ``report.md`` with its figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.read_csv(folder / "results.csv")
    errors = table["error"].astype("string").fillna("") if "error" in table else pd.Series("", index=table.index)
    failed = table[errors != ""]
    table = table.drop(failed.index)
    ranges = error_ranges(table, group, by, measure)
    overall = compare_groups(table, group, measure)
    per_by = {value: compare_groups(part, group, measure) for value, part in table.groupby(by)}
    groups = sorted(table[group].astype(str).unique())

    figure, axis = plt.subplots(figsize=(8, 4))
    positions, labels = [], []
    for i, value in enumerate(sorted(table[by].unique())):
        for j, name in enumerate(groups):
            data = table[(table[by] == value) & (table[group].astype(str) == name)][measure].dropna()
            position = i * (len(groups) + 1) + j
            axis.boxplot(data, positions=[position], widths=0.8)
            positions.append(position)
            labels.append(f"{name}\n{by}={value}")
    axis.set_xticks(positions, labels, fontsize=7)
    axis.set_ylabel(measure)
    figure.tight_layout()
    figure.savefig(folder / "boxplot.png", dpi=110)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 4))
    if movement in table:
        for name in groups:
            part = table[table[group].astype(str) == name]
            axis.scatter(part[by] + np.random.default_rng(0).uniform(-0.3, 0.3, len(part)), part[movement],
                         s=10, label=name, alpha=0.7)
        axis.set_xlabel(by)
        axis.set_ylabel(f"{movement} (cells)")
        axis.legend()
    figure.tight_layout()
    figure.savefig(folder / "movement.png", dpi=110)
    plt.close(figure)

    lines = [f"# {title}", "", f"{len(table)} runs ({len(failed)} failed); measure `{measure}` at the last step,",
             f"compared between `{group}` values, per `{by}`.", "",
             f"## Error range (max - min of `{measure}` over runs)", "", _markdown(ranges), "",
             "## Mann-Whitney U (two-sided) and Vargha-Delaney A, all runs", "",
             f"Bonferroni: alpha = 0.05 / {max(1, len(overall))}. A > 0.5: the first group tends to be larger.", "",
             _comparisons(overall), ""]
    for value, comparisons in per_by.items():
        lines += [f"### {by} = {value}", "", _comparisons(comparisons), ""]
    moved = _markdown(table.groupby(group)[movement].describe()[["mean", "50%", "max"]]) if movement in table else "-"
    lines += ["## Movement", "", f"Largest centroid displacement of an organism per run (`{movement}`):", "",
              moved, "", "![box plot](boxplot.png)", "", "![movement](movement.png)", "", "## What this shows", "",
              *outcome(ranges, overall, group), ""]
    if len(failed):
        lines += ["## Failed runs", "", *(f"- {r.id}: {r.error}" for r in failed.itertuples()), ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path


def outcome(ranges: pd.DataFrame, comparisons: list, group: str) -> list[str]:
    """Plain sentences on what the numbers say, whichever way they come out."""
    lines = []
    widest = ranges.mean().sort_values()
    lines.append(f"- Mean error range per `{group}`: " + ", ".join(f"{k}: {v:.4f}" for k, v in widest.items())
                 + f". The narrowest (most stable across configurations) is {widest.index[0]}.")
    for c in comparisons:
        verdict = "differ significantly" if c.significant else "do not differ significantly"
        lines.append(f"- {c.first} vs {c.second}: {verdict} (U = {c.u:.0f}, p = {c.p:.2g}, A = {c.a:.2f}).")
    return lines


def _comparisons(comparisons: list) -> str:
    if not comparisons:
        return "(not enough runs)"
    rows = ["| first | second | U | p | A | significant |", "| --- | --- | --- | --- | --- | --- |"]
    rows += [f"| {c.first} | {c.second} | {c.u:.0f} | {c.p:.3g} | {c.a:.2f} | {'yes' if c.significant else 'no'} |"
             for c in comparisons]
    return "\n".join(rows)


def _markdown(frame: pd.DataFrame) -> str:
    frame = frame.reset_index()
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rows = ["| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, "|" + " --- |" * len(frame.columns), *rows])

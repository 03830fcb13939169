"""`nca-world report SWEEP_DIR`: error ranges, tests between groups, box plots, a markdown report.

The compared axis, the breakdown axis and the measure default to the sweep's own (saved in its
``sweep.json``: the ``[report]`` table of the sweep file, else its first two grid axes and
``ideal_mse_range`` or ``ideal_mse``). Every test of the report is Holm-corrected together.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from nca_world.agents.errors import NcaWorldError
from nca_world.sim.replicates import parse_replicates, replicate_section
from nca_world.sim.stats import compare_groups, error_ranges, fisher_breakdowns, holm, paired_wilcoxon, versus_controls

NOT_MEASURES = ("id", "seed", "error", "traceback", "control", "seconds")
ALL = "(all runs)"


class ReportError(NcaWorldError):
    """A report was asked for a column its sweep does not have."""


def sweep_info(folder: Path) -> dict:
    """The folder's ``sweep.json`` (grid, labels, report defaults), or {} for an older sweep without it."""
    path = folder / "sweep.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def resolve(folder: Path, table: pd.DataFrame, group: str | None, by: str | None,
            measure: str | None) -> tuple[str, str | None, str]:
    """The compared axis, the breakdown axis (None: all runs together) and the measure: the ones
    given, else the sweep's defaults; an unknown name raises `ReportError` listing the choices."""
    info = sweep_info(folder)
    axes = [a for a in info.get("grid", {}) if a in table] or [c for c in table if c not in NOT_MEASURES and
                                                               not pd.api.types.is_numeric_dtype(table[c])]
    measures = [c for c in table if c not in NOT_MEASURES and c not in axes and not c.startswith("control_")
                and pd.api.types.is_numeric_dtype(table[c]) and table[c].dtype != bool]
    defaults = info.get("report", {})
    if group is None:
        group = defaults.get("compare") or (axes[0] if axes else None)
    if by is None:
        grid = info.get("grid", {})
        others = [a for a in axes if a != group]
        varied = [a for a in others if len(grid.get(a, [None, None])) > 1]
        by = defaults.get("by") or next(iter(varied or others), None)
    if measure is None:  # a measure with values (ideal_mse_range is empty if runs end before growth)
        usable = [m for m in measures if table[m].notna().any()] or measures
        preferred = [m for m in (defaults.get("measure"), "ideal_mse_range", "ideal_mse", "ideal_mse_final")
                     if m in usable]
        measure = preferred[0] if preferred else (usable[0] if usable else None)
    for option, name, choices in (("--compare", group, axes), ("--by", by, axes), ("--measure", measure, measures)):
        if name is None and option != "--by":
            raise ReportError(f"{folder}: {option}: the sweep has no {'axis' if option == '--compare' else 'measure'}"
                              f" to default to; give one")
        if name is not None and name not in (choices if option == "--measure" else table.columns):
            raise ReportError(f"{folder}: {option}: unknown {'measure' if option == '--measure' else 'axis'} "
                              f"{name!r}; choose one of: {', '.join(choices)}")
    if by == group:
        raise ReportError(f"{folder}: --by: expected an axis other than the compared one ({group!r})")
    return group, by, measure  # type: ignore[return-value]


def write_report(folder: Path, *, group: str | None = None, by: str | None = None, measure: str | None = None,
                 movement: str = "max_displacement", title: str = "Sweep report",
                 replicates: list[str] | None = None) -> Path:
    """Read ``results.csv`` of a sweep folder and write ``report.md`` with its figures.
    `replicates` (``["A=A1,A2", "B=B1,B2"]``) groups the compared values into variants trained
    with several seeds: variant effects are then claimed only where every replicate pair agrees
    (`sim.replicates`)."""
    table = pd.read_csv(folder / "results.csv")
    group, by, measure = resolve(folder, table, group, by, measure)
    errors = table["error"].astype("string").fillna("") if "error" in table else pd.Series("", index=table.index)
    failed = table[errors != ""]
    table = table.drop(failed.index)
    if table.empty:
        raise ReportError(f"{folder}: no finished run to report on ({len(failed)} failed"
                          + (f", the first with {failed.error.iloc[0]}" if len(failed) else "") + ")")
    if by is None:
        by = ALL
        table[by] = "all"
    table[group] = table[group].astype(str)
    ranges = error_ranges(table, group, by, measure)
    overall = compare_groups(table, group, measure)
    per_by = {value: compare_groups(part, group, measure) for value, part in table.groupby(by)} if by != ALL else {}
    axes = [a for a in sweep_info(folder).get("grid", {}) if a in table and a not in (group, by)]
    match = [*axes, *([] if by == ALL else [by]), "seed"]
    try:
        paired = paired_wilcoxon(table, group, measure, match)
    except ValueError:  # the runs cannot be matched (an older sweep without its axes saved)
        paired = []
    broken = [c for c in table if c.startswith("breakdown_") and not c.startswith("breakdown_step")]
    if broken:
        table["broke_down"] = (table[broken].astype(str) != "intact").any(axis=1)
    fisher = fisher_breakdowns(table, group, "broke_down") if broken else []
    against = versus_controls(table, group, by, f"{measure}_vs_control") if f"{measure}_vs_control" in table else []
    groups = sorted(table[group].unique())
    variants = parse_replicates(replicates, groups) if replicates else None
    _figures(folder, table, group, by, measure, movement, groups)

    tests = ([("Mann-Whitney U", f"{c.first} vs {c.second}", c.p) for c in overall]
             + [("Mann-Whitney U", f"{c.first} vs {c.second}, {by} = {v}", c.p) for v, cs in per_by.items() for c in cs]
             + [("Wilcoxon signed-rank (paired)", f"{w.first} vs {w.second}", w.p) for w in paired]
             + [("Fisher exact (breakdowns)", f"{f.first} vs {f.second}", f.p) for f in fisher]
             + [("Wilcoxon signed-rank vs control", w.first, w.p) for w in against])
    adjusted, significant = holm([t[2] for t in tests])
    lines = [f"# {title}", "", f"{len(table)} runs ({len(failed)} failed). Measure `{measure}`, compared between "
             f"`{group}` values, per `{by}`.", "",
             f"## Error range across runs (max - min of `{measure}` over the runs of a cell)", "", _markdown(ranges),
             ""]
    if "ideal_mse_range" in table:
        within = table.groupby([by, group])["ideal_mse_range"].mean().unstack(group)
        lines += ["## Error range within a run (`ideal_mse_range`: max - min over the steps from the last spawn "
                  "+ 100 to the end), mean over runs", "", _markdown(within), ""]
    lines += ["## Mann-Whitney U (two-sided) and Vargha-Delaney A, all runs", "",
              f"Bonferroni: alpha = 0.05 / {max(1, len(overall))}. A > 0.5: the first group tends to be larger; "
              "its 95% interval is a seeded percentile bootstrap.", "", _comparisons(overall), ""]
    for value, comparisons in per_by.items():
        lines += [f"### {by} = {value}", "", _comparisons(comparisons), ""]
    if paired:
        lines += [f"## Paired: Wilcoxon signed-rank on matched configurations ({', '.join(match)})", "",
                  "| first | second | pairs | median difference | W | p |", "| --- | --- | --- | --- | --- | --- |",
                  *(f"| {w.first} | {w.second} | {w.pairs} | {w.median_difference:.4g} | {w.statistic:.1f} | "
                    f"{w.p:.3g} |" for w in paired), ""]
    if broken:
        lines += _breakdowns(table, group, broken, fisher)
    if variants:
        lines += replicate_section(variants, overall, fisher, measure)
    relative = [c for c in table if c.endswith("_vs_control")]
    if relative:
        lines += ["## Relative to each run's control (run minus the same model's run with the organisms far apart)",
                  "", "Mean per group:", "", _markdown(table.groupby(group)[relative].mean().T.rename_axis("measure")),
                  ""]
    if against:
        lines += [f"Wilcoxon signed-rank of `{measure}_vs_control` (run minus its control) against 0:", "",
                  "| runs | pairs | median difference | W | p |", "| --- | --- | --- | --- | --- |",
                  *(f"| {w.first} | {w.pairs} | {w.median_difference:.4g} | {w.statistic:.1f} | {w.p:.3g} |"
                    for w in against), ""]
    if tests:
        lines += ["## Every test, Holm-corrected together (alpha = 0.05)", "",
                  "| test | groups | p | Holm p | significant |", "| --- | --- | --- | --- | --- |",
                  *(f"| {t[0]} | {t[1]} | {t[2]:.3g} | {a:.3g} | {'yes' if s else 'no'} |"
                    for t, a, s in zip(tests, adjusted, significant, strict=True)), ""]
    moved = _markdown(table.groupby(group)[movement].describe()[["mean", "50%", "max"]]) if movement in table else "-"
    away = [c for c in table if c.startswith("away_") and not c.endswith("_vs_control")]
    if away:
        moved += ("\n\nMovement away from the nearest other organism from the last spawn + 100 to the end "
                  "(`away_<name>`, cells; negative: towards it), mean per group:\n\n"
                  + _markdown(table.groupby(group)[away].mean()))
    lines += ["## Movement", "", f"Largest centroid displacement of an organism per run (`{movement}`):", "",
              moved, "", "![box plot](boxplot.png)", "", "![movement](movement.png)", "", "## What this shows", "",
              *outcome(ranges, overall, group), ""]
    if len(failed):
        lines += ["## Failed runs", "", *(f"- {r.id}: {r.error}" for r in failed.itertuples()), ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path


def _breakdowns(table: pd.DataFrame, group: str, broken: list[str], fisher: list) -> list[str]:
    counts = table.groupby(group)[broken].agg(lambda v: ", ".join(f"{k} {n}" for k, n in v.value_counts().items()))
    lines = ["## Breakdowns (class of each organism at the last step)", "", _markdown(counts), "",
             "Runs where any organism broke down, and Fisher's exact test between groups:", "",
             "| first | second | broken (first) | broken (second) | odds ratio | p |",
             "| --- | --- | --- | --- | --- | --- |",
             *(f"| {f.first} | {f.second} | {f.broken_first}/{f.runs_first} | {f.broken_second}/{f.runs_second} | "
               f"{f.odds_ratio:.3g} | {f.p:.3g} |" for f in fisher), ""]
    controls = [c for c in table if c.startswith("control_breakdown_")]
    if controls:
        control_broken = (table[controls].astype(str) != "intact") & table[controls].notna()
        summary = pd.DataFrame({"runs broken": table.groupby(group)["broke_down"].sum(),
                                "their controls broken": control_broken.any(axis=1).groupby(table[group]).sum()})
        lines += ["Breakdowns against controls (the same model, organisms far apart):", "", _markdown(summary), ""]
    return lines


def _figures(folder: Path, table: pd.DataFrame, group: str, by: str, measure: str, movement: str,
             groups: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = sorted(table[by].unique(), key=lambda v: (isinstance(v, str), v))
    figure, axis = plt.subplots(figsize=(8, 4))
    positions, labels = [], []
    for i, value in enumerate(values):
        for j, name in enumerate(groups):
            data = pd.to_numeric(table[(table[by] == value) & (table[group] == name)][measure], errors="coerce")
            position = i * (len(groups) + 1) + j
            axis.boxplot(data.dropna(), positions=[position], widths=0.8)
            positions.append(position)
            labels.append(f"{name}\n{by}={value}")
    axis.set_xticks(positions, labels, fontsize=7)
    axis.set_ylabel(measure)
    figure.tight_layout()
    figure.savefig(folder / "boxplot.png", dpi=110)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 4))
    if movement in table:
        where = {value: i for i, value in enumerate(values)}
        jitter = np.random.default_rng(0)
        for name in groups:
            part = table[table[group] == name]
            axis.scatter(part[by].map(where) + jitter.uniform(-0.3, 0.3, len(part)), part[movement],
                         s=10, label=name, alpha=0.7)
        axis.set_xticks(range(len(values)), [str(v) for v in values])
        axis.set_xlabel(by)
        axis.set_ylabel(f"{movement} (cells)")
        axis.legend()
    figure.tight_layout()
    figure.savefig(folder / "movement.png", dpi=110)
    plt.close(figure)


def outcome(ranges: pd.DataFrame, comparisons: list, group: str) -> list[str]:
    """Plain sentences on what the numbers say, whichever way they come out."""
    lines = []
    widest = ranges.mean().sort_values()
    lines.append(f"- Mean error range per `{group}`: " + ", ".join(f"{k}: {v:.4f}" for k, v in widest.items())
                 + f". The narrowest (most stable across configurations) is {widest.index[0]}.")
    for c in comparisons:
        verdict = "differ significantly (Bonferroni)" if c.significant else "do not differ significantly (Bonferroni)"
        lines.append(f"- {c.first} vs {c.second}: {verdict} (U = {c.u:.0f}, p = {c.p:.2g}, A = {c.a:.2f} "
                     f"[{c.a_low:.2f}, {c.a_high:.2f}]).")
    return lines


def _comparisons(comparisons: list) -> str:
    if not comparisons:
        return "(not enough runs)"
    rows = ["| first | second | n | U | p | A | A 95% CI | significant (Bonferroni) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    rows += [f"| {c.first} | {c.second} | {c.n_first}, {c.n_second} | {c.u:.0f} | {c.p:.3g} | {c.a:.2f} | "
             f"[{c.a_low:.2f}, {c.a_high:.2f}] | {'yes' if c.significant else 'no'} |" for c in comparisons]
    return "\n".join(rows)


def _markdown(frame: pd.DataFrame) -> str:
    frame = frame.reset_index()
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rows = ["| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, "|" + " --- |" * len(frame.columns), *rows])

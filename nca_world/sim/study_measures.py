"""Measures that see interaction: per-step series of a run, breakdown classes and movement.

A sweep keeps, per run, the per-step series every summary below is computed from (so any summary
can be recomputed, or a new one added, without running again):

- ``steps``: per frame, the identity paper's RGBA MSE against the ideal image (`sim.analysis`);
- ``organisms``: per frame and organism, its cells (owned, i.e. alive), the largest 8-connected
  component of them, how many of them touch (8-neighbour) another organism's cell, the centroid,
  and the shape error and IoU after best alignment with its target (`sim.analysis`);
- ``info``: per organism, its name, species, spawn step and target cells: the cells its target
  would own, i.e. the target's living silhouette (alpha > 0.1) grown by one cell, as the alive
  rule (3x3 max-pool of alpha) makes a body own the ring around it.

Per run (`run_measures`), with ``grown = last spawn step + GROWN_AFTER`` (both organisms have grown):

- ``ideal_mse_final``: the ideal-image MSE at the last frame; ``ideal_mse_max`` and
  ``ideal_mse_range`` (max - min): over the frames from ``grown`` to the end;
- ``breakdown_<name>``: the organism's class at the last frame, the first that applies of
  ``died`` (at most `DIED_AT_MOST` cells), ``merged`` (touching another organism, i.e. one
  connected body, and no longer its own shape: aligned IoU with its target under `MERGED_IOU`),
  ``exploded`` (over `EXPLODED_OVER` x its target cells), ``fragmented`` (largest component under
  `FRAGMENTED_UNDER` of its cells), else ``intact``; ``breakdown_step_<name>``: the first frame
  from ``grown`` on whose class is not intact (NaN if none); ``breakdowns``: organisms not intact
  at the end; ``touching_<name>``: whether it touches another organism at the end (neighbours
  placed close touch while intact, which is why touching alone is not a breakdown);
- ``moved_<name>``: the distance its centroid moved from ``grown`` to the end; ``away_<name>``:
  the part of that movement pointing away from the nearest other organism (its centroid at
  ``grown``): positive = moved away, negative = moved towards it; ``direction_<name>``: the angle
  in degrees between the movement and straight away from it (0 = away, 90 = sideways, 180 =
  towards; NaN without movement); ``separation_change``: the
  change of the distance between the two centroids (runs of exactly two organisms).

`relative_to_controls` gives each run's measures minus those of its control (the same run with
the organisms far apart), so a model's own drift is not counted as interaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from scipy import ndimage

GROWN_AFTER = 100  # steps after the last spawn from which both organisms count as grown
DIED_AT_MOST = 5  # cells
MERGED_IOU = 0.5  # a touching organism whose aligned IoU is under this has lost its own shape
EXPLODED_OVER = 2.0  # x the target's cells
FRAGMENTED_UNDER = 0.8  # largest component / cells
ALIVE = 0.1
CLASSES = ("died", "merged", "exploded", "fragmented", "intact")
RUN_MEASURES = ("ideal_mse_final", "ideal_mse_max", "ideal_mse_range", "breakdowns", "separation_change")
PER_ORGANISM = ("breakdown", "breakdown_step", "touching", "moved", "away", "direction")
MEASURES = RUN_MEASURES + PER_ORGANISM
RELATIVE = ("ideal_mse_final", "ideal_mse_max", "ideal_mse_range", "breakdowns", "separation_change",
            "mean_shape_error", "max_shape_error", "max_displacement")
EIGHT = np.ones((3, 3), bool)
ORGANISM_COLUMNS = ("step", "organism", "cells", "largest_component", "touching", "centroid_y", "centroid_x",
                    "shape_error", "iou")


@dataclass
class Series:
    """The per-step series of one run (see the module docstring)."""

    steps: pd.DataFrame  # step, ideal_mse
    organisms: pd.DataFrame  # ORGANISM_COLUMNS
    info: pd.DataFrame  # organism, name, species, spawn_step, target_cells


def frame_measures(owner: np.ndarray, organisms: list[int]) -> dict[int, tuple[int, int, int, float, float]]:
    """Per organism number `k` of the owner map ``(H, W)`` (0 = nobody): ``(cells, largest
    8-connected component, cells touching another organism's cell (8-neighbour), centroid y,
    centroid x)``; an organism without cells has centroid NaN."""
    owned = owner > 0
    out = {}
    for k in organisms:
        mine = owner == k
        cells = int(mine.sum())
        if cells == 0:
            out[k] = (0, 0, 0, np.nan, np.nan)
            continue
        labels, count = ndimage.label(mine, structure=EIGHT)
        largest = int(np.bincount(labels.ravel())[1:].max()) if count else 0
        others = ndimage.binary_dilation(owned & ~mine, structure=EIGHT)
        ys, xs = np.nonzero(mine)
        out[k] = (cells, largest, int((mine & others).sum()), float(ys.mean()), float(xs.mean()))
    return out


def series_of(analysis, recording) -> Series:
    """The series of one analysed recording (`sim.analysis.analyze`) and the recording itself."""
    spawns = [r for r in analysis.events if r["event"]["kind"] == "spawn"]
    models = recording.models
    info = []
    for record in spawns:
        rule = models.get(record["event"]["species"])
        target = None if rule is None else rule.target
        if target is not None and target.ndim == 4:
            target = target[0]
        info.append((record["effect"]["index"], record["event"]["name"], record["event"]["species"], record["step"],
                     target_cells(target)))
    info_table = pd.DataFrame(info, columns=["organism", "name", "species", "spawn_step", "target_cells"])
    numbers = [int(k) for k in info_table.organism]
    rows = []
    steps = recording.steps
    for start in range(0, len(recording), 64):
        owners = recording.file["owner"][start : start + 64]
        for i, owner in enumerate(owners):
            for k, values in frame_measures(owner.astype(np.int64), numbers).items():
                rows.append((int(steps[start + i]), k, *values))
    organisms = pd.DataFrame(rows, columns=list(ORGANISM_COLUMNS[:-2]))
    errors = analysis.organisms[["step", "organism", "shape_error", "iou"]]
    organisms = organisms.merge(errors, on=["step", "organism"], how="left")
    return Series(analysis.paper[["step", "ideal_mse"]].reset_index(drop=True), organisms, info_table)


def target_cells(target: np.ndarray | None) -> int:
    """The cells a body of exactly the target's shape owns: its living silhouette (alpha > 0.1)
    grown by one cell (the alive rule's 3x3 max-pool); 0 without a target."""
    if target is None:
        return 0
    living = np.pad(target[..., 3] > ALIVE, 1)
    return int(ndimage.binary_dilation(living, structure=EIGHT).sum())


def classify(cells, largest, touching, iou, target: float, *, died_at_most: int = DIED_AT_MOST,
             merged_iou: float = MERGED_IOU, exploded_over: float = EXPLODED_OVER,
             fragmented_under: float = FRAGMENTED_UNDER) -> np.ndarray:
    """The breakdown class of each frame (the first of `CLASSES` that applies); `target` is the
    organism's target cells (`target_cells`). A NaN IoU (no target) never counts as merged."""
    cells, largest, touching, iou = (np.asarray(a, float) for a in (cells, largest, touching, iou))
    conditions = [cells <= died_at_most, (touching > 0) & (iou < merged_iou),
                  (target > 0) & (cells > exploded_over * target),
                  largest < fragmented_under * cells]
    return np.select(conditions, CLASSES[:4], default="intact")


def run_measures(series: Series, *, grown_after: int = GROWN_AFTER, **thresholds: float) -> dict[str, Any]:
    """The per-run measures of the module docstring (`thresholds`: keywords of `classify`)."""
    grown = int(series.info.spawn_step.max()) + grown_after if len(series.info) else grown_after
    steps = series.steps.sort_values("step")
    window = steps[steps.step >= grown].ideal_mse
    out: dict[str, Any] = {
        "ideal_mse_final": float(steps.ideal_mse.iloc[-1]) if len(steps) else np.nan,
        "ideal_mse_max": float(window.max()) if len(window) else np.nan,
        "ideal_mse_range": float(window.max() - window.min()) if len(window) else np.nan,
    }
    table = series.organisms.sort_values(["organism", "step"])
    at_grown = table[table.step >= grown]
    start_step = at_grown.step.min() if len(at_grown) else None
    starts = {int(k): (r.centroid_y, r.centroid_x) for k, r in
              table[table.step == start_step].set_index("organism").iterrows()} if start_step is not None else {}
    broken = 0
    ends = {}
    for row in series.info.itertuples():
        track = table[table.organism == row.organism]
        name = row.name
        if track.empty:
            continue
        classes = classify(track.cells, track.largest_component, track.touching, track.iou, row.target_cells,
                           **thresholds)
        out[f"breakdown_{name}"] = str(classes[-1])
        out[f"touching_{name}"] = bool(track.touching.iloc[-1] > 0)
        broken += classes[-1] != "intact"
        late = (track.step.to_numpy() >= grown) & (classes != "intact")
        out[f"breakdown_step_{name}"] = float(track.step.to_numpy()[late][0]) if late.any() else np.nan
        end = (track.centroid_y.iloc[-1], track.centroid_x.iloc[-1])
        ends[int(row.organism)] = end
        start = starts.get(int(row.organism), (np.nan, np.nan))
        delta = np.subtract(end, start)
        out[f"moved_{name}"] = float(np.hypot(*delta))
        others = [v for k, v in starts.items() if k != int(row.organism) and np.isfinite(v).all()]
        away = angle = np.nan
        if others and np.isfinite(start).all():
            nearest = min(others, key=lambda o: np.hypot(start[0] - o[0], start[1] - o[1]))
            direction = np.subtract(start, nearest)
            norm = float(np.hypot(*direction))
            away = float(np.dot(delta, direction) / norm) if norm > 0 else np.nan
            moved = out[f"moved_{name}"]
            if moved > 0 and np.isfinite(away):
                angle = float(np.degrees(np.arccos(np.clip(away / moved, -1.0, 1.0))))
        out[f"away_{name}"] = away
        out[f"direction_{name}"] = angle
    out["breakdowns"] = int(broken)
    out["separation_change"] = np.nan
    if len(series.info) == 2 and len(starts) == 2 and len(ends) == 2:
        (a, b) = (int(k) for k in series.info.organism)
        out["separation_change"] = float(np.hypot(*np.subtract(ends[a], ends[b]))
                                         - np.hypot(*np.subtract(starts[a], starts[b])))
    return out


def relative_to_controls(table: pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """Each run's measures minus its control's (``<measure>_vs_control``), and the control's
    breakdown classes (``control_breakdown_<name>``); runs whose control is missing or failed get NaN."""
    table = table.copy()
    if "control" not in table or controls.empty:
        return table
    ok = controls[controls.get("error", pd.Series("", index=controls.index)).fillna("") == ""]
    reference = ok.set_index("id")
    numeric = [c for c in reference.columns if c in table and (c in RELATIVE or c.startswith(("moved_", "away_")))]
    for column in numeric:
        values = pd.to_numeric(table[column], errors="coerce")
        table[f"{column}_vs_control"] = values - table["control"].map(pd.to_numeric(reference[column],
                                                                                      errors="coerce"))
    for column in [c for c in reference.columns if c.startswith("breakdown_") and not c.startswith("breakdown_step")]:
        table[f"control_{column}"] = table["control"].map(reference[column])
    return table


# ------------------------------------------------------------------ storage

def write_run_series(series: Series, path: Path) -> None:
    """One run's series as an HDF5 file of columns (``/steps``, ``/organisms``, ``/info``)."""
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        for name, frame in (("steps", series.steps), ("organisms", series.organisms), ("info", series.info)):
            _write_columns(f.create_group(name), frame)
    tmp.replace(path)


def read_run_series(path: Path) -> Series:
    """A series written by `write_run_series`."""
    with h5py.File(path, "r") as f:
        return Series(_read_columns(f["steps"]), _read_columns(f["organisms"]), _read_columns(f["info"]))


def merge_series(runs: Path, ids: list[str], out: Path) -> int:
    """Every run's series (``runs/<id>.series.h5``) in one columnar HDF5 file (one dataset per
    column, gzip): ``/steps``, ``/organisms`` and ``/info``, each with a ``run`` column numbering
    ``/run_ids``; returns the number of runs merged. Read it with `read_series`.

    A run whose own file is gone keeps the series an earlier merge into `out` holds, so the merged
    file alone (small enough to keep in git, unlike a file per run) carries a sweep's series."""
    names = ("steps", "organisms", "info")
    kept: dict[str, dict] = {name: {} for name in names}
    if out.is_file():
        for name, table in read_series(out).items():
            if "run" in table:
                kept[name] = {run_id: rows.drop(columns="run") for run_id, rows in table.groupby("run")}
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in names}
    merged: list[str] = []
    for run_id in ids:
        path = runs / f"{run_id}.series.h5"
        if path.is_file():
            series = read_run_series(path)
            tables = (series.steps, series.organisms, series.info)
        elif run_id in kept["info"]:
            tables = tuple(kept[name].get(run_id, pd.DataFrame()) for name in names)
        else:
            continue
        for name, frame in zip(names, tables, strict=True):
            parts[name].append(frame.assign(run=np.int32(len(merged))))  # a number into /run_ids
        merged.append(run_id)
    tmp = out.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "nca-world-sweep-series"
        f.create_dataset("run_ids", data=np.array(merged, dtype=h5py.string_dtype()))
        for name, frames in parts.items():
            _write_columns(f.create_group(name), pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())
    tmp.replace(out)
    return len(merged)


def read_series(path: Path) -> dict[str, pd.DataFrame]:
    """The tables of a sweep's ``series.h5``: ``steps``, ``organisms`` and ``info``, each with
    ``run`` (the run's id; stored as a number into ``/run_ids``)."""
    with h5py.File(path, "r") as f:
        ids = np.array([v.decode() if isinstance(v, bytes) else v for v in f["run_ids"][()]], dtype=object)
        tables = {name: _read_columns(f[name]) for name in ("steps", "organisms", "info")}
    for table in tables.values():
        if "run" in table:
            table["run"] = ids[table["run"].to_numpy()] if len(ids) else table["run"]
    return tables


def measures_from_series(path: Path, **options: float) -> pd.DataFrame:
    """`run_measures` of every run in a sweep's ``series.h5``, recomputed (with other thresholds
    if given, e.g. ``merged_iou=0.4, grown_after=200``): one row per run id."""
    tables = read_series(path)
    rows = []
    for run_id, info in tables["info"].groupby("run"):
        series = Series(*(tables[n][tables[n].run == run_id].drop(columns="run") for n in ("steps", "organisms")),
                        info.drop(columns="run"))
        rows.append({"id": run_id, **run_measures(series, **options)})
    return pd.DataFrame(rows)


def _write_columns(group: h5py.Group, frame: pd.DataFrame) -> None:
    group.attrs["columns"] = list(map(str, frame.columns))
    for column in frame.columns:
        values = frame[column].to_numpy()
        if values.dtype == object:
            values = np.array([str(v).encode() for v in values], dtype=h5py.string_dtype())
        group.create_dataset(str(column), data=values, compression="gzip" if len(values) > 256 else None)


def _read_columns(group: h5py.Group) -> pd.DataFrame:
    data = {}
    for column in group.attrs["columns"]:
        values = group[column][()]
        if values.dtype == object:
            values = np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
        data[column] = values
    return pd.DataFrame(data)

"""Sweeps: many runs of one scenario over a parameter grid and replicate seeds, on Dask.

A sweep file::

    scenario = "identity-pair.toml"        # the base scenario, relative to this file
    seeds = [1, 2, 3]                      # replicate world seeds
    steps = 1000                           # optional: instead of the scenario's
    keep_recordings = false
    metrics = ["ideal_mse", "mean_shape_error", ...]   # optional: the columns to keep

    [grid]                                 # every combination of these values is one run per seed
    "species.0.model" = ["../agents/zoo/gecko-A.h5", "../agents/zoo/gecko-C.h5"]
    delay = [0, 50]                        # a bare name is a parameter for [derived]
    distance = [6, 12]

    [derived]                              # fields computed from parameters (+ - * / and lists)
    "organisms.1.spawn_step" = "delay"
    "organisms.1.position" = "[48, 66 + distance]"

    [labels]                               # optional short names for long values in the table
    "../agents/zoo/gecko-A.h5" = "A"

Runs go to a `distributed.Client`: a `LocalCluster` with one single-threaded worker per core by
default, or an existing scheduler. Each finished run writes ``runs/<id>.json``, so a rerun skips
it and an interrupted sweep keeps what finished; ``results.csv`` holds one row per run.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import operator
import os
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from agents.config import Strict, load
from agents.errors import ScenarioError

METRICS = ("ideal_mse", "mean_shape_error", "max_shape_error", "min_iou", "alive_organisms", "total_cells",
           "max_displacement", "box_shift", "collapsed", "exploded", "contact_length", "seconds")
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.FloorDiv: operator.floordiv, ast.USub: operator.neg}


class SweepFile(Strict):
    """A sweep file (see the module docstring)."""

    scenario: Path
    seeds: list[int] = Field(min_length=1)
    steps: int | None = Field(None, ge=0)
    keep_recordings: bool = False
    metrics: list[str] = Field(default_factory=lambda: list(METRICS))
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    derived: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _checks(self) -> SweepFile:
        for axis, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{axis}: expected at least one value, got an empty list")
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"metrics: unknown {unknown}; expected some of {list(METRICS)}")
        names = {axis for axis in self.grid if "." not in axis}
        for field, expression in self.derived.items():
            for name in _names(expression, field):
                if name not in names:
                    raise ValueError(f"derived.{field}: {name!r} is not a grid parameter (have {sorted(names)})")
        return self


def _names(expression: str, field: str) -> set[str]:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise ValueError(f"derived.{field}: not an expression: {expression!r}") from error
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def evaluate(expression: str, parameters: dict[str, Any]) -> Any:
    """A `[derived]` expression: numbers, parameter names, + - * / //, unary minus and lists."""

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.Name):
            return parameters[node.id]
        if isinstance(node, ast.List | ast.Tuple):
            return [walk(item) for item in node.elts]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.operand))
        raise ValueError(f"not allowed in a derived field: {ast.dump(node)}")

    return walk(ast.parse(expression, mode="eval"))


class Sweep:
    """A loaded sweep: its file, base scenario path and the list of runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = load(SweepFile, path, ScenarioError)
        self.scenario = self.file.scenario if self.file.scenario.is_absolute() else path.parent / self.file.scenario
        if not self.scenario.is_file():
            raise ScenarioError(f"{path}: scenario: no such file {self.scenario}")

    def runs(self) -> list[dict[str, Any]]:
        """Every combination of the grid, times every seed: ``{"id", "seed", "parameters", "fields"}``."""
        axes = list(self.file.grid)
        out = []
        for values in itertools.product(*(self.file.grid[a] for a in axes)):
            parameters = dict(zip(axes, values, strict=True))
            fields = {a: v for a, v in parameters.items() if "." in a}
            fields.update({f: evaluate(e, parameters) for f, e in self.file.derived.items()})
            for seed in self.file.seeds:
                key = json.dumps([parameters, seed], sort_keys=True)
                out.append({"id": hashlib.sha1(key.encode()).hexdigest()[:12], "seed": seed,
                            "parameters": parameters, "fields": {**fields, "world.seed": seed}})
        return out


def run_one(scenario_path: str, run: dict[str, Any], out_dir: str, steps: int | None, keep: bool,
            metrics: list[str]) -> dict[str, Any]:
    """One run (on a worker): the scenario with the run's fields, then its metrics. Never raises:
    a failure becomes a row with the error."""
    import time

    import numba

    from sim.analysis import analyze
    from sim.runner import run_scenario
    from sim.scenario import load_scenario

    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # one single-threaded worker per core
    recording = Path(out_dir) / "runs" / f"{run['id']}.h5"
    row: dict[str, Any] = {"id": run["id"], "seed": run["seed"], **run["parameters"], "error": ""}
    start = time.perf_counter()
    try:
        scenario = load_scenario(Path(scenario_path), fields=run["fields"])
        run_scenario(scenario, steps=steps, out=recording, progress=False)
        row.update({k: v for k, v in summarise(analyze(recording)).items() if k in metrics})
        row["seconds"] = round(time.perf_counter() - start, 3) if "seconds" in metrics else None
    except Exception as error:
        row["error"] = f"{type(error).__name__}: {error}"
        row["traceback"] = traceback.format_exc(limit=3)
    finally:
        numba.set_num_threads(threads)
        if not keep:
            recording.unlink(missing_ok=True)
    row = {k: v for k, v in row.items() if v is not None}
    (Path(out_dir) / "runs" / f"{run['id']}.json").write_text(json.dumps(row, default=_plain))
    return row


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def summarise(analysis) -> dict[str, Any]:
    """The run-level metrics of one analysed recording (final step)."""
    table = analysis.organisms
    last = table[table.step == table.step.max()]
    out: dict[str, Any] = {
        "ideal_mse": float(analysis.paper.ideal_mse.iloc[-1]),
        "mean_shape_error": float(last.shape_error.mean()),
        "max_shape_error": float(last.shape_error.max()),
        "min_iou": float(last.iou.min()),
        "alive_organisms": int((last.alive > 0).sum()),
        "total_cells": int(last.alive.sum()),
        "box_shift": float(np.nansum(analysis.paper.box_shift)),
        "collapsed": bool(last.collapsed.any()),
        "exploded": bool(table.exploded.any()),
        "contact_length": int(analysis.contacts[analysis.contacts.step == table.step.max()].contact_length.sum()),
    }
    displacement = []
    for k, track in table.groupby("organism"):
        track = track.dropna(subset=["centroid_y"])
        if len(track) > 1:
            moved = float(np.hypot(track.centroid_y.iloc[-1] - track.centroid_y.iloc[0],
                                   track.centroid_x.iloc[-1] - track.centroid_x.iloc[0]))
            displacement.append(moved)
            out[f"displacement_{analysis.names[int(k)]}"] = moved
    out["max_displacement"] = max(displacement, default=0.0)
    return out


def run_sweep(sweep: Sweep, out_dir: Path, *, scheduler: str | None = None, workers: int | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Every run not finished yet, on Dask; returns (and writes) the results table."""
    from distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    runs = sweep.runs()
    todo = [r for r in runs if not (out_dir / "runs" / f"{r['id']}.json").exists()]
    arguments = (str(sweep.scenario.resolve()), str(out_dir.resolve()), sweep.file.steps,
                 sweep.file.keep_recordings, sweep.file.metrics)
    if todo:
        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
        client = Client(scheduler or cluster)
        try:
            futures = [client.submit(run_one, arguments[0], run, *arguments[1:], key=f"run-{run['id']}", pure=False)
                       for run in todo]
            with tqdm(total=len(runs), initial=len(runs) - len(todo), disable=not progress, unit="run") as bar:
                for _ in as_completed(futures):
                    bar.update(1)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return collect(sweep, out_dir)


def collect(sweep: Sweep, out_dir: Path) -> pd.DataFrame:
    """The results table of the finished runs, in grid order, written to ``results.csv``."""
    rows = []
    for run in sweep.runs():
        path = out_dir / "runs" / f"{run['id']}.json"
        if path.exists():
            rows.append(json.loads(path.read_text()))
    table = pd.DataFrame(rows)
    for column, values in sweep.file.grid.items():
        if column in table and any(isinstance(v, str) for v in values):
            table[column] = table[column].map(lambda v: sweep.file.labels.get(v, v))
    table.to_csv(out_dir / "results.csv", index=False)
    (out_dir / "sweep.json").write_text(json.dumps({"sweep": str(sweep.path), "grid": sweep.file.grid,
                                                     "seeds": sweep.file.seeds, "labels": sweep.file.labels}))
    return table


def run_in_process(sweep: Sweep, out_dir: Path) -> pd.DataFrame:
    """The same runs one by one in this process (no Dask): the reference for the sweep tests."""
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    for run in sweep.runs():
        run_one(str(sweep.scenario.resolve()), run, str(out_dir.resolve()), sweep.file.steps,
                sweep.file.keep_recordings, sweep.file.metrics)
    return collect(sweep, out_dir)

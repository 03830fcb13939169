"""Sweeps: many runs of one scenario over a parameter grid and replicate seeds, on Dask.

A sweep file::

    scenario = "identity-pair.toml"        # the base scenario, relative to this file
    seeds = [1, 2, 3]                      # replicate world seeds
    steps = 1000                           # optional: instead of the scenario's
    keep_recordings = false
    metrics = ["ideal_mse", "mean_shape_error", ...]   # optional: the columns to keep

    [grid]                                 # every combination of these values is one run per seed
    "species.0.model" = ["gecko-A", "gecko-C"]
    delay = [0, 50]                        # a bare name is a parameter for [derived]
    distance = [6, 12]

    [derived]                              # fields computed from parameters (+ - * /, lists, pair[0])
    "organisms.1.spawn_step" = "delay"
    "organisms.1.position" = "[48, 66 + distance]"

    [control]                              # optional: each run's control, the same run with these
    "organisms.1.position" = "[48, 130]"   # fields changed (e.g. the organisms far apart): expressions
                                           # like [derived], or plain values

    [labels]                               # optional short names for long values in the table
    "gecko-A" = "A"

    [report]                               # optional defaults of `nca-world report`
    compare = "species.0.model"
    by = "distance"
    measure = "ideal_mse_range"

Every run's scenario is built and validated before anything is submitted: a bad field, value or
expression refuses the whole sweep with the sweep file, the field and the reason.

A run's id hashes everything that determines its result (`sim.sweep_ids`). Runs go to a
`distributed.Client`: a `LocalCluster` with one single-threaded worker per core by default, or an
existing scheduler. Each finished run writes ``runs/<id>.json`` (and its per-step series,
`sim.study_measures`), so a rerun skips it and an interrupted sweep keeps what finished; a changed
setting gives new ids, so nothing stale is reused. ``results.csv`` holds one row per run,
``controls.csv`` one per distinct control, ``series.h5`` every run's per-step series and
``sweep.json`` the sweep's axes and report defaults.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import itertools
import json
import math
import operator
import os
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from nca_world.agents import library
from nca_world.agents.config import Strict, load, read_toml
from nca_world.agents.errors import ModelFileError, NcaWorldError, ScenarioError
from nca_world.sim import study_measures, sweep_ids

METRICS = ("ideal_mse", "mean_shape_error", "max_shape_error", "min_iou", "alive_organisms", "total_cells",
           "max_displacement", "box_shift", "collapsed", "exploded", "contact_length", "seconds",
           *study_measures.MEASURES)
CONNECT_TIMEOUT = 5  # seconds to reach a scheduler before the sweep is refused
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.FloorDiv: operator.floordiv, ast.USub: operator.neg}


def _model_entries(data: dict) -> list[tuple[str, str, str]]:
    """``(field, species name, model)`` of every model a scenario's data names: its species and its
    `add_species` events (both are part of a run's id)."""
    named = [(f"species.{i}", entry) for i, entry in enumerate(_list(data.get("species")))]
    named += [(f"events.{i}", entry) for i, entry in enumerate(_list(data.get("events")))
              if isinstance(entry, dict) and entry.get("kind") == "add_species"]
    return [(f"{where}.model", entry["name"], entry["model"]) for where, entry in named
            if isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("model"), str)]


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


class SweepError(NcaWorldError):
    """A sweep cannot start: bad options (workers, scheduler) or an unreachable cluster."""


class ReportDefaults(Strict):
    """The default axes and measure of `nca-world report` for this sweep."""

    compare: str | None = None
    by: str | None = None
    measure: str | None = None


class SweepFile(Strict):
    """A sweep file (see the module docstring)."""

    scenario: Path
    seeds: list[int] = Field(min_length=1)
    steps: int | None = Field(None, ge=0, le=10_000_000)
    keep_recordings: bool = False
    metrics: list[str] = Field(default_factory=lambda: list(METRICS))
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    derived: dict[str, str] = Field(default_factory=dict)
    control: dict[str, str | int | float | list[Any]] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    report: ReportDefaults = Field(default_factory=ReportDefaults)

    @model_validator(mode="after")
    def _checks(self) -> SweepFile:
        for seed in self.seeds:
            if not 0 <= seed < 2**63:
                raise ValueError(f"seeds: expected integers in [0, 2**63), got {seed}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: expected each seed once, got {self.seeds}")
        for axis, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{axis}: expected at least one value, got an empty list")
            for value in values:
                _check_finite(value, f"grid.{axis}")
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"metrics: unknown {unknown}; expected some of {list(METRICS)}")
        names = {axis for axis in self.grid if "." not in axis}
        for table, expressions in (("derived", self.derived), ("control", self.control)):
            for field, expression in expressions.items():
                if not isinstance(expression, str):  # a control may also be a plain value
                    _check_finite(expression, f"{table}.{field}")
                    continue
                for name in _names(expression, f"{table}.{field}"):
                    if name not in names:
                        raise ValueError(f"{table}.{field}: {name!r} is not a grid parameter (have {sorted(names)})")
        for key in ("compare", "by"):
            axis = getattr(self.report, key)
            if axis is not None and axis not in self.grid:
                raise ValueError(f"report.{key}: expected a grid axis ({sorted(self.grid)}), got {axis!r}")
        if self.report.measure is not None and self.report.measure not in self.metrics:
            raise ValueError(f"report.measure: expected one of the metrics ({self.metrics}), "
                             f"got {self.report.measure!r}")
        return self


def _check_finite(value: Any, field: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{field}: expected finite numbers, got {value}")
    if isinstance(value, list):
        for item in value:
            _check_finite(item, field)


def _names(expression: str, field: str) -> set[str]:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise ValueError(f"{field}: not an expression: {expression!r}") from error
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def evaluate(expression: str, parameters: dict[str, Any]) -> Any:
    """A `[derived]` expression: numbers, parameter names, + - * / //, unary minus, lists and
    items of list-valued parameters (``offsets[1]``)."""

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            return parameters[node.id]
        if isinstance(node, ast.List | ast.Tuple):
            return [walk(item) for item in node.elts]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Subscript):  # an item of a list-valued parameter: pair[0]
            sequence, index = walk(node.value), walk(node.slice)
            if not isinstance(sequence, list) or not isinstance(index, int) or not -len(sequence) <= index < len(
                    sequence):
                raise ValueError(f"index {index!r} does not pick an item of {sequence!r}")
            return sequence[index]
        raise ValueError(f"not allowed in a derived field: {ast.dump(node)}")

    return walk(ast.parse(expression, mode="eval"))


class Sweep:
    """A loaded sweep: its file, base scenario path and its runs, every one already validated.

    Loading refuses the sweep (`ScenarioError`, naming the sweep file, the field and the reason)
    if the base scenario is invalid or any run's scenario would be.
    """

    def __init__(self, path: Path) -> None:
        from nca_world.sim.scenario import load_scenario

        self.path = path
        self.file = load(SweepFile, path, ScenarioError)
        self.scenario = self.file.scenario if self.file.scenario.is_absolute() else path.parent / self.file.scenario
        if not self.scenario.is_file():
            raise ScenarioError(f"{path}: scenario: no such file {self.scenario}")
        try:
            load_scenario(self.scenario)
        except ScenarioError as error:
            raise ScenarioError(f"{path}: scenario: the base scenario is invalid: {error}") from error
        self._base, _ = read_toml(self.scenario, ScenarioError)
        self._models: dict[Path, tuple[str, Any]] = {}
        self._paths: dict[Path, Path] = {}
        self._runs, self._controls = self._expand()

    def runs(self) -> list[dict[str, Any]]:
        """Every combination of the grid, times every seed: ``{"id", "seed", "parameters", "fields",
        "control"}`` (``control`` is the id of its control run, or None)."""
        return list(self._runs)

    def controls(self) -> list[dict[str, Any]]:
        """The distinct control runs (runs sharing a control scenario share one control)."""
        return list(self._controls.values())

    def jobs(self) -> list[dict[str, Any]]:
        """Runs and controls: everything to compute."""
        return self.runs() + self.controls()

    def _expand(self) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        axes = list(self.file.grid)
        runs: list[dict[str, Any]] = []
        controls: dict[str, dict[str, Any]] = {}
        configurations = []  # every expression first: a bad one is named before any scenario error
        for values in itertools.product(*(self.file.grid[a] for a in axes)):
            parameters = dict(zip(axes, values, strict=True))
            fields = {a: v for a, v in parameters.items() if "." in a}
            fields.update(self._evaluated("derived", self.file.derived, parameters))
            configurations.append((parameters, fields, {**fields, **self._evaluated("control", self.file.control,
                                                                                    parameters)}))
        for parameters, fields, control_fields in configurations:
            for seed in self.file.seeds:
                control = None
                if self.file.control:
                    job = self._job("control", parameters, seed, control_fields)
                    controls.setdefault(job["id"], job)
                    control = job["id"]
                runs.append({**self._job("run", parameters, seed, fields), "control": control})
        return runs, controls

    def _evaluated(self, table: str, expressions: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for field, expression in expressions.items():
            try:
                value = evaluate(expression, parameters) if isinstance(expression, str) else expression
                _check_finite(value, f"{table}.{field}")
            except (ArithmeticError, TypeError, ValueError) as error:
                reason = "division by zero" if isinstance(error, ZeroDivisionError) else str(error)
                raise ScenarioError(f"{self.path}: {table}.{field}: {reason} (expression {expression!r} "
                                    f"with {_describe(parameters)})") from error
            out[field] = value
        return out

    def _job(self, kind: str, parameters: dict[str, Any], seed: int, fields: dict[str, Any]) -> dict[str, Any]:
        """One run's fields, validated into a scenario, and its id."""
        from nca_world.sim.scenario import load_scenario_text
        from nca_world.sim.scenario_toml import dump_toml, set_field

        fields = {**fields, "world.seed": seed}
        if self.file.steps is not None:
            fields["run.steps"] = self.file.steps
        where = f"{self.path}: run with {_describe({**parameters, 'seed': seed})}" + (" (its control)" if
                                                                                       kind == "control" else "")
        data = copy.deepcopy(self._base)
        try:
            for dotted, value in fields.items():
                try:
                    set_field(data, dotted, value, self.scenario)
                except ScenarioError as error:
                    raise ScenarioError(f"{self._source(dotted, kind)}: {error}") from error
            text = dump_toml(data)
            rules, digests, models = {}, {}, {}
            for field, name, model in _model_entries(data):
                models[name] = self._path_of(Path(model))
                digests[name], rules[name] = self._model(models[name], field)
            load_scenario_text(text, self.scenario, rules)  # validates the file first, then checks it with its rules
        except (ScenarioError, TypeError) as error:
            raise ScenarioError(f"{where}: {error}") from error
        return {"id": sweep_ids.run_id(kind, text, digests, self.file.metrics, parameters), "seed": seed, "kind": kind,
                "parameters": parameters, "fields": fields,
                "models": {name: [str(models[name]), digest] for name, digest in digests.items()}}

    def _path_of(self, model: Path) -> Path:
        """A model file's absolute path (relative to the base scenario, or a library name)."""
        if model not in self._paths:
            self._paths[model] = library.locate(model, self.scenario.parent).resolve()
        return self._paths[model]

    def _model(self, path: Path, field: str) -> tuple[str, Any]:
        """A model file's content hash and rule, read once per sweep."""
        from nca_world.agents.modelfile import load_rule

        if path not in self._models:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                self._models[path] = (digest, load_rule(path))
            except OSError as error:
                raise ScenarioError(f"{field}: cannot read model file {path} ({error.strerror or error})") from error
            except ModelFileError as error:
                raise ScenarioError(f"{field}: {error}") from error
        return self._models[path]

    def _source(self, dotted: str, kind: str) -> str:
        """The entry of the sweep file that sets a scenario field."""
        tables = [("control", self.file.control)] if kind == "control" else []
        for table, entries in (*tables, ("derived", self.file.derived), ("grid", self.file.grid)):
            if dotted in entries:
                return f"{table}.{dotted}"
        return {"world.seed": "seeds", "run.steps": "steps"}.get(dotted, dotted)

    def report_defaults(self) -> dict[str, Any]:
        """The axes and measure `nca-world report` uses unless told otherwise."""
        axes = list(self.file.grid)
        compare = self.file.report.compare or (axes[0] if axes else None)
        others = [a for a in axes if a != compare]
        varied = [a for a in others if len(self.file.grid[a]) > 1]  # an axis of one value breaks nothing down
        by = self.file.report.by or next(iter(varied or others), None)
        measures = [m for m in self.file.metrics if m != "seconds"]
        preferred = [m for m in ("ideal_mse_range", "ideal_mse", "ideal_mse_final") if m in measures]
        measure = self.file.report.measure or (preferred[0] if preferred else measures[0] if measures else None)
        return {"compare": compare, "by": by, "measure": measure}


def _describe(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in parameters.items()) or "no parameters"


def run_one(scenario_path: str, run: dict[str, Any], out_dir: str, keep: bool, metrics: list[str]) -> dict[str, Any]:
    """One run (on a worker): the scenario with the run's fields, then its metrics and per-step
    series. Never raises: a failure becomes a row with the error."""
    import time

    import numba

    from nca_world.sim.analysis import analyze
    from nca_world.sim.recording import open_recording
    from nca_world.sim.runner import run_scenario
    from nca_world.sim.scenario import load_scenario

    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # one single-threaded worker per core
    runs = Path(out_dir) / "runs"
    recording = runs / f"{run['id']}.h5"
    row: dict[str, Any] = {"id": run["id"], "seed": run["seed"], "error": ""}
    if run["kind"] == "run":
        row.update({**run["parameters"], "control": run.get("control")})
    start = time.perf_counter()
    try:
        for name, (model, digest) in run.get("models", {}).items():
            if hashlib.sha256(Path(model).read_bytes()).hexdigest() != digest:
                raise ScenarioError(f"species {name}: model file {model} changed after the sweep was loaded "
                                    "(its id would not match its result); rerun the sweep")
        scenario = load_scenario(Path(scenario_path), fields=run["fields"])
        run_scenario(scenario, out=recording, progress=False, overwrite="any")  # the sweep's own file, by run id
        with open_recording(recording) as opened:
            analysis = analyze(opened)
            series = study_measures.series_of(analysis, opened)
        summary = {**summarise(analysis), **study_measures.run_measures(series)}
        row.update({k: v for k, v in summary.items() if _kept(k, metrics)})
        study_measures.write_run_series(series, runs / f"{run['id']}.series.h5")
        row["seconds"] = round(time.perf_counter() - start, 3) if "seconds" in metrics else None
    except Exception as error:
        row["error"] = f"{type(error).__name__}: {error}"
        row["traceback"] = traceback.format_exc(limit=3)
    finally:
        numba.set_num_threads(threads)
        if not keep:
            recording.unlink(missing_ok=True)
    row = {k: v for k, v in row.items() if v is not None}
    (runs / f"{run['id']}.json").write_text(json.dumps(row, default=_plain))
    return row


def _kept(column: str, metrics: list[str]) -> bool:
    """A summary column is kept if its metric is: ``breakdown_step_first`` belongs to ``breakdown_step``
    (the longest per-organism measure its name starts with)."""
    owners = [m for m in study_measures.PER_ORGANISM if column.startswith(f"{m}_")]
    return column in metrics or (bool(owners) and max(owners, key=len) in metrics)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def summarise(analysis) -> dict[str, Any]:
    """The run-level metrics of one analysed recording at its last frame.

    ``max_displacement`` is the largest straight-line distance any organism's centroid moved
    between its first and last frame alive (the shortest way on a torus); ``displacement_<name>``
    is that distance per organism.
    ``box_shift`` sums the shifts of the global bounding box over the run, and ``exploded`` is
    whether any organism exploded at any frame (`sim.analysis`'s 3x limit); ``collapsed`` is at
    the last frame. The shape errors are over living organisms only (a dead one has none), while
    ``min_iou`` counts a dead organism as 0: see `sim.study_measures` for breakdown classes.
    """
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
    from nca_world.sim.analysis import displacement as analysis_displacement

    displacement = []
    for k, track in table.groupby("organism"):
        if track.track_y.notna().sum() > 1:
            moved = analysis_displacement(track)  # along the continuous track: right across a torus's edges
            displacement.append(moved)
            out[f"displacement_{analysis.names[int(k)]}"] = moved
    out["max_displacement"] = max(displacement, default=0.0)
    return out


def check_options(sweep: Sweep, scheduler: str | None, workers: int | None) -> None:
    """Refuse bad `--workers` and malformed `--scheduler` addresses before anything starts."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepError(f"{sweep.path}: --workers: expected a positive number of local workers, got {workers!r}")
    if scheduler is not None:
        from distributed.comm.addressing import parse_address, parse_host_port

        try:
            protocol, location = parse_address(scheduler)
            if protocol in ("tcp", "tls", "ws", "wss", "ucx"):
                host, port = parse_host_port(location)
                if not host or not 0 < int(port) < 65536:
                    raise ValueError(f"expected a host and a port in 1..65535, got {location!r}")
        except (ValueError, TypeError) as error:
            raise SweepError(f"{sweep.path}: --scheduler: expected an address like tcp://HOST:8786, got "
                             f"{scheduler!r} ({error})") from error


def connect(sweep: Sweep, scheduler: str | None, workers: int | None):
    """A `distributed.Client`: to the scheduler (refused within `CONNECT_TIMEOUT` s if unreachable),
    or to a new `LocalCluster`; returns ``(client, cluster or None)``."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT), None
    except (OSError, TimeoutError) as error:
        raise SweepError(f"{sweep.path}: --scheduler: cannot reach {scheduler} within {CONNECT_TIMEOUT} s "
                         f"({error})") from error


def run_sweep(sweep: Sweep, out_dir: Path, *, scheduler: str | None = None, workers: int | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Every run (and control) not finished yet, on Dask; returns (and writes) the results table."""
    from distributed import as_completed
    from tqdm import tqdm

    check_options(sweep, scheduler, workers)
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    jobs = sweep.jobs()
    todo = [r for r in jobs if not (out_dir / "runs" / f"{r['id']}.json").exists()]
    arguments = (str(sweep.scenario.resolve()), str(out_dir.resolve()), sweep.file.keep_recordings,
                 sweep.file.metrics)
    if todo:
        client, cluster = connect(sweep, scheduler, workers)
        try:
            futures = [client.submit(run_one, arguments[0], job, *arguments[1:], key=f"run-{job['id']}", pure=False)
                       for job in todo]
            with tqdm(total=len(jobs), initial=len(jobs) - len(todo), disable=not progress, unit="run") as bar:
                for _ in as_completed(futures):
                    bar.update(1)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return collect(sweep, out_dir)


def collect(sweep: Sweep, out_dir: Path) -> pd.DataFrame:
    """The results table of the finished runs, in grid order, written to ``results.csv``; also
    ``controls.csv``, ``series.h5`` and ``sweep.json``. With controls, each run's relative
    measures (``<measure>_vs_control``: run minus its control) are added."""
    table = _rows(sweep.runs(), out_dir)
    for column, values in sweep.file.grid.items():
        if column in table and any(isinstance(v, str) for v in values):
            table[column] = table[column].map(lambda v: sweep.file.labels.get(v, v))
    if sweep.file.control:
        controls = _rows(sweep.controls(), out_dir)
        table = study_measures.relative_to_controls(table, controls)
        controls.to_csv(out_dir / "controls.csv", index=False)
    table.to_csv(out_dir / "results.csv", index=False)
    study_measures.merge_series(out_dir / "runs", [job["id"] for job in sweep.jobs()], out_dir / "series.h5")
    (out_dir / "sweep.json").write_text(json.dumps({
        "sweep": str(sweep.path), "grid": sweep.file.grid, "seeds": sweep.file.seeds, "labels": sweep.file.labels,
        "metrics": sweep.file.metrics, "controls": bool(sweep.file.control), "report": sweep.report_defaults(),
        "software": sweep_ids.software_version(), "measures_version": sweep_ids.MEASURES_VERSION,
        "code": sweep_ids.code_version()},
        default=str))
    return table


def _rows(jobs: list[dict[str, Any]], out_dir: Path) -> pd.DataFrame:
    rows = []
    for job in jobs:
        path = out_dir / "runs" / f"{job['id']}.json"
        if path.exists():
            rows.append(json.loads(path.read_text()))
    return pd.DataFrame(rows)


def run_in_process(sweep: Sweep, out_dir: Path) -> pd.DataFrame:
    """The same runs one by one in this process (no Dask): the reference for the sweep tests."""
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    for job in sweep.jobs():
        run_one(str(sweep.scenario.resolve()), job, str(out_dir.resolve()), sweep.file.keep_recordings,
                sweep.file.metrics)
    return collect(sweep, out_dir)

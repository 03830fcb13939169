"""A loaded sweep (`Sweep`): the grid of its sweep file (`sim.sweep_file`) expanded into runs and
their controls, each with its seed, its scenario fields and its id (`sim.sweep_ids`).

Every run's scenario is built and validated before anything is submitted: a bad field, value or
expression refuses the whole sweep with the sweep file, the field and the reason. `sim.sweep_run`
runs the sweep.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from pathlib import Path
from typing import Any

from nca_world.agents import library
from nca_world.agents.config import load, read_toml
from nca_world.agents.errors import ModelFileError, ScenarioError
from nca_world.sim import sweep_ids
from nca_world.sim.sweep_file import SweepFile, check_finite, evaluate


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
                check_finite(value, f"{table}.{field}")
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

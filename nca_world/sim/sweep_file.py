"""The sweep file: its model (`SweepFile`, every key checked before anything runs; the metrics a
run can keep, `METRICS`) and the expressions of its ``[derived]`` and ``[control]`` tables
(`evaluate`).

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
"""

from __future__ import annotations

import ast
import math
import operator
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from nca_world.agents.config import Strict
from nca_world.sim import study_measures

METRICS = ("ideal_mse", "mean_shape_error", "max_shape_error", "min_iou", "alive_organisms", "total_cells",
           "max_displacement", "box_shift", "collapsed", "exploded", "contact_length", "seconds",
           *study_measures.MEASURES)
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.FloorDiv: operator.floordiv, ast.USub: operator.neg}


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
                check_finite(value, f"grid.{axis}")
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"metrics: unknown {unknown}; expected some of {list(METRICS)}")
        names = {axis for axis in self.grid if "." not in axis}
        for table, expressions in (("derived", self.derived), ("control", self.control)):
            for field, expression in expressions.items():
                if not isinstance(expression, str):  # a control may also be a plain value
                    check_finite(expression, f"{table}.{field}")
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


def check_finite(value: Any, field: str) -> None:
    """Refuse a non-finite number (``inf``, ``nan``), alone or in nested lists, naming `field`."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{field}: expected finite numbers, got {value}")
    if isinstance(value, list):
        for item in value:
            check_finite(item, field)


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

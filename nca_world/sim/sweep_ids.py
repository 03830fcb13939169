"""Sweep run ids: what a run's id hashes (`run_id`), including the fingerprint of the code that
computes results (`code_version`).

A run's id hashes everything that determines its result: the resolved scenario text (seed and
steps included), the content of its model files, the metrics and the version of their
definitions (`MEASURES_VERSION`), the nca-world version and a fingerprint of the code that
computes results (`code_version`: comments and docstrings do not count). A changed setting gives
new ids, so nothing stale is reused.

This module computes no result and is not one of the `RESULT_MODULES`: what it hashes changes the
ids by itself.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

MEASURES_VERSION = 4  # raise when the definition of a metric changes: every run is then recomputed
# the modules that compute a run's result: their code (not comments or docstrings) is part of every run id
# (tests/test_sweep.py checks that every nca_world module they import is listed, or in NOT_RESULTS)
RESULT_MODULES = tuple(f"nca_world.{name}" for name in (
    "agents.spec", "agents.firing", "agents.modelfile", "sim.simd", "sim.core", "sim.world", "sim.events",
    "sim.meeting", "sim.fission", "sim.part_count", "sim.lineage", "sim.added_models", "sim.render", "agents.config",
    "sim.scenario", "sim.scenario_sections", "sim.scenario_events", "sim.scenario_file", "sim.scenario_toml",
    "sim.runner", "sim.frames", "sim.chunks", "sim.metrics", "sim.recorder", "sim.recorder_settings",
    "sim.recorder_output", "sim.recorder_layout", "sim.recorder_datasets", "sim.recorder_frames",
    "sim.recorder_keyframes", "sim.recording", "sim.alignment", "sim.analysis", "sim.study_measures",
    "sim.sweep_file", "sim.sweep", "sim.sweep_run", "sim.sweep_summary"))

# what the result modules import that cannot change a result: error types, finding a model file by
# name (its content is hashed by itself), the thread count (results never depend on it), this module
NOT_RESULTS = tuple(f"nca_world.{name}" for name in ("agents.errors", "agents.library", "sim.threads", "sim.sweep_ids"))


@functools.cache
def software_version() -> str:
    """The installed nca-world version (part of every run id)."""
    try:
        return version("nca-world")
    except PackageNotFoundError:
        return "unknown"


def code_fingerprint(source: str) -> str:
    """A hash of Python source that ignores comments, docstrings and layout (its syntax tree)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def modules_fingerprint(modules: tuple[str, ...]) -> str:
    """The fingerprint of the code of `modules` as installed (``-`` for one that is not a file)."""
    from importlib.util import find_spec

    parts = []
    for name in modules:
        spec = find_spec(name)
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        parts.append(f"{name}:{code_fingerprint(origin.read_text()) if origin and origin.is_file() else '-'}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@functools.cache
def code_version() -> str:
    """The fingerprint of every module in `RESULT_MODULES` (part of every run id): a change of the
    code that computes results recomputes every run, an edited comment does not."""
    return modules_fingerprint(RESULT_MODULES)


def run_id(kind: str, text: str, digests: dict[str, str], metrics: list[str], parameters: dict[str, Any]) -> str:
    """The id of a run (`kind` ``"run"``) or of a control (``"control"``, whose parameters do not
    count): its scenario `text`, its models' content `digests` by species, its `metrics`, and this
    software's `MEASURES_VERSION`, version and `code_version`."""
    key = json.dumps({"kind": kind, "scenario": text, "models": digests, "metrics": sorted(metrics),
                      "measures": MEASURES_VERSION, "software": software_version(), "code": code_version(),
                      "parameters": parameters if kind == "run" else None}, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]

"""The model file: one trained rule as HDF5 (plain arrays + JSON attributes, never pickle).

Layout (format ``nca-world-model``, version 1)::

    /            attrs: format, format_version, spec (JSON of `RuleSpec` + perception),
                        provenance (JSON: variant, iterations, seed, loss curve, versions ...)
    /w1 (3C, H)  /b1 (H,)  /w2 (H, C)  /b2 (C,)   float32
    /target      float32 RGBA (h, w, 4), or (n, h, w, 4) for a conditional rule (one per class);
                 optional: what the rule was trained to grow
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nca_world.agents.errors import ModelFileError
from nca_world.agents.spec import PERCEPTION, Rule, RuleSpec, weight_shapes

FORMAT = "nca-world-model"
VERSION = 1
SPEC_FIELDS = tuple(field for field in RuleSpec.__dataclass_fields__)


def save_rule(rule: Rule, path: str | Path) -> Path:
    """Write `rule` to `path` (overwriting it) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        write_rule(f, rule)
    return path


def write_rule(group: h5py.Group, rule: Rule) -> None:
    """Write `rule` into an open HDF5 group (a model file's root, or a recording's copy)."""
    group.attrs["format"] = FORMAT
    group.attrs["format_version"] = VERSION
    group.attrs["spec"] = json.dumps({**rule.spec.to_json_dict(), "perception": PERCEPTION})
    group.attrs["provenance"] = json.dumps(rule.provenance)
    for name, array in rule.weights().items():
        group.create_dataset(name, data=array)
    if rule.target is not None:
        group.create_dataset("target", data=np.asarray(rule.target, np.float32), compression="gzip")


def load_rule(path: str | Path) -> Rule:
    """Read and check a model file; every problem raises `ModelFileError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with h5py.File(path, "r") as f:
            return read_rule(f, path)
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise ModelFileError(f"{path}: not a readable nca-world model file ({error})") from error


def read_rule(f: h5py.Group, path: Path | str) -> Rule:
    """Read and check a rule from an open HDF5 group; `path` names it in error messages."""
    form = _text_attr(f, "format", path)
    if form != FORMAT:
        raise ModelFileError(f"{path}: format: expected {FORMAT!r}, got {form!r}")
    version = f.attrs.get("format_version")
    if not isinstance(version, int | np.integer):
        raise ModelFileError(f"{path}: format_version: expected an integer, got {version!r}")
    if version > VERSION:
        raise ModelFileError(f"{path}: format_version {version} is newer than this nca-world "
                             f"reads ({VERSION}); upgrade nca-world")
    spec = _spec(_json_attr(f, "spec", path), path)
    weights = {}
    for name, shape in weight_shapes(spec).items():
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise ModelFileError(f"{path}: {name}: missing dataset")
        weights[name] = f[name][()]
        if weights[name].shape != shape:
            raise ModelFileError(f"{path}: {name}: expected shape {shape}, got {weights[name].shape}")
        weights[name] = np.asarray(weights[name], dtype=np.float32)
        if not np.isfinite(weights[name]).all():
            raise ModelFileError(f"{path}: {name}: contains NaN or infinite values")
    target = None
    if "target" in f:
        target = np.asarray(f["target"][()], np.float32)
        if target.ndim not in (3, 4) or target.shape[-1] != 4:
            raise ModelFileError(f"{path}: target: expected RGBA (h, w, 4) or one per class "
                                 f"(n, h, w, 4), got {target.shape}")
    provenance = _json_attr(f, "provenance", path) if "provenance" in f.attrs else {}
    return Rule(spec, target=target, provenance=provenance, **weights)


def _text_attr(f: h5py.File, name: str, path: Path) -> str:
    value = f.attrs.get(name)
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        raise ModelFileError(f"{path}: {name}: missing attribute (is this an nca-world model file?)")
    return value


def _json_attr(f: h5py.File, name: str, path: Path) -> Any:
    text = _text_attr(f, name, path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: {name}: expected JSON, got {text[:60]!r}") from error


def _spec(fields: Any, path: Path) -> RuleSpec:
    if not isinstance(fields, dict):
        raise ModelFileError(f"{path}: spec: expected a JSON object, got {type(fields).__name__}")
    perception = fields.get("perception", PERCEPTION)
    if perception != PERCEPTION:
        raise ModelFileError(f"{path}: spec.perception: expected {PERCEPTION!r}, got {perception!r}")
    missing = [name for name in SPEC_FIELDS if name not in fields]
    if missing:
        raise ModelFileError(f"{path}: spec: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(fields) - set(SPEC_FIELDS) - {"perception"})
    if unknown:
        raise ModelFileError(f"{path}: spec: unknown field(s) {', '.join(unknown)}")
    try:
        return RuleSpec(**{name: fields[name] for name in SPEC_FIELDS})
    except ValueError as error:
        raise ModelFileError(f"{path}: spec: {error}") from error

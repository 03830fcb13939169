"""Parsed scenario TOML edited and written back: ``--set`` overrides (`apply_override`), fields
set by dotted path (`set_field`, for sweeps too) and the data as TOML text again (`dump_toml`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from nca_world.agents.errors import ScenarioError


def dump_toml(data: dict) -> str:
    """A parsed scenario written back as TOML (tables, arrays of tables, scalars and arrays)."""
    lines: list[str] = []

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} as TOML")

    def table(header: str, body: dict) -> None:
        lines.append(header)
        lines.extend(f"{key} = {value(v)}" for key, v in body.items())
        lines.append("")

    for key, v in data.items():
        if isinstance(v, dict):
            table(f"[{key}]", v)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                table(f"[[{key}]]", item)
        else:
            lines.insert(0, f"{key} = {value(v)}")
    return "\n".join(lines)


def apply_override(data: dict, override: str, path: Path) -> None:
    """Set ``a.b.0.c=value`` (the value in TOML syntax, or a bare word) in the parsed TOML `data`."""
    if "=" not in override:
        raise ScenarioError(f"{path}: --set {override!r}: expected field.path=value")
    dotted, raw = override.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string
    set_field(data, dotted.strip(), value, path)


def set_field(data: dict, dotted: str, value: object, path: Path) -> None:
    """Set the field at the dotted path (lists indexed by number) in the parsed TOML `data`."""
    keys = dotted.split(".")
    node: object = data
    try:
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})  # type: ignore[union-attr]
        if isinstance(node, list):
            node[int(keys[-1])] = value
        elif isinstance(node, dict):
            node[keys[-1]] = value
        else:
            raise TypeError(dotted)
    except (ValueError, IndexError, TypeError, AttributeError) as error:
        raise ScenarioError(f"{path}: {dotted}: does not name a field of the scenario") from error

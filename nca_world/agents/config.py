"""Loading TOML files into validated, frozen pydantic models, with readable errors.

Every problem reads ``<file>:<line>: <field.path>: <what was expected>, got <value>``; an
unknown key also says which known key it most resembles.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from nca_world.agents.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    """Base of every config model: frozen, unknown keys and non-finite numbers are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def read_toml(path: Path, error: type[ConfigError] = ConfigError) -> tuple[dict[str, Any], str]:
    """The parsed table and the text of a TOML file; a missing or unparsable file raises `error`."""
    try:
        raw = path.read_bytes()
    except OSError as cause:
        raise error(f"{path}: cannot read the file ({cause.strerror or cause})") from cause
    if len(raw) > MAX_FILE_BYTES:
        raise error(f"{path}: expected a TOML file of at most {MAX_FILE_BYTES // 2**20} MiB, got {len(raw)} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as cause:
        hint = " (it looks like UTF-16: save it as UTF-8)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise error(f"{path}: expected UTF-8 text, got undecodable bytes at offset {cause.start}{hint}") from cause
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as cause:
        raise error(f"{path}: not valid TOML: {cause}") from cause
    except RecursionError as cause:
        raise error(f"{path}: not valid TOML: nested too deeply") from cause
    depth = _depth(data)
    if depth > MAX_DEPTH:
        raise error(f"{path}: expected tables and arrays nested at most {MAX_DEPTH} deep, got {depth}")
    return data, text


MAX_FILE_BYTES = 16 * 2**20
MAX_DEPTH = 8


def _depth(value: Any) -> int:
    """How deeply tables and arrays nest in a parsed TOML value (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


FROM_FILE = {"from_file": True}  # validation context of everything read from a file


def validate(model: type[Model], data: dict[str, Any], path: Path, text: str,
             error: type[ConfigError] = ConfigError) -> Model:
    """`data` (read from the file `path`) as a `model`, or `error` listing every problem, one per line."""
    try:
        return model.model_validate(data, context=FROM_FILE)
    except ValidationError as cause:
        lines = [describe(item, model, path, text) for item in cause.errors()]
        raise error("\n".join(lines)) from cause


def load(model: type[Model], path: Path, error: type[ConfigError] = ConfigError) -> Model:
    """Read and validate a TOML file in one go."""
    data, text = read_toml(path, error)
    return validate(model, data, path, text, error)


def describe(item: dict[str, Any], model: type[BaseModel], path: Path, text: str) -> str:
    """One pydantic error as ``file:line: field: message``."""
    location = [part for part in item["loc"] if not str(part).startswith("function-")]
    if item["type"] == "union_tag_invalid":  # point at the discriminating key itself
        location.append(item["ctx"]["discriminator"].strip("'"))
    field = ".".join(str(part) for part in location) or "(file)"
    line = _line_of(text, location, missing=item["type"] == "missing")
    where = f"{path}:{line}" if line else f"{path}"
    if item["type"] == "extra_forbidden":
        known = _known_keys(model, location[:-1])
        guess = difflib.get_close_matches(str(location[-1]), known, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else f" (known keys: {', '.join(sorted(known))})"
        return f"{where}: {field}: unknown key{hint}"
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "missing":
        return f"{where}: {field}: missing (required)"
    if item["type"] == "union_tag_invalid":
        tags = re.findall(r"'([^']+)'", item["ctx"]["expected_tags"])
        guess = difflib.get_close_matches(str(item["ctx"]["tag"]), tags, n=1)
        hint = f"did you mean {guess[0]!r}?" if guess else f"expected one of {', '.join(tags)}"
        return f"{where}: {field}: unknown value {item['ctx']['tag']!r} ({hint})"
    if isinstance(item.get("input"), dict):  # a whole table: its fields were named above, never dump it
        return f"{where}: {field}: {message}"
    return f"{where}: {field}: {message}, got {_short(item.get('input'))}"


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _known_keys(model: type[BaseModel], location: list[Any]) -> list[str]:
    current: Any = model
    for part in location:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(str(part))
        current = _model_of(field.annotation) if field else None
    return list(current.model_fields) if current else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_of(argument)
        if found:
            return found
    return None


def _line_of(text: str, location: list[Any], missing: bool = False) -> int | None:
    """Best-effort line of a field: its key within its (possibly repeated) table, or, for a
    missing field, the header of the table that lacks it."""
    lines = text.splitlines()
    start, end, tables = 0, len(lines), []
    whole_entry = bool(location) and isinstance(location[-1], int)  # a check of a whole [[table]] entry
    container = list(location if whole_entry else location[:-1])
    for i, part in enumerate(container):
        if isinstance(part, int):
            continue
        index = container[i + 1] if i + 1 < len(container) and isinstance(container[i + 1], int) else 0
        header = re.compile(rf"\s*\[\[?\s*{re.escape('.'.join([*tables, str(part)]))}\s*\]\]?\s*(#.*)?$")
        found = [n for n in range(start, end) if header.match(lines[n])]
        if len(found) <= index:
            if i > 0 and isinstance(container[i - 1], int):
                continue  # an event's kind after its index (events.0.cut_circle): a tag, not a table
            return None
        tables.append(str(part))
        start = found[index]
        following = [n for n in range(start + 1, len(lines)) if re.match(r"\s*\[", lines[n])]
        end = following[0] if following else len(lines)
    header_line = start + 1 if tables else None
    if missing or whole_entry or not location:
        return header_line
    key = re.compile(rf"\s*{re.escape(str(location[-1]))}\s*=")
    # a key that is not written (a tag, or a check of the whole table): the table's header line
    return next((n + 1 for n in range(start, end) if key.match(lines[n])), header_line)

"""The Growing NCA article's demo model files (8-bit JSON), read and written.

A file is a JSON list of two layers, perception-to-hidden then hidden-to-update; each layer is
``{"in_ch", "out_ch", "type": "uint8", "weight_scale", "bias_scale", "data_b64"}`` where the
base64 data holds ``(in_ch + 1) * out_ch`` bytes, row-major ``(in_ch + 1, out_ch)``. A byte ``b``
decodes to ``(b / 255 - 0.5) * scale``: the first ``in_ch`` rows (weight scale) are ``W[in, out]``,
the last row (bias scale) the bias. The orientation, the perception order (channels, Sobel-x / 8,
Sobel-y / 8 in blocks), the alive rule and the fire rate 0.5 are nca-world's own
(`../shared/FORMATS.md`), so a file maps onto a `Rule` without reordering.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nca_world.agents.errors import ModelFileError
from nca_world.agents.spec import Rule, RuleSpec

FORMAT_NAME = "growing-nca-demo-json"
LAYER_KEYS = ("in_ch", "out_ch", "type", "weight_scale", "bias_scale", "data_b64")
MAX_CHANNELS = 4096


@dataclass(frozen=True)
class Quantisation:
    """How far an exported model's decoded weights are from the original ones."""

    max_error: float
    rms_error: float


def decode_layer(layer: Any, index: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One layer object as ``(W (in, out), b (out,))`` float32; problems raise `ModelFileError`."""
    where = f"{path}: layer {index}"
    if not isinstance(layer, dict):
        raise ModelFileError(f"{where}: expected a JSON object, got {type(layer).__name__}")
    missing = [key for key in LAYER_KEYS if key not in layer]
    if missing:
        raise ModelFileError(f"{where}: missing key(s) {', '.join(missing)}")
    if layer["type"] != "uint8":
        raise ModelFileError(f"{where}: type: expected 'uint8', got {str(layer['type'])[:40]!r}")
    n_in, n_out = layer["in_ch"], layer["out_ch"]
    for key, value in (("in_ch", n_in), ("out_ch", n_out)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CHANNELS:
            raise ModelFileError(f"{where}: {key}: expected an integer in 1..{MAX_CHANNELS}, got {value!r}")
    scales = {}
    for key in ("weight_scale", "bias_scale"):
        value = layer[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ModelFileError(f"{where}: {key}: expected a positive finite number, got {value!r}")
        scales[key] = float(value)
    if not isinstance(layer["data_b64"], str):
        raise ModelFileError(f"{where}: data_b64: expected a base64 string")
    try:
        raw = base64.b64decode(layer["data_b64"], validate=True)
    except (binascii.Error, ValueError) as error:
        raise ModelFileError(f"{where}: data_b64: not valid base64 ({error})") from error
    if len(raw) != (n_in + 1) * n_out:
        raise ModelFileError(f"{where}: data_b64: expected (in_ch + 1) * out_ch = {(n_in + 1) * n_out} bytes, "
                             f"got {len(raw)}")
    table = np.frombuffer(raw, np.uint8).reshape(n_in + 1, n_out).astype(np.float32) / np.float32(255) - np.float32(0.5)
    return table[:-1] * np.float32(scales["weight_scale"]), table[-1] * np.float32(scales["bias_scale"])


def read_demo_model(path: Path, licence: str = "unknown") -> Rule:
    """A demo-format file as a 16-channel (or `out_ch`-channel) `Rule` with a provenance card."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ModelFileError(f"{path}: cannot read the file ({error.strerror or error})") from error
    try:
        layers = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelFileError(f"{path}: not a JSON file ({error})") from error
    if not isinstance(layers, list):
        raise ModelFileError(f"{path}: expected a JSON list of 2 layers, got {type(layers).__name__}")
    if len(layers) != 2:
        raise ModelFileError(f"{path}: expected 2 layers (perception to hidden, hidden to update), got {len(layers)}")
    w1, b1 = decode_layer(layers[0], 0, path)
    w2, b2 = decode_layer(layers[1], 1, path)
    channels, hidden = w2.shape[1], w1.shape[1]
    if w1.shape[0] != 3 * channels:
        raise ModelFileError(f"{path}: layer 0: in_ch: expected 3 x the update's {channels} channels "
                             f"({3 * channels}), got {w1.shape[0]}")
    if w2.shape[0] != hidden:
        raise ModelFileError(f"{path}: layer 1: in_ch: expected layer 0's out_ch ({hidden}), got {w2.shape[0]}")
    if channels < 4:
        raise ModelFileError(f"{path}: layer 1: out_ch: expected at least 4 channels (RGBA), got {channels}")
    card = {
        "source": path.name, "sha256": hashlib.sha256(raw).hexdigest(), "licence": licence,
        "imported": datetime.now(UTC).strftime("%Y-%m-%d"), "format": FORMAT_NAME,
    }
    return Rule(RuleSpec(channels=channels, hidden=hidden), w1, b1, w2, b2, provenance={"imported": card})


def encode_layer(weight: np.ndarray, bias: np.ndarray) -> dict[str, Any]:
    """``W (in, out)`` and ``b (out,)`` as a demo layer: scales from the largest magnitudes, nearest bytes."""
    n_in, n_out = weight.shape
    weight_scale = max(float(np.abs(weight).max()) * 2.0, 1e-8)  # decoded range is [-0.5, 0.5] x scale
    bias_scale = max(float(np.abs(bias).max()) * 2.0, 1e-8)
    table = np.vstack([weight / weight_scale, bias[None] / bias_scale]) + 0.5
    data = np.clip(np.rint(table * 255.0), 0, 255).astype(np.uint8)
    return {"in_ch": int(n_in), "out_ch": int(n_out), "type": "uint8", "weight_scale": weight_scale,
            "bias_scale": bias_scale, "data_b64": base64.b64encode(data.tobytes()).decode("ascii")}


def demo_json(rule: Rule) -> tuple[str, Quantisation]:
    """`rule` in the demo format, with the quantisation error of its decoded weights.

    Only rules the format can hold are written: no identity channels and the article's fire
    rate, alive threshold and zero boundary (the format stores weights only).
    """
    spec = rule.spec
    problems = []
    if spec.identity_channels:
        problems.append(f"identity_channels: expected 0 (the format has none), got {spec.identity_channels}")
    if spec.fire_rate != 0.5 or spec.alive_threshold != 0.1 or spec.boundary != "zero":
        problems.append("fire_rate 0.5, alive_threshold 0.1 and a zero boundary: the only rule the format holds")
    if problems:
        raise ModelFileError("; ".join(problems))
    layers = [encode_layer(rule.w1, rule.b1), encode_layer(rule.w2, rule.b2)]
    decoded = [decode_layer(layer, i, Path("(export)")) for i, layer in enumerate(layers)]
    errors = np.concatenate([(d - o).ravel() for (dw, db), (ow, ob) in zip(decoded, [(rule.w1, rule.b1),
                                                                                      (rule.w2, rule.b2)], strict=True)
                             for d, o in ((dw, ow), (db, ob))])
    return json.dumps(layers), Quantisation(float(np.abs(errors).max()), float(np.sqrt(np.mean(errors**2))))

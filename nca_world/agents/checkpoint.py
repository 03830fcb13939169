"""Training checkpoints as HDF5: weights, Adam state, sample pool and RNG states; no pickle.

Written to a temporary file and renamed, so an interrupted write never leaves a broken file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nca_world.agents.errors import ConfigError

FORMAT = "nca-world-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """Everything needed to continue training exactly where it stopped."""

    iteration: int
    config_json: str
    weights: dict[str, np.ndarray]
    adam: dict[str, dict[str, np.ndarray]]  # per parameter: exp_avg, exp_avg_sq, step
    pool: dict[str, np.ndarray]  # states, identity, classes; empty in a slim checkpoint (pool regrown)
    numpy_rng: dict[str, Any]
    torch_rng: np.ndarray
    losses: list[float]
    seconds: float


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> Path:
    """Write `checkpoint` atomically to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with h5py.File(partial, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = VERSION
        f.attrs["iteration"] = checkpoint.iteration
        f.attrs["config"] = checkpoint.config_json
        f.attrs["numpy_rng"] = json.dumps(checkpoint.numpy_rng)
        f.attrs["losses"] = json.dumps(checkpoint.losses)
        f.attrs["seconds"] = checkpoint.seconds
        for name, array in checkpoint.weights.items():
            f[f"weights/{name}"] = array
        for name, moments in checkpoint.adam.items():
            for key, array in moments.items():
                f[f"adam/{name}/{key}"] = array
        for name, array in checkpoint.pool.items():
            f.create_dataset(f"pool/{name}", data=array, compression="lzf")
        f["torch_rng"] = checkpoint.torch_rng
    os.replace(partial, path)
    return path


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint; a missing, foreign or damaged file raises `ConfigError` with the reason."""
    if not path.is_file():
        raise ConfigError(f"{path}: no checkpoint to resume from")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT or f.attrs.get("format_version", VERSION + 1) > VERSION:
                raise ConfigError(f"{path}: not an nca-world checkpoint of version <= {VERSION}")
            return Checkpoint(
                iteration=int(f.attrs["iteration"]),
                config_json=str(f.attrs["config"]),
                weights={name: f[f"weights/{name}"][()] for name in f["weights"]},
                adam={name: {key: f[f"adam/{name}/{key}"][()] for key in f[f"adam/{name}"]} for name in f["adam"]},
                pool={name: f[f"pool/{name}"][()] for name in f.get("pool", {})},
                numpy_rng=json.loads(f.attrs["numpy_rng"]),
                torch_rng=f["torch_rng"][()],
                losses=json.loads(f.attrs["losses"]),
                seconds=float(f.attrs["seconds"]),
            )
    except ConfigError:
        raise
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(f"{path}: unreadable checkpoint ({error})") from error

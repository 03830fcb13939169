"""Reading recordings: `open_recording` checks a file's layout and gives lazy access to it.

The layout is the recorder's (`sim.recorder`, which documents it). A reader refuses truncated,
foreign, older and newer files with the reason, checks every dataset's dtype and shape against
the root attributes (`_check_layout`), and still opens a file cut short by a failed write
(`_salvage`), so that everything flushed before the failure stays readable.
"""

from __future__ import annotations

import ctypes
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # noqa: F401 (registers the LZ4 filter with HDF5: readers need it too)
import numpy as np

from nca_world.agents.errors import RecordingError
from nca_world.agents.modelfile import read_rule
from nca_world.agents.spec import Rule
from nca_world.sim import added_models
from nca_world.sim.metrics import COLUMNS
from nca_world.sim.world import Organism

FORMAT = "nca-world-recording"
VERSION = 2  # 2: channel-planar frames and keyframes
DATASETS = ("frames", "owner", "step", "events", "metrics", "keyframes/state", "keyframes/owner", "keyframes/step",
            "keyframes/events_before", "keyframes/organisms")
EVENT_BYTES = 1024
OWNER_DTYPE = np.uint16  # organism numbers in frames (keyframes keep int32)
STORES = {"uint8": np.uint8, "float16": np.float16}  # the `dtype` attribute: how frames are stored


@dataclass(frozen=True)
class Keyframe:
    """A full-precision snapshot: the world at `step` after that step's first `events_before` events."""

    step: int
    state: np.ndarray
    owner: np.ndarray
    organisms: list[Organism]
    events_before: int
    walls: np.ndarray | None = None  # bool (H, W); None: no walls recorded (the scenario's stand)


class Recording:
    """A recording opened for reading (see `open_recording`); frames are read lazily."""

    def __init__(self, path: Path, file: h5py.File) -> None:
        self.path, self.file = path, file
        attrs = file.attrs
        self.seed = int(attrs["seed"])
        self.scenario_text = str(attrs["scenario"])
        self.channels: list[int] = json.loads(attrs["channels"])
        self.dtype = str(attrs["dtype"])
        self.height, self.width = int(attrs["height"]), int(attrs["width"])

    @property
    def complete(self) -> bool:
        """Whether the run ended normally."""
        return bool(self.file.attrs["complete"])

    def refresh(self) -> None:
        """See what a writer appended since (SWMR): /step before the frames it counts (the writer
        extends them in the other order), so every counted frame is there."""
        for name in ("step", "keyframes/step", "frames", "owner", "events", "metrics"):
            self.file[name].refresh()

    def __len__(self) -> int:
        return int(self.file["step"].shape[0])

    @property
    def steps(self) -> np.ndarray:
        """Step of each complete frame."""
        return self.file["step"][: len(self)]

    def stored_frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` as stored (uint8 or float16), viewed as ``(n, H, W, len(channels))``."""
        return self.file["frames"][start:stop].transpose(0, 2, 3, 1)

    def frame(self, index: int, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Frame `index` as float32 ``(H, W, len(channels))`` in [0, 1] units; with `region`
        ``(y0, y1, x0, x1)`` only rows ``y0:y1`` and columns ``x0:x1`` (in a big world's
        recording, only the tiles they touch are read: `sim.recorder_layout.frame_tile`)."""
        if not 0 <= index < len(self):
            raise RecordingError(f"{self.path}: frame {index} out of range 0..{len(self) - 1}")
        y0, y1, x0, x1 = self._region(region)
        raw = self.file["frames"][index, :, y0:y1, x0:x1].transpose(1, 2, 0)
        return raw.astype(np.float32) / 255.0 if self.dtype == "uint8" else raw.astype(np.float32)

    def owner(self, index: int, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Owner map of frame `index`, or its `region` ``(y0, y1, x0, x1)`` (as `frame`)."""
        y0, y1, x0, x1 = self._region(region)
        return self.file["owner"][index, y0:y1, x0:x1]

    def _region(self, region: tuple[int, int, int, int] | None) -> tuple[int, int, int, int]:
        """`region` checked against the grid; None: the whole grid."""
        if region is None:
            return 0, self.height, 0, self.width
        y0, y1, x0, x1 = (int(v) for v in region)
        if not (0 <= y0 < y1 <= self.height and 0 <= x0 < x1 <= self.width):
            raise RecordingError(f"{self.path}: region: expected (y0, y1, x0, x1) with 0 <= y0 < y1 <= "
                                 f"{self.height} and 0 <= x0 < x1 <= {self.width}, got {tuple(region)}")
        return y0, y1, x0, x1

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every applied event, in order."""
        return [json.loads(raw.rstrip(b"\0")) for raw in self.file["events"][()]]

    @property
    def metrics(self) -> np.ndarray:
        """All metric rows, columns as in `sim.metrics.COLUMNS`."""
        return self.file["metrics"][()]

    def metrics_frame(self):
        """The metrics as a pandas DataFrame with organism names."""
        import pandas as pd

        table = pd.DataFrame(self.metrics, columns=COLUMNS).astype({"step": int, "organism": int, "alive": int})
        names = {o["index"]: o["name"] for o in self.organisms_at_end()}
        table.insert(2, "name", table["organism"].map(names))
        return table

    def organisms_at_end(self) -> list[dict[str, Any]]:
        """The organism table of the last keyframe plus organisms spawned, converted or split off
        (with their ``parent``) after it."""
        keyed = json.loads(self.file["keyframes/organisms"][-1]) if len(self.keyframe_steps) else []
        known = {o["name"] for o in keyed}
        spawned = []
        for r in self.events:
            if r["event"]["kind"] in ("spawn", "convert") and r["event"]["name"] not in known:
                spawned.append({"index": r["effect"]["index"], "name": r["event"]["name"],
                                "species": r["event"]["species"]})
            elif r["event"]["kind"] == "split":  # fission: children of the parent's species, linked to it
                species = next(o["species"] for o in keyed + spawned if o["name"] == r["event"]["organism"])
                parent = r["effect"]["parent"]
                spawned += [{"index": c["index"], "name": c["name"], "species": species, "parent": parent}
                            for c in r["effect"]["children"] if c["name"] not in known]
        return keyed + spawned

    @property
    def models(self) -> dict[str, Rule]:
        """The embedded rules of every species: those of the world when the file was created, then
        those of species added during the run (`sim.added_models`)."""
        known = {name: read_rule(group, f"{self.path}:/models/{name}") for name, group in self.file["models"].items()}
        return {**known, **added_models.read(self.file, self.path)}

    @property
    def keyframe_steps(self) -> np.ndarray:
        """Steps that have a keyframe."""
        return self.file["keyframes/step"][()]

    def keyframe(self, index: int) -> Keyframe:
        """Keyframe `index`."""
        organisms = [Organism(**{**o, "identity": tuple(o["identity"]), "seed_cell": tuple(o["seed_cell"])})
                     for o in json.loads(self.file["keyframes/organisms"][index])]
        before = int(self.file["keyframes/events_before"][index])
        return Keyframe(int(self.file["keyframes/step"][index]), self.file["keyframes/state"][index].transpose(1, 2, 0),
                        self.file["keyframes/owner"][index], organisms, before,
                        self._walls_after(self.events[:before]))

    def walls(self, index: int) -> np.ndarray:
        """Bool ``(H, W)``: the wall map of frame `index` (``/walls``, the map when the file was
        created, with the ``add_walls`` / ``remove_walls`` events logged up to that frame's step)."""
        if not 0 <= index < len(self):
            raise RecordingError(f"{self.path}: frame {index} out of range 0..{len(self) - 1}")
        step = int(self.steps[index])
        walls = self._walls_after([r for r in self.events if r["step"] <= step])
        return np.zeros((self.height, self.width), bool) if walls is None else walls

    def _walls_after(self, records: list[dict[str, Any]]) -> np.ndarray | None:
        """``/walls`` with the wall events among `records` applied in order; None when the file
        has neither."""
        from nca_world.sim.events import event_of
        from nca_world.sim.meeting import shape_mask

        changes = [r for r in records if r["event"]["kind"] in ("add_walls", "remove_walls")]
        if "walls" not in self.file and not changes:
            return None
        walls = self.file["walls"][()].astype(bool) if "walls" in self.file \
            else np.zeros((self.height, self.width), bool)
        wrap = str(self.file.attrs.get("boundary", "zero")) == "wrap"
        for record in changes:
            cells = shape_mask(event_of(record), self.height, self.width, wrap)
            walls[cells] = record["event"]["kind"] == "add_walls"
        return walls

    def close(self) -> None:
        """Close the file."""
        self.file.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


REQUIRED = (*DATASETS, "models")


def open_hdf5(path: Path) -> h5py.File:
    """The file, in SWMR mode if its run may still be writing it.

    A plain open checks the file's size against its superblock; a SWMR open skips that check
    and then retries every read of a truncated file for minutes. So a file is opened plainly
    first: that fails at once for a truncated file, and for one that a SWMR writer holds or
    left open (a killed run), which is then opened in SWMR mode. A truncated file (a writer
    that failed or was killed in the middle of a write) is opened by `_salvage`.
    """
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        if "truncated" in str(error):
            return _salvage(path, error)
        return h5py.File(path, "r", libver="latest", swmr=True)
    if file.attrs.get("complete", True):
        return file
    file.close()  # written in this process, still running: follow it
    return h5py.File(path, "r", libver="latest", swmr=True)


def _hdf5_library() -> ctypes.CDLL | None:
    """The HDF5 library h5py has loaded (for a call h5py does not wrap), None where not found."""
    try:
        with open("/proc/self/maps") as maps:
            found = {line.split()[-1] for line in maps if "/libhdf5." in line or "/libhdf5-" in line}
    except OSError:
        return None
    for name in sorted(found):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def _salvage(path: Path, cause: OSError) -> h5py.File:
    """A truncated file opened in SWMR mode with one read attempt per metadata object (HDF5's
    default, 100 with growing waits, takes minutes on what lies past the end), so that it opens
    when what its last flush wrote is whole and fails at once otherwise (`_check_readable`)."""
    library = _hdf5_library()
    if library is None:
        raise cause
    access = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    access.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    if library.H5Pset_metadata_read_attempts(ctypes.c_int64(access.id), ctypes.c_uint(1)) < 0:
        raise cause
    file = h5py.File(h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ, fapl=access))
    file.salvaged = True  # checked whole by `open_recording`
    return file


def _attribute(path: Path, file: h5py.File, name: str, kind: type, expected: str) -> Any:
    value = file.attrs.get(name)
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if kind is int and isinstance(value, np.integer):
        value = int(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RecordingError(f"{path}: attribute {name}: expected {expected}, got {value!r}")
    return value


def _check_layout(path: Path, file: h5py.File) -> None:
    """Every dataset's dtype and shape against the root attributes (height, width, channels,
    dtype) and the embedded models' channel count; the lengths that must agree (frames, owner
    and keyframes hold at least the entries their ``step`` counts)."""
    height = _attribute(path, file, "height", int, "a positive integer")
    width = _attribute(path, file, "width", int, "a positive integer")
    if height < 1 or width < 1:
        raise RecordingError(f"{path}: attributes height, width: expected positive integers, got {height}, {width}")
    text = _attribute(path, file, "channels", str, "a JSON list of channel numbers")
    try:
        channels = json.loads(text)
    except json.JSONDecodeError:
        channels = None
    if not (isinstance(channels, list) and channels and all(type(c) is int and c >= 0 for c in channels)):
        raise RecordingError(f"{path}: attribute channels: expected a JSON list of channel numbers, got {text!r}")
    dtype = _attribute(path, file, "dtype", str, f"one of {list(STORES)}")
    if dtype not in STORES:
        raise RecordingError(f"{path}: attribute dtype: expected one of {list(STORES)}, got {dtype!r}")
    _attribute(path, file, "seed", int, "an integer")
    _attribute(path, file, "scenario", str, "the scenario's TOML text")
    every = _attribute(path, file, "every", int, "a positive integer")
    if every < 1:
        raise RecordingError(f"{path}: attribute every: expected a positive integer, got {every}")
    counts = set()
    for name, group in file["models"].items():
        try:
            counts.add(int(json.loads(group.attrs["spec"])["channels"]))
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as error:
            raise RecordingError(f"{path}: /models/{name}: expected a model with a spec, got none ({error})") from None
    if len(counts) != 1:
        raise RecordingError(f"{path}: /models: expected models of one channel count, got {sorted(counts) or 'none'}")
    state = counts.pop()
    if max(channels) >= state:
        raise RecordingError(f"{path}: attribute channels: expected channels 0..{state - 1} (the models'), "
                             f"got {channels}")
    layout = {  # name: (shape after the growing axis, dtype, where the expectation comes from)
        "frames": ((len(channels), height, width), np.dtype(STORES[dtype]),
                   "attributes channels, height, width, dtype"),
        "owner": ((height, width), np.dtype(OWNER_DTYPE), "attributes height, width"),
        "step": ((), np.dtype(np.int64), "format"),
        "events": ((), np.dtype(f"S{EVENT_BYTES}"), "format"),
        "metrics": ((len(COLUMNS),), np.dtype(np.float64), "metric columns"),
        "keyframes/state": ((state, height, width), np.dtype(np.float32),
                            "models' channels and attributes height, width"),
        "keyframes/owner": ((height, width), np.dtype(np.int32), "attributes height, width"),
        "keyframes/step": ((), np.dtype(np.int64), "format"),
        "keyframes/events_before": ((), np.dtype(np.int64), "format"),
        "keyframes/organisms": ((), h5py.string_dtype(), "format"),
    }
    lengths = {}
    # the counters first: a live writer extends /frames before /step, so a reader that looks at
    # /step and then at /frames never sees fewer frames than steps, whatever it flushed in between
    for name, (rest, kind, source) in sorted(layout.items(), key=lambda item: not item[0].endswith("step")):
        dataset = file[name]
        if not isinstance(dataset, h5py.Dataset):
            raise RecordingError(f"{path}: /{name}: expected a dataset, got a {type(dataset).__name__.lower()}")
        shape = dataset.shape
        if len(shape) != 1 + len(rest) or tuple(shape[1:]) != rest:
            raise RecordingError(f"{path}: /{name}: expected shape (N, {', '.join(map(str, rest))}) (from the "
                                 f"{source}), got {shape}".replace(", )", ")"))
        same = (h5py.check_string_dtype(dataset.dtype) is not None) if name == "keyframes/organisms" \
            else dataset.dtype == kind
        if not same:
            raise RecordingError(f"{path}: /{name}: expected dtype {kind} (from the {source}), got {dataset.dtype}")
        lengths[name] = shape[0]
    for counter, counted in (("step", ("frames", "owner")),
                             ("keyframes/step", ("keyframes/state", "keyframes/owner", "keyframes/events_before",
                                                 "keyframes/organisms"))):
        for name in counted:
            if lengths[name] < lengths[counter]:
                raise RecordingError(f"{path}: /{name}: expected at least {lengths[counter]} entries (as /{counter} "
                                     f"counts), got {lengths[name]}")


def _check_readable(file: h5py.File) -> None:
    """Read what a salvaged file's reader uses: its tables and its last frame and keyframe."""
    for name in ("step", "metrics", "events", "keyframes/step", "keyframes/events_before", "keyframes/organisms"):
        file[name][()]
    for name, counter in (("frames", "step"), ("owner", "step"), ("keyframes/state", "keyframes/step"),
                          ("keyframes/owner", "keyframes/step")):
        n = file[counter].shape[0]
        if n:
            file[name][n - 1]


def open_recording(path: str | Path) -> Recording:
    """Open a recording (also one still being written, or cut short by a failed write); a
    missing, foreign, newer or damaged file raises `RecordingError` with the reason."""
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such recording")
    try:
        file = open_hdf5(path)
    except OSError as error:
        raise RecordingError(f"{path}: not a readable HDF5 recording ({error})") from error
    try:
        form = file.attrs.get("format")
        if form != FORMAT:
            raise RecordingError(f"{path}: format: expected {FORMAT!r}, got {form!r}")
        version_found = file.attrs.get("format_version")
        if not isinstance(version_found, int | np.integer) or version_found > VERSION:
            raise RecordingError(f"{path}: format_version {version_found} is newer than this nca-world "
                                 f"reads ({VERSION}); upgrade nca-world")
        if version_found < VERSION:
            raise RecordingError(f"{path}: format_version {version_found} is older than this nca-world "
                                 f"reads ({VERSION}: channel-planar frames); run its scenario again")
        missing = [name for name in REQUIRED if name not in file]
        if missing:
            raise RecordingError(f"{path}: missing {', '.join(missing)} (truncated or damaged recording)")
        _check_layout(path, file)
        if getattr(file, "salvaged", False):
            try:
                _check_readable(file)
            except (OSError, RuntimeError) as error:
                raise RecordingError(f"{path}: not a readable HDF5 recording (truncated: {error})") from error
        return Recording(path, file)
    except RecordingError:
        file.close()
        raise
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as error:
        file.close()
        raise RecordingError(f"{path}: damaged recording ({error})") from error

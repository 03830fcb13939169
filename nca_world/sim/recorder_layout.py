"""The datasets of a new recording (the layout `sim.recorder` documents): root attributes,
embedded models, every growing dataset with its chunks and codec (`create_layout`), and the
part of another recording a fork starts with (`copy_prefix`)."""

from __future__ import annotations

import json
from importlib.metadata import version

import h5py
import hdf5plugin  # registers the LZ4 filter with HDF5 (readers need it too)
import numpy as np

from nca_world.agents.modelfile import write_rule
from nca_world.sim import added_models
from nca_world.sim.metrics import COLUMNS
from nca_world.sim.recording import EVENT_BYTES, FORMAT, OWNER_DTYPE, VERSION, Recording
from nca_world.sim.world import World

GZIP_LEVEL = 1
TILE = 256  # cells a side of a frame's tiles in a big world (`frame_tile`)


def chunk_shape(height: int, width: int, channels: int | None = None) -> tuple[int, ...]:
    """One frame a chunk (keyframes): a keyframe is read or written whole, and seeking costs one chunk."""
    return (1, height, width) if channels is None else (1, channels, height, width)


def frame_tile(height: int, width: int, tile: int | None = None) -> tuple[int, int]:
    """The ``(rows, columns)`` of a frame that one chunk of ``/frames`` and ``/owner`` holds (of
    every recorded channel): the whole frame while neither side is longer than ``2 * tile``
    (`TILE` by default), so a small world's frame is one chunk as before; else tiles of at most
    `tile` a side, sized to cover the frame evenly (2048 -> 8 x 256, 600 -> 3 x 200), so that
    a reader of a region decompresses only the tiles it touches (HDF5 stores a frame's edge
    tiles whole, zero-padded)."""
    tile = TILE if tile is None else tile
    if height <= 2 * tile and width <= 2 * tile:
        return height, width
    return -(-height // -(-height // tile)), -(-width // -(-width // tile))


CODECS = {"lz4": hdf5plugin.LZ4(), "gzip": {"compression": "gzip", "compression_opts": GZIP_LEVEL},
          "lzf": {"compression": "lzf"}, "none": {}}


def create_layout(f: h5py.File, world: World, *, scenario_text: str, channels: list[int], dtype: str,
                  compression: str, every: int, tile: tuple[int, int]) -> None:
    """Write the root attributes and the world's models into the new file `f`, and create every
    dataset empty (frames and owner maps chunked by `tile`, compressed by `compression`)."""
    h, w = world.height, world.width
    f.attrs.update({
        "format": FORMAT, "format_version": VERSION, "seed": world.seed, "scenario": scenario_text,
        "height": h, "width": w, "boundary": world.boundary, "channels": json.dumps(channels),
        "dtype": dtype,
        "every": every, "complete": False,
        "software": json.dumps({p: version(p) for p in ("nca-world", "numpy", "numba", "h5py", "torch")}),
    })
    for name, rule in world.rules.items():
        write_rule(f.create_group(f"models/{name}"), rule)
    store = np.uint8 if dtype == "uint8" else np.float16
    codec = CODECS[compression]
    n = len(channels)
    f.create_dataset("frames", (0, n, h, w), store, maxshape=(None, n, h, w), chunks=(1, n, *tile), **codec)
    f.create_dataset("owner", (0, h, w), OWNER_DTYPE, maxshape=(None, h, w), chunks=(1, *tile), **codec)
    f.create_dataset("step", (0,), np.int64, maxshape=(None,), chunks=(1024,))
    f.create_dataset("events", (0,), f"S{EVENT_BYTES}", maxshape=(None,), chunks=(256,))
    f.create_dataset("metrics", (0, len(COLUMNS)), np.float64, maxshape=(None, len(COLUMNS)),
                     chunks=(4096, len(COLUMNS)))
    c = world.channels
    keyed = {**codec, "shuffle": compression != "none"}  # bytes regrouped before compression
    f.create_dataset("keyframes/state", (0, c, h, w), np.float32, maxshape=(None, c, h, w),
                     chunks=chunk_shape(h, w, c), **keyed)
    f.create_dataset("keyframes/owner", (0, h, w), np.int32, maxshape=(None, h, w), chunks=chunk_shape(h, w),
                     **keyed)
    f.create_dataset("keyframes/step", (0,), np.int64, maxshape=(None,), chunks=(256,))
    f.create_dataset("keyframes/events_before", (0,), np.int64, maxshape=(None,), chunks=(256,))
    f.create_dataset("keyframes/organisms", (0,), h5py.string_dtype(), maxshape=(None,), chunks=(256,))
    added_models.create(f)
    if world.walls.any():
        f.create_dataset("walls", data=world.walls.astype(np.uint8), compression="gzip")


def copy_prefix(f: h5py.File, original: Recording, at: int) -> tuple[int, int]:
    """Copy into `f` (laid out by `create_layout`) everything `original` recorded up to step `at`
    (a fork starts so); returns the frames and the events copied."""
    source = original.file
    f.attrs["forked_from"] = json.dumps({"recording": str(original.path), "step": at})
    frames = int(np.searchsorted(original.steps, at, side="right"))
    for name in ("frames", "owner", "step"):
        f[name].resize(frames, axis=0)
        for i in range(frames):
            f[name][i] = source[name][i]
    metrics = source["metrics"][()]
    metrics = metrics[metrics[:, 0] <= at]
    f["metrics"].resize(len(metrics), axis=0)
    f["metrics"][:] = metrics
    events = [raw for raw in source["events"][()] if json.loads(raw.rstrip(b"\0"))["step"] <= at]
    f["events"].resize(len(events), axis=0)
    if events:
        f["events"][:] = events
    if "walls" in f:
        del f["walls"]
    if "walls" in source:  # the walls its copied events start from
        f.create_dataset("walls", data=source["walls"][()], compression="gzip")
    keyed = int(np.searchsorted(original.keyframe_steps, at, side="right"))
    for name in ("state", "owner", "step", "organisms", "events_before"):
        dataset = f[f"keyframes/{name}"]
        dataset.resize(keyed, axis=0)
        for i in range(keyed):
            dataset[i] = source[f"keyframes/{name}"][i]
    return frames, len(events)

"""Appending to the datasets of a recording being written (`DatasetWriter`): rows, whole chunks
and a frame's tiles, compressed here for HDF5's direct chunk writes (LZ4 or gzip), each write
first checked against the file-size limit and the free disk space (`DatasetWriter.reserve`)."""

from __future__ import annotations

import resource
import shutil
import zlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nca_world.agents.errors import RecordingError
from nca_world.sim.chunks import Lz4Chunks, tile_grid, tiles_of
from nca_world.sim.recorder_layout import GZIP_LEVEL
from nca_world.sim.recording import DATASETS

WRITE_MARGIN = 64 << 10  # bytes kept in hand for the metadata HDF5 writes at a flush and at close


def gzip_chunk(data: np.ndarray) -> np.ndarray:
    """`data` as a chunk of HDF5's deflate filter."""
    return np.frombuffer(zlib.compress(data, GZIP_LEVEL), np.uint8)


class GzipChunks:
    """Chunks of HDF5's deflate filter, like `Lz4Chunks`: one per array, or one per tile."""

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        return [gzip_chunk(a) for a in arrays]

    def tiles(self, *arrays: np.ndarray, tile: tuple[int, int]) -> list[list[np.ndarray]]:
        return [[gzip_chunk(piece) for piece in tiles_of(a, tile)] for a in arrays]


CHUNK_ENCODERS = {"lz4": Lz4Chunks, "gzip": GzipChunks}


def kept(file: h5py.File | None) -> str:
    """What a reader finds in the recording `file` (None: closed), in words."""
    if file is None or "step" not in file:
        return "the file may be incomplete"
    steps = file["step"]
    n = steps.id.shape[0]
    return f"the file keeps {n} frames (steps {steps[0]}..{steps[n - 1]})" if n else "the file keeps no frame"


class DatasetWriter:
    """The datasets of `file` (at `path`, laid out by `sim.recorder_layout`), appended to; a frame's
    chunks are `tile` cells (of a ``grid`` = ``(height, width)`` world)."""

    def __init__(self, file: h5py.File, path: Path, *, compression: str, tile: tuple[int, int],
                 grid: tuple[int, int]) -> None:
        self.file, self.path, self.tile = file, path, tile
        self.datasets = {name: file[name] for name in DATASETS}  # looked up once: h5py's lookups are slow
        # where a dataset's chunks start, after the index along its growing axis
        self._chunk_rest = {name: (0,) * (len(d.shape) - 1) for name, d in self.datasets.items()}
        self._encode = CHUNK_ENCODERS[compression]() if compression in CHUNK_ENCODERS else None  # for direct writes
        self._across = tile_grid(*grid, tile)[1]  # tiles along a row of a frame

    @property
    def direct(self) -> bool:
        """Whether chunks are compressed here and written directly (else h5py's filters run)."""
        return self._encode is not None

    def reserve(self, nbytes: int) -> None:
        """Refuse a write of about `nbytes` (plus `WRITE_MARGIN` for HDF5's metadata) that the
        file-size limit (``ulimit -f``) or the free disk space would cut short: HDF5 would leave
        a file that cannot be opened. Refused before anything is written, it keeps the file whole."""
        end = self.file.id.get_filesize()
        need = nbytes + WRITE_MARGIN
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and end + need > limit:
            raise RecordingError(f"{self.path}: file size: expected at most {limit} bytes (the file-size limit, "
                                 f"ulimit -f), got {end + need} needed; recording stopped, {kept(self.file)}")
        free = shutil.disk_usage(self.path.parent).free
        if need > free:
            raise RecordingError(f"{self.path}: disk space: expected {need} bytes free, got {free}; recording "
                                 f"stopped, {kept(self.file)}")

    def grown(self, name: str, rows: int) -> int:
        """Bytes HDF5 allocates for the new chunks of dataset `name` when `rows` rows are appended
        (chunks of datasets written through h5py are allocated whole)."""
        dataset = self.datasets[name]
        per, n = dataset.chunks[0], dataset.id.shape[0]
        return (-(-(n + rows) // per) + (n // -per)) * int(np.prod(dataset.chunks)) * dataset.dtype.itemsize

    def extend(self, name: str, rows: np.ndarray) -> None:
        """Append `rows` to dataset `name`: low-level calls for plain arrays (h5py's slicing
        costs ~0.1-0.3 ms a call), h5py's for strings."""
        dataset = self.datasets[name]
        n = dataset.id.shape[0]
        dataset.id.set_extent((n + len(rows), *rows.shape[1:]))
        if rows.dtype == object:
            dataset[n:] = rows
            return
        file_space = dataset.id.get_space()
        file_space.select_hyperslab((n,) + (0,) * (rows.ndim - 1), rows.shape)
        dataset.id.write(h5py.h5s.create_simple(rows.shape), file_space, np.ascontiguousarray(rows))

    def payloads(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """What `write_chunk` writes for each array: its compressed chunk when the codec allows a
        direct chunk write (compressed here, in parallel for LZ4), else the array."""
        return self._encode(*arrays) if self._encode is not None else list(arrays)

    def frame_payloads(self, frame: np.ndarray, owner: np.ndarray) -> tuple[Any, Any]:
        """Copies of what `write_tiles` writes for a frame and its owner map: the compressed
        chunk of each tile when the codec allows a direct chunk write, else the arrays."""
        if self._encode is None:
            return frame.copy(), owner.copy()
        frame_chunks, owner_chunks = self._encode.tiles(frame, owner, tile=self.tile)
        return [c.copy() for c in frame_chunks], [c.copy() for c in owner_chunks]

    def write_tiles(self, name: str, index: int, payload: Any) -> None:
        """``dataset[index]`` = the data of `payload` (see `frame_payloads`): every tile's chunk."""
        if self._encode is None:
            self.datasets[name][index] = payload
            return
        dataset, (rows, columns) = self.datasets[name], self.tile
        planes = self._chunk_rest[name][:-2]
        for t, chunk in enumerate(payload):
            dataset.id.write_direct_chunk((index, *planes, t // self._across * rows, t % self._across * columns),
                                          chunk)

    def write_chunk(self, name: str, index: int, payload: np.ndarray) -> None:
        """``dataset[index]`` = the data of `payload` (see `payloads`)."""
        if self._encode is not None:
            self.datasets[name].id.write_direct_chunk((index, *self._chunk_rest[name]), payload)
        else:
            self.datasets[name][index] = payload

    def append_chunk(self, name: str, payload: np.ndarray) -> None:
        """Append one row, `payload` (see `payloads`), to dataset `name`."""
        dataset = self.datasets[name]
        index = dataset.shape[0]
        dataset.resize(index + 1, axis=0)
        self.write_chunk(name, index, payload)

"""HDF5 chunks compressed by numba kernels, in the layout of the HDF5 LZ4 filter (id 32004).

A chunk holds the uncompressed size (big-endian uint64) and the block size (uint32), then, for
each block of that many bytes (the last may be shorter), its stored size (uint32) and its LZ4
block; a block that does not shrink is stored as it is, with its own size. Blocks are
independent, so threads compress one each. LZ4 itself is the filter's own library
(``libh5lz4`` of `hdf5plugin`), which the kernels call by name. `byte_shuffle` applies
HDF5's shuffle filter (id 2), for datasets that list it before LZ4.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import hdf5plugin
import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from nca_world.agents.errors import RecordingError
from nca_world.sim.simd import element_pointer, fetch_add

LZ4_BLOCK = 1 << 15  # bytes a block: small enough to share a frame among threads evenly (measured
# against 16 and 64 KiB), large enough to compress within 1% of one block per frame
SHUFFLE_BLOCK = 1 << 14  # elements a thread shuffles at a time


@functools.cache
def load_lz4() -> None:
    """Make ``LZ4_compress_default`` of the filter's library known to numba's linker; call it
    before the first call of a kernel of this module (the public functions do)."""
    found = glob.glob(os.path.join(hdf5plugin.PLUGIN_PATH, "libh5lz4.*"))  # .so, .dylib or .dll
    path = found[0] if found else os.path.join(hdf5plugin.PLUGIN_PATH, "libh5lz4")
    try:
        compress = ctypes.CDLL(path).LZ4_compress_default
    except (OSError, AttributeError) as error:
        raise RecordingError(f"{path}: hdf5plugin's LZ4 filter is missing ({error}); reinstall hdf5plugin "
                             "or record with compression = 'gzip'") from error
    llvm.add_symbol("LZ4_compress_default", ctypes.cast(compress, ctypes.c_void_p).value)


@intrinsic
def _lz4_compress(typingctx, source, start, size, target, at, capacity):
    """``LZ4_compress_default(&source[start], &target[at], size, capacity)``: the compressed size
    of ``source[start : start + size]`` written at ``target[at:]``, 0 if it needs more than `capacity`."""
    signature = types.int64(source, start, types.int64, target, at, types.int64)

    def codegen(context, builder, sig, args):
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(int32, [byte_pointer, byte_pointer, int32, int32]), "LZ4_compress_default"
        )
        source_pointer = element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        target_pointer = element_pointer(context, builder, sig.args[3], args[3], sig.args[4], args[4])
        size = builder.call(function, [builder.bitcast(source_pointer, byte_pointer),
                                       builder.bitcast(target_pointer, byte_pointer),
                                       builder.trunc(args[2], int32), builder.trunc(args[5], int32)])
        return builder.sext(size, ir.IntType(64))

    return signature, codegen


@intrinsic
def _copy_bytes(typingctx, source, start, target, at, size):
    """``target[at : at + size] = source[start : start + size]`` (uint8 arrays, element indices
    as tuples): one ``memcpy``, where an element loop over 3-D indices does not vectorise."""
    signature = types.void(source, start, target, at, types.int64)

    def codegen(context, builder, sig, args):
        source_pointer = element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        target_pointer = element_pointer(context, builder, sig.args[2], args[2], sig.args[3], args[3])
        cgutils.raw_memcpy(builder, target_pointer, source_pointer, args[4], 1)
        return context.get_dummy_value()

    return signature, codegen


# the columns of a source's row in `geometry` (`_compress_tiles`)
PLANES, ROWS, ROW_BYTES, TILE_ROWS, TILE_BYTES, TILES_X, BLOCK, BLOCKS_PER_CHUNK = range(8)


@numba.njit(cache=True, nogil=True, inline="always")
def _gather(data, shape, ty, tx, start, length, out, worker):
    """Bytes ``start .. start + length`` of the chunk of tile (`ty`, `tx`) of `data` (planes,
    rows, row bytes) into ``out[worker]``: plane by plane, the tile's rows, zero past the
    array's edges (HDF5 stores edge chunks whole)."""
    rows, row_bytes, tile_rows, tile_bytes = shape[ROWS], shape[ROW_BYTES], shape[TILE_ROWS], shape[TILE_BYTES]
    plane_bytes = tile_rows * tile_bytes
    at = 0
    while at < length:
        offset = start + at
        plane, rest = offset // plane_bytes, offset % plane_bytes
        y, column = ty * tile_rows + rest // tile_bytes, rest % tile_bytes
        n = min(tile_bytes - column, length - at)
        x = tx * tile_bytes + column
        inside = 0 if y >= rows else max(0, min(n, row_bytes - x))
        if inside:
            _copy_bytes(data, (plane, y, x), out, (worker, at), inside)
        for b in range(inside, n):
            out[worker, at + b] = 0
        at += n


@numba.njit(cache=True, nogil=True, parallel=True)
def _compress_tiles(sources, geometry, first_block, first_chunk, scratch, packed, sizes, workers, next_block):
    """Every block of every tile's chunk of every source, compressed in parallel.

    Source ``i`` (uint8 ``(planes, rows, row bytes)``) is cut in tiles of ``geometry[i]``'s tile
    rows and tile bytes, row-major; a tile's chunk is its planes one after another, cut in
    blocks of ``geometry[i, BLOCK]`` bytes. Global block ``j`` (source ``i``'s are
    ``first_block[i] .. first_block[i + 1] - 1``) goes to ``packed[j]``, or is copied there when
    it does not shrink; ``sizes[j]``: the bytes stored. A block whose bytes lie one after
    another in the source (a tile as wide as the source, inside its rows) is compressed in
    place; any other is first gathered into its worker's row of `scratch`.

    Each of the `workers` takes the next block from the counter ``next_block[0]``: blocks cost
    very different times (an empty one is cheap), so a static split would leave threads idle.
    """
    next_block[0] = 0
    for worker in prange(workers):
        j = fetch_add(next_block, 0, 1)
        while j < len(sizes):
            i = 0
            while first_block[i + 1] <= j:
                i += 1
            data, shape = sources[i], geometry[i]
            block, per_chunk = shape[BLOCK], shape[BLOCKS_PER_CHUNK]
            tile_rows, tile_bytes = shape[TILE_ROWS], shape[TILE_BYTES]
            chunk, b = (j - first_block[i]) // per_chunk, (j - first_block[i]) % per_chunk
            ty, tx = chunk // shape[TILES_X], chunk % shape[TILES_X]
            plane_bytes = tile_rows * tile_bytes
            start = b * block
            length = min(block, shape[PLANES] * plane_bytes - start)
            last = start + length - 1
            first_row = ty * tile_rows + (start % plane_bytes) // tile_bytes
            in_place = (tile_bytes == shape[ROW_BYTES] and ty * tile_rows + (last % plane_bytes) // tile_bytes
                        < shape[ROWS] and (start // plane_bytes == last // plane_bytes or tile_rows == shape[ROWS]))
            if in_place:
                size = _lz4_compress(data, (start // plane_bytes, first_row, start % tile_bytes), length, packed,
                                     (j, 0), packed.shape[1])
            else:
                _gather(data, shape, ty, tx, start, length, scratch, worker)
                size = _lz4_compress(scratch, (worker, 0), length, packed, (j, 0), packed.shape[1])
            if size == 0 or size >= length:
                _gather(data, shape, ty, tx, start, length, scratch, worker)
                for k in range(length):
                    packed[j, k] = scratch[worker, k]
                size = length
            sizes[j] = size
            j = fetch_add(next_block, 0, 1)


@numba.njit(cache=True, nogil=True, inline="always")
def _put_big_endian(out, at, value, n_bytes):
    """``out[at : at + n_bytes]`` = `value` as a big-endian unsigned integer."""
    for i in range(n_bytes):
        out[at + i] = (value >> (8 * (n_bytes - 1 - i))) & 0xFF


@numba.njit(cache=True, nogil=True)
def _assemble(geometry, first_block, first_chunk, packed, sizes, out, lengths):
    """Chunk ``c`` (the filter's header, then each block's stored size and bytes) into ``out[c]``,
    its length into ``lengths[c]`` (serial: a second parallel pass waits for its threads on a
    busy machine longer than it saves)."""
    for c in range(len(lengths)):
        i = 0
        while first_chunk[i + 1] <= c:
            i += 1
        shape = geometry[i]
        per_chunk = shape[BLOCKS_PER_CHUNK]
        _put_big_endian(out[c], 0, shape[PLANES] * shape[TILE_ROWS] * shape[TILE_BYTES], 8)
        _put_big_endian(out[c], 8, shape[BLOCK], 4)
        at = 12
        first = first_block[i] + (c - first_chunk[i]) * per_chunk
        for j in range(first, first + per_chunk):
            _put_big_endian(out[c], at, sizes[j], 4)
            for b in range(sizes[j]):
                out[c, at + 4 + b] = packed[j, b]
            at += 4 + sizes[j]
        lengths[c] = at


@numba.njit(cache=True, nogil=True)
def _lz4_tiles(sources, geometry, first_block, first_chunk, scratch, packed, sizes, out, lengths, workers,
               next_block):
    """The chunk of every tile of every source written to ``out`` (see `_compress_tiles`)."""
    _compress_tiles(sources, geometry, first_block, first_chunk, scratch, packed, sizes, workers, next_block)
    _assemble(geometry, first_block, first_chunk, packed, sizes, out, lengths)


def tile_grid(height: int, width: int, tile: tuple[int, int]) -> tuple[int, int]:
    """How many tiles of `tile` ``(rows, columns)`` cover a ``height x width`` plane, down and across."""
    return -(-height // tile[0]), -(-width // tile[1])


def tiles_of(array: np.ndarray, tile: tuple[int, int]) -> list[np.ndarray]:
    """The tiles of `array` ``(..., H, W)``, row-major, each ``(..., tile rows, tile columns)``
    and zero past the array's edges: what HDF5 stores in each chunk (a plain numpy reference)."""
    down, across = tile_grid(*array.shape[-2:], tile)
    padded = np.zeros((*array.shape[:-2], down * tile[0], across * tile[1]), array.dtype)
    padded[..., : array.shape[-2], : array.shape[-1]] = array
    return [np.ascontiguousarray(padded[..., y * tile[0] : (y + 1) * tile[0], x * tile[1] : (x + 1) * tile[1]])
            for y in range(down) for x in range(across)]


class Lz4Chunks:
    """Builds LZ4 filter chunks (write them with ``dataset.id.write_direct_chunk``), compressing
    the blocks of one or more arrays in one parallel pass: one chunk per array (`__call__`), or
    one per tile of each array (`tiles`). Scratch buffers are kept per set of array sizes, so a
    steady stream of frames allocates nothing; chunks stay valid until the next call with arrays
    of the same sizes."""

    def __init__(self, block: int = LZ4_BLOCK) -> None:
        load_lz4()
        self.block = block
        self._scratch: dict[tuple[int, ...], tuple[np.ndarray, ...]] = {}
        self._next_block = np.zeros(1, np.int64)

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """The chunk of each array (C-contiguous), as uint8 arrays."""
        flat = tuple(a.reshape(1, 1, -1).view(np.uint8) for a in arrays)
        return [chunks[0] for chunks in self._encode(flat, [(1, s.shape[2]) for s in flat])]

    def tiles(self, *arrays: np.ndarray, tile: tuple[int, int]) -> list[list[np.ndarray]]:
        """For each array ``(..., H, W)`` (C-contiguous), the chunks of its tiles of `tile` ``(rows,
        columns)``, row-major (`tiles_of`); a chunk holds the tile of every leading plane."""
        sources = tuple(a.reshape(-1, *a.shape[-2:]).view(np.uint8) for a in arrays)
        return self._encode(sources, [(tile[0], tile[1] * a.itemsize) for a in arrays])

    def _encode(self, sources: tuple[np.ndarray, ...], tiles: list[tuple[int, int]]) -> list[list[np.ndarray]]:
        key = tuple(n for s, t in zip(sources, tiles, strict=True) for n in (*s.shape, *t))
        if key not in self._scratch:
            self._scratch[key] = self._allocate(sources, tiles)
        geometry, first_block, first_chunk, scratch, packed, sizes, out, lengths = self._scratch[key]
        _lz4_tiles(sources, geometry, first_block, first_chunk, scratch, packed, sizes, out, lengths,
                   numba.get_num_threads(), self._next_block)
        return [[out[c, : lengths[c]] for c in range(first_chunk[i], first_chunk[i + 1])] for i in range(len(sources))]

    def _allocate(self, sources: tuple[np.ndarray, ...], tiles: list[tuple[int, int]]) -> tuple[np.ndarray, ...]:
        geometry = np.zeros((len(sources), 8), np.int64)
        for row, source, (tile_rows, tile_bytes) in zip(geometry, sources, tiles, strict=True):
            planes, rows, row_bytes = source.shape
            chunk_bytes = planes * tile_rows * tile_bytes
            block = min(self.block, chunk_bytes)
            across = tile_grid(rows, row_bytes, (tile_rows, tile_bytes))[1]
            row[:] = (planes, rows, row_bytes, tile_rows, tile_bytes, across, block, -(-chunk_bytes // block))
        chunks = [int(np.prod(tile_grid(s.shape[1], s.shape[2], t))) for s, t in zip(sources, tiles, strict=True)]
        first_chunk = np.cumsum([0, *chunks]).astype(np.int64)
        blocks = [c * int(g[BLOCKS_PER_CHUNK]) for c, g in zip(chunks, geometry, strict=True)]
        first_block = np.cumsum([0, *blocks]).astype(np.int64)
        block = int(geometry[:, BLOCK].max())
        bound = block + block // 255 + 16  # LZ4's worst case for a block
        longest = int(max(12 + g[BLOCKS_PER_CHUNK] * (4 + bound) for g in geometry))
        scratch = np.empty((numba.config.NUMBA_NUM_THREADS, block), np.uint8)  # a row per worker, however many
        return (geometry, first_block, first_chunk, scratch, np.empty((first_block[-1], bound), np.uint8),
                np.empty(first_block[-1], np.int64), np.empty((first_chunk[-1], longest), np.uint8),
                np.empty(first_chunk[-1], np.int64))


@numba.njit(cache=True, nogil=True, parallel=True)
def _shuffle(data, itemsize, out):
    n = len(data) // itemsize
    for b in prange(-(-n // SHUFFLE_BLOCK)):
        for i in range(b * SHUFFLE_BLOCK, min(n, (b + 1) * SHUFFLE_BLOCK)):
            for j in range(itemsize):
                out[j * n + i] = data[i * itemsize + j]


def byte_shuffle(data: np.ndarray) -> np.ndarray:
    """The bytes of `data` (C-contiguous) as HDF5's shuffle filter (id 2) stores them: byte ``j``
    of element ``i`` at ``j * n + i``. Float and integer planes compress better and faster so:
    the high bytes of neighbouring cells are alike."""
    flat = data.reshape(-1).view(np.uint8)
    out = np.empty_like(flat)
    _shuffle(flat, data.itemsize, out)
    return out

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


@numba.njit(cache=True, nogil=True, parallel=True)
def _compress_blocks(sources, blocks, first, packed, sizes, workers, next_block):
    """Every block of every source, compressed in parallel: block ``j`` of all (source ``i``'s
    blocks are ``first[i] .. first[i + 1] - 1``, of ``blocks[i]`` bytes) goes to ``packed[j]``,
    or is copied there when it does not shrink; ``sizes[j]``: the bytes stored.

    Each of the `workers` takes the next block from the counter ``next_block[0]``: blocks cost
    very different times (an empty one is cheap), so a static split would leave threads idle.
    """
    next_block[0] = 0
    for _ in prange(workers):
        j = fetch_add(next_block, 0, 1)
        while j < len(sizes):
            i = 0
            while first[i + 1] <= j:
                i += 1
            data = sources[i]
            start = (j - first[i]) * blocks[i]
            length = min(blocks[i], len(data) - start)
            size = _lz4_compress(data, start, length, packed, (j, 0), packed.shape[1])
            if size == 0 or size >= length:
                for b in range(length):
                    packed[j, b] = data[start + b]
                size = length
            sizes[j] = size
            j = fetch_add(next_block, 0, 1)


@numba.njit(cache=True, nogil=True, inline="always")
def _put_big_endian(out, at, value, n_bytes):
    """``out[at : at + n_bytes]`` = `value` as a big-endian unsigned integer."""
    for i in range(n_bytes):
        out[at + i] = (value >> (8 * (n_bytes - 1 - i))) & 0xFF


@numba.njit(cache=True, nogil=True)
def _lz4_chunks(sources, blocks, first, packed, sizes, out, workers, next_block):
    """The chunk of each source (flat uint8) written to ``out[i]``; returns their lengths."""
    _compress_blocks(sources, blocks, first, packed, sizes, workers, next_block)
    lengths = np.empty(len(sources), np.int64)
    for i in range(len(sources)):
        _put_big_endian(out[i], 0, len(sources[i]), 8)
        _put_big_endian(out[i], 8, blocks[i], 4)
        at = 12
        for j in range(first[i], first[i + 1]):
            _put_big_endian(out[i], at, sizes[j], 4)
            for b in range(sizes[j]):
                out[i, at + 4 + b] = packed[j, b]
            at += 4 + sizes[j]
        lengths[i] = at
    return lengths


class Lz4Chunks:
    """Builds LZ4 filter chunks (write them with ``dataset.id.write_direct_chunk``), compressing
    the blocks of one or more arrays in one parallel pass. Scratch buffers are kept per set of
    array sizes, so a steady stream of frames allocates nothing; chunks stay valid until the
    next call with arrays of the same sizes."""

    def __init__(self, block: int = LZ4_BLOCK) -> None:
        load_lz4()
        self.block = block
        self._scratch: dict[tuple[int, ...], tuple[np.ndarray, ...]] = {}
        self._next_block = np.zeros(1, np.int64)

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """The chunk of each array (C-contiguous), as uint8 arrays."""
        sources = tuple(a.reshape(-1).view(np.uint8) for a in arrays)
        key = tuple(len(s) for s in sources)
        if key not in self._scratch:
            self._scratch[key] = self._allocate(key)
        blocks, first, packed, sizes, out = self._scratch[key]
        lengths = _lz4_chunks(sources, blocks, first, packed, sizes, out, numba.get_num_threads(), self._next_block)
        return [out[i, :length] for i, length in enumerate(lengths)]

    def _allocate(self, nbytes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        blocks = np.array([min(self.block, n) for n in nbytes], np.int64)
        counts = [-(-n // b) for n, b in zip(nbytes, blocks, strict=True)]
        first = np.cumsum([0, *counts]).astype(np.int64)
        bound = int(blocks.max()) + int(blocks.max()) // 255 + 16  # LZ4's worst case for a block
        longest = max(12 + c * (4 + bound) for c in counts)
        return (blocks, first, np.empty((first[-1], bound), np.uint8), np.empty(first[-1], np.int64),
                np.empty((len(nbytes), longest), np.uint8))


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

"""HDF5 chunks compressed by numba kernels, in the layout of the HDF5 LZ4 filter (id 32004).

A chunk holds the uncompressed size (big-endian uint64) and the block size (uint32), then, for
each block of that many bytes (the last may be shorter), its stored size (uint32) and its LZ4
block; a block that does not shrink is stored as it is, with its own size. Blocks are
independent, so threads compress one each. LZ4 itself is the filter's own library
(``libh5lz4.so`` of `hdf5plugin`), which the kernels call by name.
"""

from __future__ import annotations

import ctypes
import functools
import os

import hdf5plugin
import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from agents.errors import RecordingError
from sim.simd import element_pointer

LZ4_BLOCK = 1 << 16  # bytes a block: LZ4 matches reach back 64 KiB, so larger blocks gain little


@functools.cache
def load_lz4() -> None:
    """Make ``LZ4_compress_default`` of the filter's library known to numba's linker; call it
    before the first call of a kernel of this module (the public functions do)."""
    path = os.path.join(hdf5plugin.PLUGIN_PATH, "libh5lz4.so")
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
def _compress_blocks(data, block, packed, sizes):
    """Block ``i`` of `data` (flat uint8), ``data[i * block : (i + 1) * block]``, compressed into
    ``packed[i]``, or copied there when it does not shrink; ``sizes[i]``: the bytes stored."""
    for i in prange(len(sizes)):
        start = i * block
        length = min(block, len(data) - start)
        size = _lz4_compress(data, start, length, packed, (i, 0), packed.shape[1])
        if size == 0 or size >= length:
            packed[i, :length] = data[start : start + length]
            size = length
        sizes[i] = size


@numba.njit(cache=True, nogil=True, inline="always")
def _put_big_endian(out, at, value, n_bytes):
    """``out[at : at + n_bytes]`` = `value` as a big-endian unsigned integer."""
    for i in range(n_bytes):
        out[at + i] = (value >> (8 * (n_bytes - 1 - i))) & 0xFF


@numba.njit(cache=True, nogil=True)
def _lz4_chunk(data, block, packed, sizes, out):
    """Compress `data` (flat uint8) in blocks of `block` bytes (scratch: `packed`, `sizes`) and
    write the chunk to `out`; returns its length."""
    _compress_blocks(data, block, packed, sizes)
    _put_big_endian(out, 0, len(data), 8)
    _put_big_endian(out, 8, block, 4)
    at = 12
    for i in range(len(sizes)):
        _put_big_endian(out, at, sizes[i], 4)
        out[at + 4 : at + 4 + sizes[i]] = packed[i, : sizes[i]]
        at += 4 + sizes[i]
    return at


class Lz4Chunks:
    """Builds LZ4 filter chunks (write them with ``dataset.id.write_direct_chunk``), compressing
    the blocks of an array in parallel. Scratch buffers are kept per array size, so a steady
    stream of frames allocates nothing; a chunk is valid until the next one of the same size."""

    def __init__(self, block: int = LZ4_BLOCK) -> None:
        load_lz4()
        self.block = block
        self._scratch: dict[int, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, data: np.ndarray) -> np.ndarray:
        """The chunk of `data` (C-contiguous), as a uint8 array."""
        flat = data.reshape(-1).view(np.uint8)
        if len(flat) not in self._scratch:
            block = min(self.block, len(flat))
            n_blocks = -(-len(flat) // block)
            bound = block + block // 255 + 16  # LZ4's worst case for a block
            self._scratch[len(flat)] = (block, np.empty((n_blocks, bound), np.uint8), np.empty(n_blocks, np.int64),
                                        np.empty(12 + n_blocks * (4 + bound), np.uint8))
        block, packed, sizes, out = self._scratch[len(flat)]
        return out[: _lz4_chunk(flat, block, packed, sizes, out)]

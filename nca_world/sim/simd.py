"""A 16-lane float32 vector for numba kernels, built from LLVM vector intrinsics.

LLVM's auto-vectoriser does not keep a matrix product's accumulators in registers across the
reduction loop (measured: 22-46 GFLOP/s a core here, against ~160 for BLAS). With an explicit
``<16 x float>`` value type the accumulators live in registers and one fused multiply-add
works on 16 cells at once (~146 GFLOP/s a core). On CPUs without AVX-512, LLVM splits each
vector into two 8-lane halves; the results are the same.

Only what the core needs: load, store, splat, fused multiply-add, add, subtract, multiply, relu, an
in-register compress and an expanding load. Lanes are cells; nothing here validates indices (kernels never do).
"""

from __future__ import annotations

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 16
_VECTOR = ir.VectorType(ir.FloatType(), LANES)
_MASK = ir.VectorType(ir.IntType(1), LANES)
_HALF = ir.VectorType(ir.FloatType(), 8)
_HALF_INDEX = ir.VectorType(ir.IntType(32), 8)

_FEATURES = binding.get_host_cpu_features()
# AVX-512: a 16-lane vector is one register and compress / expand are single instructions.
WIDE_VECTORS = bool(_FEATURES.get("avx512f", False))
# AVX2 has no compress: LLVM would move lane by lane. Instead each 8-lane half is permuted by a
# table row picked by its 8 mask bits (``vpermps``), as in Lemire's stream-compaction trick.
PERMUTE_HALVES = not WIDE_VECTORS and bool(_FEATURES.get("avx2", False))


def _compress_row(bits: int) -> list[int]:
    """The lanes whose bit is set, in order, then zeros (lanes past the popcount are don't-care)."""
    lanes = [i for i in range(8) if bits >> i & 1]
    return lanes + [0] * (8 - len(lanes))


def _expand_row(bits: int) -> list[int]:
    """For each lane whose bit is set, how many set bits precede it (its source element)."""
    return [bin(bits & ((1 << i) - 1)).count("1") if bits >> i & 1 else 0 for i in range(8)]


def _table(module: ir.Module, name: str, row) -> ir.GlobalVariable:
    """A module-level constant ``[256 x <8 x i32>]``: `row(bits)` for every 8-bit mask."""
    try:
        return module.get_global(name)
    except KeyError:
        kind = ir.ArrayType(_HALF_INDEX, 256)
        table = ir.GlobalVariable(module, kind, name)
        table.linkage, table.global_constant = "internal", True
        table.initializer = ir.Constant(kind, [ir.Constant(_HALF_INDEX, row(bits)) for bits in range(256)])
        return table


def _halves_of(builder, bits):
    """The low and high 8 bits of a 16-bit lane mask, as i32 table indices."""
    low = builder.and_(bits, ir.Constant(bits.type, 0xFF))
    high = builder.and_(builder.lshr(bits, ir.Constant(bits.type, 8)), ir.Constant(bits.type, 0xFF))
    return builder.trunc(low, ir.IntType(32)), builder.trunc(high, ir.IntType(32))


def _permute(builder, half, table, bits):
    """``vpermps``: lane i of the result is lane ``table[bits][i]`` of the 8-lane `half`."""
    pointer = builder.gep(table, [ir.Constant(ir.IntType(32), 0), bits])
    index = builder.load(pointer, align=32)
    function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_HALF, [_HALF, _HALF_INDEX]),
                                              "llvm.x86.avx2.permps")
    return builder.call(function, [half, index])


def _popcount(builder, value):
    """The number of set bits of an integer IR value."""
    function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(value.type, [value.type]),
                                              f"llvm.ctpop.i{value.type.width}")
    return builder.call(function, [value])


class F32x16Type(types.Type):
    """The numba type of a 16-lane float32 vector."""

    def __init__(self) -> None:
        super().__init__(name="F32x16")


f32x16 = F32x16Type()


@register_model(F32x16Type)
class F32x16Model(models.PrimitiveModel):
    """Held as an LLVM ``<16 x float>``, i.e. one AVX-512 register."""

    def __init__(self, dmm, fe_type) -> None:
        super().__init__(dmm, fe_type, _VECTOR)


def element_pointer(context, builder, array_type, array, index_type, index):
    """Pointer to ``array[index]`` of a C-contiguous array; `index` is an integer (1-D) or a
    tuple of integers, one per dimension. Indexing the element directly, rather than a row
    view, keeps numba from counting references in hot loops (an atomic add per view)."""
    data = context.make_array(array_type)(context, builder, array)
    if isinstance(index_type, types.BaseTuple):
        values, value_types = cgutils.unpack_tuple(builder, index, len(index_type)), index_type.types
    else:
        values, value_types = [index], [index_type]
    indices = [context.cast(builder, v, t, types.intp) for v, t in zip(values, value_types, strict=True)]
    return cgutils.get_item_pointer(context, builder, array_type, data, indices)


@intrinsic
def vload(typingctx, array, index):
    """``array[index : index + 16]`` of a float32 array as a vector (`index`: see `element_pointer`;
    the 16 elements run along the last axis)."""
    signature = f32x16(array, index)

    def codegen(context, builder, sig, args):
        pointer = element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        return builder.load(builder.bitcast(pointer, _VECTOR.as_pointer()), align=4)

    return signature, codegen


@intrinsic
def vstore(typingctx, array, index, vector):
    """``array[index : index + 16] = vector``."""
    signature = types.void(array, index, vector)

    def codegen(context, builder, sig, args):
        pointer = element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        builder.store(args[2], builder.bitcast(pointer, _VECTOR.as_pointer()), align=4)

    return signature, codegen


@intrinsic
def vcompress(typingctx, array, index, vector, bits):
    """Pack the lanes ``i`` of `vector` with bit ``i`` of `bits` set to the front, then store
    all 16 lanes at ``array[index:]`` (lanes past popcount(bits) are don't-care).

    ``llvm.experimental.vector.compress`` is one in-register ``vcompressps`` on AVX-512, which
    is several times faster than the memory form of a masked compress-store.
    """
    signature = types.void(array, index, vector, bits)

    def codegen(context, builder, sig, args):
        pointer = element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        if PERMUTE_HALVES:  # pack each half by a table permutation; the high half goes after the low one's lanes
            low_bits, high_bits = _halves_of(builder, args[3])
            table = _table(builder.module, "nca_compress_rows", _compress_row)
            undefined = ir.Constant(_VECTOR, ir.Undefined)
            low = builder.shuffle_vector(args[2], undefined, ir.Constant(_HALF_INDEX, list(range(8))))
            high = builder.shuffle_vector(args[2], undefined, ir.Constant(_HALF_INDEX, list(range(8, 16))))
            half_pointer = builder.bitcast(pointer, _HALF.as_pointer())
            builder.store(_permute(builder, low, table, low_bits), half_pointer, align=4)
            after_low = builder.gep(pointer, [_popcount(builder, low_bits)])
            builder.store(_permute(builder, high, table, high_bits), builder.bitcast(after_low, _HALF.as_pointer()),
                          align=4)
            return
        mask = builder.bitcast(builder.trunc(args[3], ir.IntType(LANES)), _MASK)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(_VECTOR, [_VECTOR, _MASK, _VECTOR]),
            "llvm.experimental.vector.compress.v16f32",
        )
        packed = builder.call(function, [args[2], mask, ir.Constant(_VECTOR, ir.Undefined)])
        builder.store(packed, builder.bitcast(pointer, _VECTOR.as_pointer()), align=4)

    return signature, codegen


@intrinsic
def vexpand(typingctx, array, index, bits, passthru):
    """The inverse of `vcompress`: lane ``i`` with bit ``i`` of `bits` set takes the next of
    ``array[index], array[index + 1], ...`` in order; the other lanes keep `passthru`.

    ``llvm.masked.expandload`` reads only popcount(bits) elements (one ``vexpandps`` on AVX-512);
    with `PERMUTE_HALVES` up to 16 elements are read, so `array` must extend 16 past `index`.
    """
    signature = f32x16(array, index, bits, f32x16)

    def codegen(context, builder, sig, args):
        pointer = element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        mask = builder.bitcast(builder.trunc(args[2], ir.IntType(LANES)), _MASK)
        if PERMUTE_HALVES:  # 8 elements for each half (the low half's popcount apart), permuted into place
            low_bits, high_bits = _halves_of(builder, args[2])
            table = _table(builder.module, "nca_expand_rows", _expand_row)
            low = builder.load(builder.bitcast(pointer, _HALF.as_pointer()), align=4)
            after_low = builder.gep(pointer, [_popcount(builder, low_bits)])
            high = builder.load(builder.bitcast(after_low, _HALF.as_pointer()), align=4)
            both = builder.shuffle_vector(_permute(builder, low, table, low_bits),
                                          _permute(builder, high, table, high_bits),
                                          ir.Constant(ir.VectorType(ir.IntType(32), LANES), list(range(LANES))))
            return builder.select(mask, both, args[3])
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(_VECTOR, [ir.FloatType().as_pointer(), _MASK, _VECTOR]),
            "llvm.masked.expandload.v16f32",
        )
        return builder.call(function, [pointer, mask, args[3]])

    return signature, codegen


@intrinsic
def vsplat(typingctx, value):
    """A vector with every lane equal to the float32 `value`."""
    signature = f32x16(types.float32)

    def codegen(context, builder, sig, args):
        zero = ir.Constant(ir.IntType(32), 0)
        single = builder.insert_element(ir.Constant(_VECTOR, ir.Undefined), args[0], zero)
        lanes = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        return builder.shuffle_vector(single, ir.Constant(_VECTOR, ir.Undefined), lanes)

    return signature, codegen


@intrinsic
def vfma(typingctx, acc, a, b):
    """``acc + a * b`` lane by lane, fused (one rounding)."""
    signature = f32x16(f32x16, f32x16, f32x16)

    def codegen(context, builder, sig, args):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VECTOR, [_VECTOR] * 3), "llvm.fma.v16f32"
        )
        return builder.call(function, [args[1], args[2], args[0]])

    return signature, codegen


def _lanewise(method: str, doc: str):
    """An intrinsic applying the IR builder's binary float `method` lane by lane."""

    @intrinsic
    def operation(typingctx, a, b):
        signature = f32x16(f32x16, f32x16)

        def codegen(context, builder, sig, args):
            return getattr(builder, method)(args[0], args[1])

        return signature, codegen

    operation.__doc__ = doc
    return operation


vadd = _lanewise("fadd", "``a + b`` lane by lane.")
vsub = _lanewise("fsub", "``a - b`` lane by lane.")
vmul = _lanewise("fmul", "``a * b`` lane by lane.")


@intrinsic
def vrelu(typingctx, a):
    """``max(a, 0)`` lane by lane."""
    signature = f32x16(f32x16)

    def codegen(context, builder, sig, args):
        zero = ir.Constant(_VECTOR, [0.0] * LANES)
        positive = builder.fcmp_ordered(">", args[0], zero)
        return builder.select(positive, args[0], zero)

    return signature, codegen


@intrinsic
def fetch_add(typingctx, array, index, value):
    """Atomically ``old = array[index]; array[index] += value``; returns ``old`` (int64 array).

    Threads that take work items from one shared counter balance their load without numba's
    thread ids (functions that use those cannot be cached).
    """
    signature = types.int64(array, index, types.int64)

    def codegen(context, builder, sig, args):
        pointer = element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        return builder.atomic_rmw("add", pointer, args[2], "monotonic")

    return signature, codegen

"""Max pooling as the epilogue of a convolution's product, and its gradient.

When the product's rows are ordered window by window (the ``group`` = ph*pw
output pixels of each non-overlapping pooling window in consecutive rows, see
``conv.window_pixel_offsets``), pooling is a max over groups of rows, taken
while the block of rows is still in cache. The full-size convolution output is
never written: for the seed CNN's first layer at batch 128 that is 14.7 MB
written, read back by the pooling layer, and read twice more by the backward.

Bias and any non-decreasing activation commute with the max (max(f(z + b)) =
f(max(z) + b), exactly, as rounding is monotone too), so they run on the pooled
rows only. The gradient goes to the window's maximum, the first one in scan
order, as an unfused max pooling would route it; ``arg`` keeps its index.
"""
import llvmlite.ir as ir
import numpy as np
from numba import types
from numba.extending import intrinsic

from ._jit import kernel
from .scalars import smaller
from ..codes import LINEAR, RELU
from .activations import derivative
from .ir_loops import over_vectors
from .tile import V

_ZERO = np.float32(0.0)


@kernel(inner=True)
def max_over_windows(block, rows, group, y, w0, arg):
    """y[w0 + i] = the maximum of rows [i*group, (i+1)*group) of ``block`` (flat,
    rows of y's width) for each whole window i of the first ``rows`` rows; NaN
    wins (as unfused max pooling). ``arg`` (int8, y's shape, or empty) receives
    the index in its window of the row that gave each maximum (the first of
    equal ones).

    Windows of up to 4 rows (2x2, the usual pooling) take whole vectors of
    channels at a time (``_max_vectors``), the channels past the last whole
    vector one by one."""
    n = y.shape[1]
    keep = arg.shape[0] > 0
    last = group - 1
    whole = n // V * V
    y_flat = y.reshape(-1)
    arg_flat = arg.reshape(-1)
    for i in range(rows // group):
        base = i * group * n
        out = y[w0 + i]
        if group > 4:
            _max_of_rows(block[base:base + group * n], group, out,
                         arg[w0 + i] if keep else arg[0:0, 0], keep)
            continue
        if keep:
            _max_vectors(block, base, n, last, y_flat, (w0 + i) * n, arg_flat, True, whole)
        else:
            _max_vectors(block, base, n, last, y_flat, (w0 + i) * n, arg_flat, False, whole)
        for c in range(whole, n):
            m, a = block[base + c], np.int8(0)
            for q in range(1, 4):
                row = smaller(q, last)
                v = block[base + row * n + c]
                if v > m or v != v:
                    m, a = v, np.int8(row)
            out[c] = m
            if keep:
                arg[w0 + i, c] = a


_I64 = ir.IntType(64)


@intrinsic
def _max_vectors(typingctx, block, base, n, last, out, out0, at, keep, count):
    """For channels c < ``count`` (a multiple of V), V at a time: out[out0 + c] =
    the maximum over rows q = 0..3 of block[base + min(q, last)*n + c], NaN
    winning and the first of equal ones kept; with ``keep`` (a boolean literal)
    at[out0 + c] = that row's index.

    Emitted as vector compares and selects: the same loop in Python compiled
    to about 35 ns a window of 32 channels, most of it checks of whether its
    five arrays overlap, repeated for every window (13 ns this way)."""
    if not isinstance(keep, types.BooleanLiteral):
        return None
    with_index = keep.literal_value
    sig = types.void(block, base, n, last, out, out0, at, keep, count)

    def codegen(context, builder, signature, args):
        block_, base_, n_, last_, out_, out0_, at_, _, count_ = args

        def data(position, value):
            array = context.make_array(signature.args[position])
            return array(context, builder, value=value).data

        vec = ir.VectorType(ir.FloatType(), V)
        index_vec = ir.VectorType(ir.IntType(8), V)
        rows = []
        for q in range(4):
            row = builder.select(builder.icmp_signed("<", ir.Constant(_I64, q), last_),
                                 ir.Constant(_I64, q), last_)
            rows.append((row, builder.gep(data(0, block_), [builder.add(base_,
                                                                        builder.mul(row, n_))])))
        out_at = builder.gep(data(4, out_), [out0_])
        at_at = builder.gep(data(6, at_), [out0_]) if with_index else None
        splats = []
        for row, _ in rows:
            small = builder.trunc(row, ir.IntType(8))
            splats.append(builder.shuffle_vector(
                builder.insert_element(ir.Constant(index_vec, ir.Undefined), small,
                                       ir.Constant(ir.IntType(32), 0)),
                ir.Constant(index_vec, ir.Undefined),
                ir.Constant(ir.VectorType(ir.IntType(32), V), None)))

        def body(c):
            def load(pointer):
                return builder.load(builder.bitcast(builder.gep(pointer, [c]),
                                                    vec.as_pointer()), align=4)

            best = load(rows[0][1])
            index = ir.Constant(index_vec, None)
            for q in range(1, 4):
                value = load(rows[q][1])
                wins = builder.or_(builder.fcmp_ordered(">", value, best),
                                   builder.fcmp_unordered("uno", value, value))
                best = builder.select(wins, value, best)
                if with_index:
                    index = builder.select(wins, splats[q], index)
            builder.store(best, builder.bitcast(builder.gep(out_at, [c]), vec.as_pointer()),
                          align=4)
            if with_index:
                builder.store(index, builder.bitcast(builder.gep(at_at, [c]),
                                                     index_vec.as_pointer()), align=1)

        over_vectors(builder, count_, body, "max")
        return context.get_dummy_value()

    return sig, codegen


@kernel(inline=True)
def _max_of_rows(window, group, out, at, keep):
    """The same for a window of any number of rows, row by row."""
    n = out.shape[0]
    for c in range(n):
        out[c] = window[c]
    if keep:
        for c in range(n):
            at[c] = 0
    for g in range(1, group):
        row = window[g * n:(g + 1) * n]
        for c in range(n):
            v = row[c]
            win = v > out[c] or v != v
            if keep:
                at[c] = np.int8(g) if win else at[c]
            out[c] = v if win else out[c]


@kernel(inner=True)
def route_to_max(y, dy, arg, group, code, alpha, b, w0, w1, first, db_partial):
    """For windows [w0, w1): g = dy * f'(pooled output) (f's derivative from its
    output, as for every activation that may be fused); row w*group + arg - first
    of the product's B operand ``b`` (rows of >= y's width) receives g and the
    window's other rows 0. Adds g's column sums into ``db_partial`` unless it
    is empty.

    Windows of up to 4 rows write whole vectors of channels at a time
    (``_route_vectors``: ReLU's and the identity's g made there too), the
    channels past the last whole vector one by one."""
    n = y.shape[1]
    width = b.shape[1]
    sums = db_partial.shape[0] > 0
    whole = n // V * V if group <= 4 else 0
    b_flat = b.reshape(-1)
    gated = code == RELU
    # g is only kept for channels past the whole vectors or an activation other
    # than ReLU and the identity (this runs once a row of windows: no
    # allocation when it is not needed, an empty array of the same type)
    needed = whole < n or not (gated or code == LINEAR)
    value = np.empty(n, dtype=np.float32) if needed else b_flat[:0]
    for w in range(w0, w1):
        out, grad, at = y[w], dy[w], arg[w]
        if code == RELU:
            for c in range(whole, n):
                value[c] = grad[c] if out[c] > _ZERO else _ZERO
        elif code == LINEAR:
            for c in range(whole, n):
                value[c] = grad[c]
        else:
            for c in range(n):
                value[c] = grad[c] * derivative(code, out[c], out[c], alpha)
        source = value if not (gated or code == LINEAR) else grad
        _route_vectors(out, source, at, b_flat, (w * group - first) * width, width, group,
                       db_partial, gated, whole)
        if whole == width:
            continue
        # the rest: each of the window's rows written once, a select per channel
        for g in range(group):
            row = b[w * group + g - first]
            mine = np.int8(g)
            for c in range(whole, n):
                row[c] = value[c] if at[c] == mine else _ZERO
            for c in range(n, width):
                row[c] = _ZERO
        if sums:
            for c in range(whole, n):
                db_partial[c] += value[c]


@intrinsic
def _route_vectors(typingctx, out, grad, at, b, row0, width, group, db, relu, count):
    """For channels c < ``count`` (a multiple of V), V at a time: g = grad[c]
    (with ``relu``: where out[c] > 0, else 0); row q < ``group``
    (at most 4) of ``b`` from ``row0``, ``width`` floats apart, gets g where
    at[c] == q and 0 elsewhere; g is added into ``db`` unless it is empty.

    Emitted as vector selects and stores: compiled from Python the loops ran
    with checks of whether their arrays overlap, repeated for every window
    (51 ns a window of 32 channels on Zen 3)."""
    sig = types.void(out, grad, at, b, row0, width, group, db, relu, count)

    def codegen(context, builder, signature, args):
        out_, grad_, at_, b_, row0_, width_, group_, db_, relu_, count_ = args

        def array(position, value):
            return context.make_array(signature.args[position])(context, builder, value=value)

        vec = ir.VectorType(ir.FloatType(), V)
        index_vec = ir.VectorType(ir.IntType(8), V)
        out_ptr, grad_ptr = array(0, out_).data, array(1, grad_).data
        at_ptr, b_ptr = array(2, at_).data, array(3, b_).data
        db_array = array(7, db_)
        db_ptr = db_array.data
        sums = builder.icmp_signed(">", builder.extract_value(db_array.shape, 0),
                                   ir.Constant(_I64, 0))
        rows = [builder.gep(b_ptr, [builder.add(row0_, builder.mul(ir.Constant(_I64, q),
                                                                    width_))])
                for q in range(4)]

        def body(c):
            def at(pointer, kind=vec):
                return builder.bitcast(builder.gep(pointer, [c]), kind.as_pointer())

            g = builder.load(at(grad_ptr), align=4)
            gated = builder.select(builder.fcmp_unordered("<=", builder.load(at(out_ptr),
                                                                             align=4),
                                                          ir.Constant(vec, None)),
                                   ir.Constant(vec, None), g)
            g = builder.select(builder.icmp_signed("!=", relu_, ir.Constant(relu_.type, 0)),
                               gated, g)
            where = builder.load(at(at_ptr, index_vec), align=1)
            for q in range(4):
                with builder.if_then(builder.icmp_signed("<", ir.Constant(_I64, q), group_)):
                    mine = builder.icmp_signed("==", where, ir.Constant(index_vec, [q] * V))
                    builder.store(builder.select(mine, g, ir.Constant(vec, None)), at(rows[q]),
                                  align=4)
            with builder.if_then(sums):
                total = at(db_ptr)
                builder.store(builder.fadd(builder.load(total, align=4), g), total, align=4)

        over_vectors(builder, count_, body, "route")
        return context.get_dummy_value()

    return sig, codegen

"""Fixed linear maps applied to channel vectors: the Winograd transforms.

``apply_map(kind, src, src0, src_off, dst, dst0, dst_off, count)`` computes, for
every channel c < ``count`` (a multiple of the vector width V),

    dst[dst0 + dst_off[q] + c] = sum_p M[q, p] * src[src0 + src_off[p] + c]

for the map M named by ``kind`` (an integer literal: ``INPUT_TILE``,
``OUTPUT_TILE`` and ``WEIGHTS`` for F(2x2, 3x3), ``GRADIENT_TILE`` and
``FILTER_GRADIENT`` for its weight gradient, ``INPUT_GRADIENT`` for its input
gradient, ``INPUT_TILE_6``, ``OUTPUT_TILE_6`` for F(4x4, 3x3), ``ZEROS``, ``COPY``), M being a
product of stages (``STAGES``) of small constant matrices. The maps in
``ADDS_INTO`` add their results to dst (``+=``): tiles that overlap.

It is emitted as LLVM IR through a Numba intrinsic, as ``tile.py``'s
micro-kernel is: the same loop written in Python reads 16 and writes 16
places per channel, and LLVM's vectoriser, which cannot rule out that those
places overlap, left it scalar (1.6 us a tile of 32 channels, about what the
direct convolution spends on the tile). Here each stage is a handful of
vector adds (and, for F(4x4, 3x3), multiplies by constants), the offsets are
read once, and zero coefficients cost nothing.
"""
import llvmlite.ir as ir
import numpy as np
from numba import types
from numba.extending import intrinsic

from .ir_loops import over_vectors
from .tile import V

_I64 = ir.IntType(64)

#: Winograd F(2x2, 3x3) (Lavin and Gray, 2015): a 4x4 input tile d becomes
#: B^T d B, a 3x3 filter g becomes G g G^T, and the 2x2 output is A^T m A.
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
#: F(4x4, 3x3) (same paper): 6x6 input tiles, 4x4 outputs, 36 products where the
#: direct convolution spends 144 multiply-adds (4x; F(2x2, 3x3): 2.25x), at the
#: price of a larger rounding error (coefficients up to 8 and 1/24)
B6_T = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
                dtype=np.float64)
G6 = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64)
A6_T = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                 [0, 1, -1, 8, -8, 1]], dtype=np.float64)


def _rows_then_columns(left, right):
    """The two stages of X -> left @ X @ right.T for a square-indexed tile X
    flattened row-major: first every row times right.T, then the columns by
    ``left``. Separable, they take about half the adds of the 16-term map."""
    n_in = right.shape[1]
    n_mid = right.shape[0]
    rows = left.shape[1]
    first = np.zeros((rows * n_mid, rows * n_in))
    for i in range(rows):
        first[i * n_mid:(i + 1) * n_mid, i * n_in:(i + 1) * n_in] = right
    second = np.zeros((left.shape[0] * n_mid, rows * n_mid))
    for a in range(left.shape[0]):
        for i in range(rows):
            second[a * n_mid:(a + 1) * n_mid, i * n_mid:(i + 1) * n_mid] = left[a, i] * np.eye(n_mid)
    return first, second


(INPUT_TILE, OUTPUT_TILE, INPUT_TILE_6, OUTPUT_TILE_6, WEIGHTS, GRADIENT_TILE, FILTER_GRADIENT,
 INPUT_GRADIENT, ZEROS, COPY) = range(10)
#: each map as its stages, applied first to last
STAGES = {
    WEIGHTS: _rows_then_columns(G, G),              # 9 -> 16: G g G^T
    INPUT_TILE: _rows_then_columns(B_T, B_T),       # 16 -> 16: B^T d B
    OUTPUT_TILE: _rows_then_columns(A_T, A_T),      # 16 -> 4: A^T m A
    INPUT_TILE_6: _rows_then_columns(B6_T, B6_T),   # 36 -> 36
    OUTPUT_TILE_6: _rows_then_columns(A6_T, A6_T),  # 36 -> 16
    # the weight gradient (``winograd_gradient.py``): the transposes of
    # OUTPUT_TILE and WEIGHTS
    GRADIENT_TILE: _rows_then_columns(A_T.T, A_T.T),  # 4 -> 16: A D A^T
    FILTER_GRADIENT: _rows_then_columns(G.T, G.T),    # 16 -> 9: G^T N G
    # the input gradient (``winograd_gradient.py``): INPUT_TILE transposed,
    # added into the image, where neighbouring 4x4 tiles overlap
    INPUT_GRADIENT: _rows_then_columns(B_T.T, B_T.T),  # 16 -> 16: B P B^T
    # the zero and identity maps: clear or copy a run of ``count`` floats (no
    # vectoriser's loop versions to compile, as a plain loop has)
    ZEROS: (np.zeros((1, 1)),),
    COPY: (np.eye(1),),
}
#: the maps whose results are added to dst rather than stored
ADDS_INTO = frozenset({INPUT_GRADIENT})


def dense_map(kind):
    """The whole map as one matrix (for tests and references)."""
    out = np.eye(STAGES[kind][0].shape[1])
    for stage in STAGES[kind]:
        out = stage @ out
    return out


def _combine(builder, stage, vectors):
    """Each output of ``stage`` as adds and subtracts of ``vectors``, a term with
    a coefficient other than +-1 multiplied by it first."""
    out = []
    for row in stage:
        total = None
        for coefficient, x in zip(row, vectors):
            if coefficient == 0:
                continue
            if abs(coefficient) != 1:
                x = builder.fmul(x, ir.Constant(x.type, [float(abs(coefficient))] * V))
            if total is None:
                total = x if coefficient > 0 else builder.fneg(x)
            else:
                total = builder.fadd(total, x) if coefficient > 0 else builder.fsub(total, x)
        out.append(total if total is not None else ir.Constant(vectors[0].type, None))
    return out


@intrinsic
def apply_map(typingctx, kind, src, src0, src_off, dst, dst0, dst_off, count):
    """dst[dst0 + dst_off[q] + c] = sum_p M[q, p] src[src0 + src_off[p] + c], c < count
    (a multiple of V; ``+=`` for the maps in ADDS_INTO); ``kind`` must be an
    integer literal naming the map."""
    if not isinstance(kind, types.IntegerLiteral):
        return None
    stages = STAGES[kind.literal_value]
    adds = kind.literal_value in ADDS_INTO
    n_in, n_out = stages[0].shape[1], stages[-1].shape[0]
    sig = types.void(kind, src, src0, src_off, dst, dst0, dst_off, count)

    def codegen(context, builder, signature, args):
        _, src_, src0_, src_off_, dst_, dst0_, dst_off_, count_ = args

        def data(position, value):
            array = context.make_array(signature.args[position])
            return array(context, builder, value=value).data

        src_ptr, dst_ptr = data(1, src_), data(4, dst_)
        src_offsets, dst_offsets = data(3, src_off_), data(6, dst_off_)
        vec = ir.VectorType(ir.FloatType(), V)
        # every offset read once, before the loop
        src_at = [builder.gep(src_ptr, [builder.add(src0_, builder.load(
            builder.gep(src_offsets, [ir.Constant(_I64, p)])))]) for p in range(n_in)]
        dst_at = [builder.gep(dst_ptr, [builder.add(dst0_, builder.load(
            builder.gep(dst_offsets, [ir.Constant(_I64, q)])))]) for q in range(n_out)]

        def body(c):
            values = [builder.load(builder.bitcast(builder.gep(at, [c]), vec.as_pointer()),
                                   align=4) for at in src_at]
            for stage in stages:
                values = _combine(builder, stage, values)
            for at, value in zip(dst_at, values):
                target = builder.bitcast(builder.gep(at, [c]), vec.as_pointer())
                if adds:
                    value = builder.fadd(builder.load(target, align=4), value)
                builder.store(value, target, align=4)

        over_vectors(builder, count_, body, "map")
        return context.get_dummy_value()

    return sig, codegen

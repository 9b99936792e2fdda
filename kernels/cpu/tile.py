"""The register-tile micro-kernel every CPU matrix product runs on.

``tile_fma`` computes one MR x (NV*V) block of C = A @ B with all of its
accumulators in vector registers for the whole reduction, then writes (or adds)
the block once. It is emitted as LLVM IR through a Numba intrinsic because the
loop vectoriser does not keep a 2-D accumulator in registers, and explicit
``<V x float>`` vectors let LLVM use the widest registers the host has (zmm with
AVX-512) whatever vector width a BLAS library was told to use.

A is never packed: element (i, p) is read at ``a[arow[r0 + i] + acol[p]]``. Two offset
tables describe a plain row-major matrix, its transpose, or the patches of a
convolution read straight from the NHWC input (implicit im2col). B is row-major,
row p at ``b[b0 + p*ldb]``. The caller guarantees that every B row can be read
for NV*V floats (pad its columns) and that C row i at ``c[c0 + i*ldc]`` can take
NV*V floats for each of the first ``m_valid`` rows; rows past ``m_valid`` are
computed from the last valid row again and not stored.
"""
import llvmlite.binding as llvm
import llvmlite.ir as ir
from numba import types
from numba.core import config
from numba.core import cgutils
from numba.extending import intrinsic

#: float32 lanes per vector register of the CPU Numba compiles for (the host,
#: or NUMBA_CPU_FEATURES): 16 with AVX-512, else 8 (AVX2; narrower hardware
#: splits each vector, which is still correct).
_FEATURES = config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()
V = 16 if "+avx512f" in _FEATURES.split(",") else 8

_I64 = ir.IntType(64)
_I32 = ir.IntType(32)


def _const(value):
    return ir.Constant(_I64, value)


def _no_unroll(module):
    """Loop metadata that forbids unrolling. Unrolled twice, the loop's broadcasts
    get scheduled ahead of their FMAs and no longer fit in registers (spills)."""
    loop_id = module.add_metadata([module.add_metadata([ir.MetaDataString(
        module, "llvm.loop.unroll.disable")])])
    loop_id.operands = (loop_id,) + loop_id.operands   # a loop ID names itself
    return loop_id


@intrinsic
def tile_fma(typingctx, mr, nv, k, a, arow, r0, acol, acol0, b, b0, ldb, c, c0, ldc, m_valid,
             accumulate):
    """C[i, :NV*V] (+)= sum_{p<k} a[arow[r0 + i] + acol[acol0 + p]] * B[p, :NV*V],
    i < m_valid.

    ``mr`` and ``nv`` must be compile-time integer literals; they fix the tile.
    """
    if not (isinstance(mr, types.IntegerLiteral) and isinstance(nv, types.IntegerLiteral)):
        return None
    rows, vectors = mr.literal_value, nv.literal_value
    sig = types.void(mr, nv, k, a, arow, r0, acol, acol0, b, b0, ldb, c, c0, ldc, m_valid,
                     accumulate)

    def codegen(context, builder, signature, args):
        (_, _, k_, a_, arow_, r0_, acol_, acol0_, b_, b0_, ldb_, c_, c0_, ldc_, m_valid_,
         accumulate_) = args

        def data(position, value):
            array = context.make_array(signature.args[position])
            return array(context, builder, value=value).data

        a_ptr, arow_ptr, acol_ptr = data(3, a_), data(4, arow_), data(6, acol_)
        b_ptr, c_ptr = data(8, b_), data(11, c_)
        vec = ir.VectorType(ir.FloatType(), V)
        vec_ptr = vec.as_pointer()
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.v{V}f32")
        zero = ir.Constant(vec, None)
        undef = ir.Constant(vec, ir.Undefined)
        broadcast = ir.Constant(ir.VectorType(_I32, V), None)

        def vector_at(row_ptr, v):
            return builder.bitcast(builder.gep(row_ptr, [_const(v * V)]), vec_ptr)

        # row i's offset, or (past m_valid) the last valid row's
        last = builder.sub(m_valid_, _const(1))
        row_base = []
        for i in range(rows):
            row = _const(i) if i == 0 else builder.select(
                builder.icmp_signed("<", _const(i), m_valid_), _const(i), last)
            offset_i = builder.load(builder.gep(arow_ptr, [builder.add(r0_, row)]))
            row_base.append(builder.gep(a_ptr, [offset_i]))
        # C's rows are read (accumulate) or written once, after the whole
        # reduction: fetched now, they arrive while the tile computes
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), _I32,
                                                            _I32, _I32]), "llvm.prefetch.p0i8")
        for i in range(rows):
            c_row = builder.gep(c_ptr, [builder.add(c0_, builder.mul(_const(i), ldc_))])
            for offset in sorted({0, vectors * V - 1}):
                target = builder.bitcast(builder.gep(c_row, [_const(offset)]),
                                         ir.IntType(8).as_pointer())
                builder.call(prefetch, [target, ir.Constant(_I32, 1), ir.Constant(_I32, 3),
                                        ir.Constant(_I32, 1)])
        entry = builder.basic_block
        loop = builder.append_basic_block("tile.loop")
        done = builder.append_basic_block("tile.done")
        builder.cbranch(builder.icmp_signed(">", k_, _const(0)), loop, done)

        # loop: one rank-1 update of the register tile per reduction index p
        builder.position_at_end(loop)
        p = builder.phi(_I64)
        p.add_incoming(_const(0), entry)
        acc = [[builder.phi(vec) for _ in range(vectors)] for _ in range(rows)]
        offset = builder.load(builder.gep(acol_ptr, [builder.add(acol0_, p)]))
        b_row = builder.gep(b_ptr, [builder.add(b0_, builder.mul(p, ldb_))])
        b_vec = [builder.load(vector_at(b_row, v), align=4) for v in range(vectors)]
        updated = []
        for i in range(rows):
            scalar = builder.load(builder.gep(row_base[i], [offset]))
            splat = builder.shuffle_vector(
                builder.insert_element(undef, scalar, ir.Constant(_I32, 0)), undef, broadcast)
            updated.append([builder.call(fma, [splat, b_vec[v], acc[i][v]])
                            for v in range(vectors)])
        p_next = builder.add(p, _const(1))
        p.add_incoming(p_next, loop)
        for i in range(rows):
            for v in range(vectors):
                acc[i][v].add_incoming(zero, entry)
                acc[i][v].add_incoming(updated[i][v], loop)
        back = builder.cbranch(builder.icmp_signed("<", p_next, k_), loop, done)
        back.set_metadata("llvm.loop", _no_unroll(builder.module))

        # done: write (or add) the valid rows
        builder.position_at_end(done)
        results = [[builder.phi(vec) for _ in range(vectors)] for _ in range(rows)]
        for i in range(rows):
            for v in range(vectors):
                results[i][v].add_incoming(zero, entry)
                results[i][v].add_incoming(updated[i][v], loop)
        # C is only read when the tile adds to it: a written C row need not
        # arrive before its store
        with builder.if_else(accumulate_) as (adding, writing):
            for add in (True, False):
                with (adding if add else writing):
                    for i in range(rows):
                        with builder.if_then(builder.icmp_signed(">", m_valid_, _const(i))):
                            c_row = builder.gep(c_ptr, [builder.add(c0_, builder.mul(_const(i),
                                                                                     ldc_))])
                            for v in range(vectors):
                                target = vector_at(c_row, v)
                                value = results[i][v]
                                if add:
                                    value = builder.fadd(builder.load(target, align=4), value)
                                builder.store(value, target, align=4)
        return context.get_dummy_value()

    return sig, codegen

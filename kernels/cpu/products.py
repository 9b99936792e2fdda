"""The two parallel products every Dense and Conv2D pass is made of.

``product_rows``: z = A @ B (+ bias), y = f(z), rows split over the threads,
the epilogue run on each block of rows while it is still in cache. Forward
passes and input gradients (with a linear "activation") use it.

``weight_gradient``: dz = dy * f'(z), db = column sums of dz, and
dw = A^T dz, the reduction (rows of z: samples or output pixels) split over the
threads and the per-thread partial sums added at the end.

A is read through offset tables (``gemm.py``), so a dense layer, a convolution
and their transposes are all the same two compiled kernels: Numba compiles each
kernel once with every callee inlined, and a copy per caller cost seconds of
compile time each.
"""
import numpy as np
from numba import prange

from ._jit import kernel
from .activations import bias_activation_rows, activation_grad_rows, row_range, sum_partials
from .gemm import gemm_rows, copy_rows, padded_width

#: output rows per GEMM call, so the epilogue finds them still in cache
_ROWS = 128
#: index 0 as a plain int64: a literal 0 would make Numba compile gemm_rows again
#: for that argument's literal type
_FIRST = np.int64(0)


@kernel
def no_bias():
    """The empty bias of a product without one (made here, not a global constant:
    a frozen global array is read-only, another type, another compilation)."""
    return np.zeros(0, dtype=np.float32)


@kernel(parallel=True)
def product_rows(a, row_off, col_off, b, bias, code, alpha, z, y, chunks):
    """z[r] = sum_p a[row_off[r] + col_off[p]] * b[p, :n] (+ bias); y = f(z).

    ``b`` is (len(col_off), >= padded_width(n)) with n = z.shape[1]; ``y`` may
    be ``z``; ``bias`` may be empty.
    """
    rows, n = z.shape
    depth = col_off.shape[0]
    bf, zf = b.reshape(-1), z.reshape(-1)
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        for s in range(r0, r1, _ROWS):
            e = min(r1, s + _ROWS)
            gemm_rows(a, row_off, s, e, col_off, _FIRST, depth, bf, b.shape[1], n, zf, n, False)
            bias_activation_rows(z, bias, code, alpha, y, s, e)


@kernel(parallel=True)
def weight_gradient(a, row_off, col_off, z, y, dy, code, alpha, dz, dw, db, chunks):
    """dz = dy * f'(z); db = sum of dz's rows (unless empty);
    dw[m] = sum_p a[row_off[m] + col_off[p]] * dz[p] over every row p of z.

    ``dz`` is workspace of z's shape and may be ``dy``.
    """
    pixels, n = z.shape
    depth = row_off.shape[0]
    npad = padded_width(n)
    dzb = dz if npad == n else np.zeros((pixels, npad), dtype=np.float32)
    dw_partial = np.empty((chunks, depth, n), dtype=np.float32)
    db_partial = np.zeros((chunks, db.shape[0]), dtype=np.float32)
    bf = dzb.reshape(-1)
    for t in prange(chunks):
        p0, p1 = row_range(pixels, chunks, t)
        activation_grad_rows(z, y, dy, code, alpha, dz, p0, p1, db_partial[t])
        if npad != n:
            copy_rows(dz, dzb, p0, p1)
        gemm_rows(a, row_off, _FIRST, depth, col_off, p0, p1, bf, npad, n,
                  dw_partial[t].reshape(-1), n, False)
    sum_partials(dw_partial, dw)
    if db.shape[0] > 0:
        sum_partials(db_partial, db)

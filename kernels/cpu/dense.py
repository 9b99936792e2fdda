"""Dense (fully connected) layer and plain matmul, on the register-tile GEMM.

Forward:  z = x @ w (+ b), y = f(z).
Backward: dz = dy * f'(z), db = sum(dz), dw = x^T dz, dx = dz w^T.

x^T is read in place (the offset tables of ``gemm.py`` swapped); w^T, which
is small, is copied once per step into the padded form a B operand needs. Rows
(samples) are split over ``chunks`` threads for the forward pass and dx, the
rows of dw over threads for dw, so no partial sums are needed there.
"""
import numpy as np
from numba import prange

from ._jit import kernel
from .activations import bias_activation_rows, activation_grad_rows, row_range, sum_partials
from .gemm import gemm_rows, copy_rows, pad_columns, padded_width, strided_offsets

#: rows per GEMM call, so the epilogue finds them still in cache
_ROWS = 256


@kernel(parallel=True)
def matmul(a, b, out, chunks):
    """out = a @ b, rows split over ``chunks`` threads."""
    m, k = a.shape
    n = b.shape[1]
    bp = pad_columns(b, padded_width(n))
    rows, cols = strided_offsets(m, k), strided_offsets(k, 1)
    af, bf, of = a.reshape(-1), bp.reshape(-1), out.reshape(-1)
    for t in prange(chunks):
        r0, r1 = row_range(m, chunks, t)
        gemm_rows(af, rows, r0, r1, cols, 0, k, bf, bp.shape[1], n, of, n, False)


@kernel(parallel=True)
def dense_forward(x, w, b, code, alpha, z, y, chunks):
    """z = x @ w + b; y = f(z). ``y`` may be ``z``; ``b`` may be empty."""
    m, k = x.shape
    n = w.shape[1]
    wp = pad_columns(w, padded_width(n))
    rows, cols = strided_offsets(m, k), strided_offsets(k, 1)
    xf, wf, zf = x.reshape(-1), wp.reshape(-1), z.reshape(-1)
    for t in prange(chunks):
        r0, r1 = row_range(m, chunks, t)
        for s in range(r0, r1, _ROWS):
            e = min(r1, s + _ROWS)
            gemm_rows(xf, rows, s, e, cols, 0, k, wf, wp.shape[1], n, zf, n, False)
            bias_activation_rows(z, b, code, alpha, y, s, e)


@kernel(parallel=True)
def dense_backward(x, w, z, y, dy, code, alpha, dz, dw, db, dx, chunks):
    """Parameter gradients into ``dw``/``db`` and, unless ``dx`` is empty, the input
    gradient. ``dz`` is workspace of z's shape (it may be ``dy``)."""
    m, k = x.shape
    n = w.shape[1]
    npad = padded_width(n)
    dzb = dz if npad == n else np.zeros((m, npad), dtype=np.float32)
    db_partial = np.zeros((chunks, db.shape[0]), dtype=np.float32)
    for t in prange(chunks):
        r0, r1 = row_range(m, chunks, t)
        activation_grad_rows(z, y, dy, code, alpha, dz, r0, r1, db_partial[t])
        if npad != n:
            copy_rows(dz, dzb, r0, r1)
    if db.shape[0] > 0:
        sum_partials(db_partial, db)
    # dw (k, n): row i of x^T is column i of x
    xf, dzf, dwf = x.reshape(-1), dzb.reshape(-1), dw.reshape(-1)
    features, samples = strided_offsets(k, 1), strided_offsets(m, k)
    for t in prange(chunks):
        r0, r1 = row_range(k, chunks, t)
        gemm_rows(xf, features, r0, r1, samples, 0, m, dzf, npad, n, dwf, n, False)
    if dx.shape[0] > 0:
        _input_gradient(dz, w, dx, chunks)


@kernel(parallel=True)
def _input_gradient(dz, w, dx, chunks):
    """dx = dz @ w^T."""
    m, n = dz.shape
    k = w.shape[0]
    wt = pad_columns(np.ascontiguousarray(w.T), padded_width(k))
    rows, cols = strided_offsets(m, n), strided_offsets(n, 1)
    df, wtf, dxf = dz.reshape(-1), wt.reshape(-1), dx.reshape(-1)
    for t in prange(chunks):
        r0, r1 = row_range(m, chunks, t)
        gemm_rows(df, rows, r0, r1, cols, 0, n, wtf, wt.shape[1], k, dxf, k, False)

"""Dense (fully connected) layer: BLAS GEMM with a fused bias + activation epilogue.

Forward:  z = x @ w (+ b), y = f(z).
Backward: dz = dy * f'(z), db = sum(dz), dw = x^T dz, dx = dz w^T.

Parallelism: the rows (samples) are split into ``chunks`` parts, one per thread;
each part runs a single-threaded BLAS call and its epilogue, so the only thread
pool is Numba's and a layer is one parallel region. Gradients that sum over rows
(dw, db) are formed per chunk and reduced after. ``np.dot`` inside @njit goes to
the BLAS SciPy ships; the backend pins that BLAS to one thread.
"""
import numpy as np
from numba import prange

from ._jit import kernel
from .activations import bias_activation_rows, activation_grad_rows, row_range, sum_partials


@kernel(parallel=True)
def matmul(a, b, out, chunks):
    """out = a @ b, rows split over ``chunks`` threads."""
    for t in prange(chunks):
        r0, r1 = row_range(a.shape[0], chunks, t)
        if r0 < r1:
            np.dot(a[r0:r1], b, out[r0:r1])


@kernel(parallel=True)
def dense_forward(x, w, b, code, alpha, z, y, chunks):
    """z = x @ w + b; y = f(z). ``y`` may be ``z``; ``b`` may be empty."""
    for t in prange(chunks):
        r0, r1 = row_range(x.shape[0], chunks, t)
        if r0 < r1:
            np.dot(x[r0:r1], w, z[r0:r1])
            bias_activation_rows(z, b, code, alpha, y, r0, r1)


@kernel(parallel=True)
def dense_backward(x, w, z, y, dy, code, alpha, dz, dw, db, dx, chunks):
    """Parameter gradients into ``dw``/``db`` and, unless ``dx`` is empty, the input
    gradient. ``dz`` is workspace of z's shape (it may be ``dy``)."""
    rows = x.shape[0]
    dw_partial = np.zeros((chunks,) + dw.shape, dtype=np.float32)
    db_partial = np.zeros((chunks, db.shape[0]), dtype=np.float32)
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        if r0 < r1:
            activation_grad_rows(z, y, dy, code, alpha, dz, r0, r1, db_partial[t])
            np.dot(x[r0:r1].T, dz[r0:r1], dw_partial[t])
            if dx.shape[0] > 0:
                np.dot(dz[r0:r1], w.T, dx[r0:r1])
    sum_partials(dw_partial, dw)
    if db.shape[0] > 0:
        sum_partials(db_partial, db)

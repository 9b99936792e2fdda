"""Dense (fully connected) layer and plain matmul, as the two shared products.

Forward:  z = x @ w (+ b), y = f(z)                  product_rows
Backward: dz = dy * f'(z), db = sum(dz), dw = x^T dz  weight_gradient
          dx = dz w^T                                 product_rows, linear

x and x^T are read in place through offset tables (row r of x starts at r*k;
as x^T, "row" m is column m: offset m, then k per sample). w^T, which is small,
is copied once per step into the padded form a B operand needs. These are host
functions: the compiled work is the one product kernel (``products.py``).
"""
import numpy as np

from ..codes import LINEAR
from .gemm import pad_columns, padded_width, strided_offsets
from .products import no_bias, product_rows, weight_gradient


def matmul(a, b, out, chunks):
    """out = a @ b, rows split over ``chunks`` threads."""
    m, k = a.shape
    bp = pad_columns(b, padded_width(b.shape[1]))
    product_rows(a.reshape(-1), strided_offsets(m, k), strided_offsets(k, 1), bp, no_bias(),
                 LINEAR, 0.0, out, out, chunks)


def dense_forward(x, w, b, code, alpha, z, y, chunks):
    """z = x @ w + b; y = f(z). ``y`` may be ``z``; ``b`` may be empty."""
    m, k = x.shape
    wp = pad_columns(w, padded_width(w.shape[1]))
    product_rows(x.reshape(-1), strided_offsets(m, k), strided_offsets(k, 1), wp, b,
                 code, alpha, z, y, chunks)


def dense_backward(x, w, z, y, dy, code, alpha, dz, dw, db, dx, chunks):
    """Parameter gradients into ``dw``/``db`` and, unless ``dx`` is empty, the input
    gradient. ``dz`` is workspace of z's shape (it may be ``dy``)."""
    m, k = x.shape
    n = w.shape[1]
    weight_gradient(x.reshape(-1), strided_offsets(k, 1), strided_offsets(m, k), z, y, dy,
                    code, alpha, dz, dw, db, chunks)
    if dx.shape[0] > 0:
        wt = pad_columns(np.ascontiguousarray(w.T), padded_width(k))
        product_rows(dz.reshape(-1), strided_offsets(m, n), strided_offsets(n, 1), wt,
                     no_bias(), LINEAR, 0.0, dx, dx, chunks)

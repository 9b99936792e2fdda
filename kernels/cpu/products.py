"""The two parallel products every Dense and Conv2D pass is made of, on ONE
compiled entry.

``product_rows``: z = A @ B (+ bias), y = f(z), rows split over the threads,
the epilogue run on each block of rows while it is still in cache. Forward
passes and input gradients (with a linear "activation") use it.

``weight_gradient``: dz = dy * f'(z), db = column sums of dz, and
dw = A^T dz, the reduction (rows of z: samples or output pixels) split over the
threads and the per-thread partial sums added at the end.

A is read through offset tables (``gemm.py``), so a dense layer, a convolution
and their transposes are all one compiled kernel, ``_product``, whose two
directions share one inlined copy of the GEMM. Numba optimises and translates a
callee's code again inside each caller, so the compile time of the tiles is paid
once per entry point: here once for every layer (it was five times for each of
seven kernels). The callers (dense, conv) are plain Python functions for the
same reason, as a CUDA kernel's host launcher would be.
"""
import numpy as np
from numba import prange

from ._jit import kernel
from .activations import bias_activation_rows, activation_grad_rows, row_range, sum_partials
from .gemm import gemm_rows, copy_rows, pack_b, padded_width
from .tile import V

#: output rows per GEMM call, so the epilogue finds them still in cache
_ROWS = 128
#: index 0 as a plain int64: a literal 0 would compile a callee once more
_FIRST = np.int64(0)
_EMPTY1 = np.zeros(0, dtype=np.float32)


def _flat_view(a):
    """``a`` as a 1-D view (an error, never a silent copy, if it cannot be one)."""
    flat = a.view()
    flat.shape = (a.size,)
    return flat


def no_bias():
    """The empty bias of a product without one."""
    return _EMPTY1


def product_rows(a, row_off, col_off, b, bias, code, alpha, z, y, chunks):
    """z[r] = sum_p a[row_off[r] + col_off[p]] * b[p, :n] (+ bias); y = f(z).

    ``b`` is (len(col_off), >= padded_width(n)) with n = z.shape[1]; ``y`` may
    be ``z``; ``bias`` may be empty.
    """
    rows, n = z.shape
    ldb = b.shape[1]
    if ldb > 4 * V and rows >= 64 * chunks:
        # weights that every row block reads: packed into panels once, here
        packed = np.empty((b.shape[0], padded_width(n)), dtype=np.float32)
        pack_b(b, n, packed.reshape(-1))
        b, ldb = packed, 0
    _product(a, row_off, col_off, b, ldb, bias, np.int64(code), np.float32(alpha), z, y, z, z,
             _EMPTY1, _EMPTY1, chunks)


def weight_gradient(a, row_off, col_off, z, y, dy, code, alpha, dz, dw, db, chunks):
    """dz = dy * f'(z); db = sum of dz's rows (unless empty);
    dw[m] = sum_p a[row_off[m] + col_off[p]] * dz[p] over every row p of z.

    ``dz`` is workspace of z's shape and may be ``dy``.
    """
    pixels, n = z.shape
    npad = padded_width(n)
    dzb = np.zeros((pixels, npad), dtype=np.float32) if npad != n else dz
    _product(a, row_off, col_off, dzb, npad, _EMPTY1, np.int64(code), np.float32(alpha), z, y,
             dy, dz, _flat_view(dw), db, chunks)


@kernel(parallel=True)
def _product(a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw, db, chunks):
    """product_rows when ``dw`` (flat) is empty, else weight_gradient (see those),
    with ``b`` the padded dz (it may be ``dz``). ``ldb`` is b's row length, or 0
    when ``b`` is packed by pack_b.

    Both directions run the same loop, so the GEMM has one call site: forward,
    chunk t owns rows of z and the whole reduction; weight gradient, chunk t
    owns a slice of z's rows (the reduction) and all of its partial dw, and the
    partials are then summed, split over the threads by element.
    """
    grad = dw.shape[0] > 0
    pixels, n = z.shape
    m = row_off.shape[0]
    bf = b.reshape(-1)
    zf = z.reshape(-1)
    dw_partial = np.empty((chunks if grad else 0, dw.shape[0]), dtype=np.float32)
    db_partial = np.zeros((chunks, db.shape[0]), dtype=np.float32)
    for t in prange(chunks):
        if grad:
            k0, k1 = row_range(pixels, chunks, t)
            activation_grad_rows(z, y, dy, code, alpha, dz, k0, k1, db_partial[t])
            if b.shape[1] != n:
                copy_rows(dz, b, k0, k1)
            r0, r1, block = _FIRST, m, max(m, 1)
            c = dw_partial[t]
        else:
            r0, r1 = row_range(m, chunks, t)
            k0, k1, block = _FIRST, col_off.shape[0], _ROWS
            c = zf
        for s in range(r0, r1, block):
            e = min(r1, s + block)
            gemm_rows(a, row_off, s, e, col_off, k0, k1, bf, ldb, n, c, n, False)
            if not grad:
                bias_activation_rows(z, bias, code, alpha, y, s, e)
    if grad:  # (a parallel loop of no iterations still wakes every thread)
        for k in prange(dw.shape[0]):
            total = dw_partial[0, k]
            for t in range(1, chunks):
                total += dw_partial[t, k]
            dw[k] = total
    if db.shape[0] > 0:
        sum_partials(db_partial, db)

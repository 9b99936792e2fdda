"""2-D convolution, NHWC, kernel (kh, kw, in, out): im2col + BLAS GEMM.

The kernel reshaped to (kh*kw*in, out) is already the GEMM's right operand, and
im2col writes each patch in the same (i, j, channel) order, so no weight copy is
needed. Padding is applied inside im2col (zeros), never by padding the input.
Forward:  cols = im2col(x); z = cols @ w2 (+ b); y = f(z).
Backward: dz = dy * f'(z); db = sum(dz); dw2 = cols^T dz; dcols = dz w2^T; dx = col2im(dcols)
(per cache block, so ``cols`` is left intact).

Like Dense, the output rows are split into ``chunks`` parts, one per thread, and
each part runs im2col, a single-threaded GEMM and the epilogue back to back
while its slice of ``cols`` is still in cache. Within a kernel row of a patch
the ``kw * in`` inputs are contiguous in NHWC, so they are copied as one span.
"""
import numpy as np
from numba import prange

from ._jit import kernel
from .activations import bias_activation_rows, activation_grad_rows, row_range, sum_partials

_ZERO = np.float32(0.0)


@kernel
def _im2col_rows(x, kh, kw, sh, sw, pad_top, pad_left, oh, ow, cols, r0, r1, first_row):
    """Patches of output rows [r0, r1) into ``cols``, whose row 0 is ``first_row``."""
    n, h, w, c = x.shape
    span = kw * c
    flat = x.reshape(-1)
    for row in range(r0, r1):
        out = row - first_row
        b = row // (oh * ow)
        p = (row // ow) % oh
        q = row % ow
        w0 = q * sw - pad_left
        for i in range(kh):
            hi = p * sh + i - pad_top
            base = i * span
            if hi < 0 or hi >= h:
                for k in range(span):
                    cols[out, base + k] = _ZERO
            elif w0 >= 0 and w0 + kw <= w:
                start = ((b * h + hi) * w + w0) * c
                for k in range(span):
                    cols[out, base + k] = flat[start + k]
            else:
                for j in range(kw):
                    wi = w0 + j
                    inside = wi >= 0 and wi < w
                    for ch in range(c):
                        cols[out, base + j * c + ch] = x[b, hi, wi, ch] if inside else _ZERO


@kernel(parallel=True)
def im2col(x, kh, kw, sh, sw, pad_top, pad_left, oh, ow, cols, chunks):
    """cols[(n, p, q), (i, j, c)] = x[n, p*sh + i - pad_top, q*sw + j - pad_left, c] (0 outside)."""
    for t in prange(chunks):
        r0, r1 = row_range(cols.shape[0], chunks, t)
        _im2col_rows(x, kh, kw, sh, sw, pad_top, pad_left, oh, ow, cols, r0, r1, 0)


@kernel
def _col2im_rows(dcols, r0, kh, kw, sh, sw, pad_top, pad_left, oh, ow, dx):
    """Add patch gradients ``dcols`` (row k is output row r0 + k) into ``dx``.

    The ``kw * in`` values of a patch row are added as one contiguous span.
    """
    n, h, w, c = dx.shape
    span = kw * c
    flat = dx.reshape(-1)
    for k in range(dcols.shape[0]):
        row = r0 + k
        b = row // (oh * ow)
        p = (row // ow) % oh
        q = row % ow
        w0 = q * sw - pad_left
        for i in range(kh):
            hi = p * sh + i - pad_top
            if hi < 0 or hi >= h:
                continue
            base = i * span
            if w0 >= 0 and w0 + kw <= w:
                start = ((b * h + hi) * w + w0) * c
                for m in range(span):
                    flat[start + m] += dcols[k, base + m]
            else:
                for j in range(kw):
                    wi = w0 + j
                    if wi >= 0 and wi < w:
                        for ch in range(c):
                            dx[b, hi, wi, ch] += dcols[k, base + j * c + ch]


@kernel(parallel=True)
def col2im(cols, kh, kw, sh, sw, pad_top, pad_left, oh, ow, dx):
    """The adjoint of im2col: dx = sum of every patch gradient at its input position.

    One sample per parallel iteration, so overlapping patches never race.
    """
    per_sample = oh * ow
    for b in prange(dx.shape[0]):
        dx[b] = _ZERO
        _col2im_rows(cols[b * per_sample:(b + 1) * per_sample], b * per_sample,
                     kh, kw, sh, sw, pad_top, pad_left, oh, ow, dx)


@kernel
def block_rows(width):
    """Rows per cache block: about 64K floats (256 KB) of ``cols``, at least 16 rows."""
    return max(16, 65536 // max(width, 1))


@kernel(parallel=True)
def conv2d_forward(x, w2, b, kh, kw, sh, sw, pad_top, pad_left, oh, ow, code, alpha,
                   cols, z, y, chunks):
    """Convolve NHWC ``x`` with ``w2`` = kernel.reshape(kh*kw*in, out).

    ``z`` and ``y`` (n*oh*ow, out) are caller-owned workspaces, reused across
    steps; ``y`` may be ``z``; ``b`` may be empty. ``cols`` (n*oh*ow, kh*kw*in)
    keeps every patch for the backward pass; when it is empty (inference) each
    thread reuses one cache-sized block instead, so nothing large is written.
    Each thread walks its rows in such blocks: im2col, GEMM, epilogue.
    """
    rows = z.shape[0]
    width = w2.shape[0]
    keep = cols.shape[0] > 0
    block = block_rows(width)
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        scratch = np.empty((0 if keep else block, width), dtype=np.float32)
        for s in range(r0, r1, block):
            e = min(r1, s + block)
            if keep:
                _im2col_rows(x, kh, kw, sh, sw, pad_top, pad_left, oh, ow, cols, s, e, 0)
                np.dot(cols[s:e], w2, z[s:e])
            else:
                patches = scratch[:e - s]
                _im2col_rows(x, kh, kw, sh, sw, pad_top, pad_left, oh, ow, patches, s, e, s)
                np.dot(patches, w2, z[s:e])
            bias_activation_rows(z, b, code, alpha, y, s, e)


@kernel(parallel=True)
def conv2d_backward(w2, cols, z, y, dy, kh, kw, sh, sw, pad_top, pad_left, oh, ow,
                    code, alpha, dz, dw2, db, dx, chunks):
    """Gradients of conv2d_forward: ``dw2``, ``db`` (may be empty) and ``dx``.

    ``dx`` may be empty (first layer: its input gradient is never needed). Each
    thread owns whole samples, so it can scatter its patch gradients into ``dx``
    block by block, right after the GEMM that made them, with no races.
    """
    width = cols.shape[1]
    per_sample = oh * ow
    n = cols.shape[0] // per_sample
    need_dx = dx.shape[0] > 0
    block = block_rows(width)
    dw_partial = np.zeros((chunks,) + dw2.shape, dtype=np.float32)
    db_partial = np.zeros((chunks, db.shape[0]), dtype=np.float32)
    for t in prange(chunks):
        s0, s1 = row_range(n, chunks, t)
        tmp = np.empty(dw2.shape, dtype=np.float32)
        dcols = np.empty((block if need_dx else 0, width), dtype=np.float32)
        if need_dx:
            dx[s0:s1] = _ZERO
        for s in range(s0 * per_sample, s1 * per_sample, block):
            e = min(s1 * per_sample, s + block)
            activation_grad_rows(z, y, dy, code, alpha, dz, s, e, db_partial[t])
            np.dot(cols[s:e].T, dz[s:e], tmp)
            dw_partial[t] += tmp
            if need_dx:
                d = dcols[:e - s]
                np.dot(dz[s:e], w2.T, d)
                _col2im_rows(d, s, kh, kw, sh, sw, pad_top, pad_left, oh, ow, dx)
    sum_partials(dw_partial, dw2)
    if db.shape[0] > 0:
        sum_partials(db_partial, db)

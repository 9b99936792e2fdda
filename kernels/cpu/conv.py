"""2-D convolution, NHWC, kernel (kh, kw, in, out): im2col + BLAS GEMM.

The kernel reshaped to (kh*kw*in, out) is already the GEMM's right operand, and
im2col writes each patch in the same (i, j, channel) order, so no weight copy is
needed. Padding is applied inside im2col (zeros), never by padding the input.
Forward:  cols = im2col(x); z = cols @ w2 (+ b); y = f(z).
Backward: dz = dy * f'(z); db = sum(dz); dw2 = cols^T dz; dcols = dz w2^T; dx = col2im(dcols).
"""
import numpy as np
from numba import prange

from ._jit import kernel
from .activations import bias_activation_forward, bias_activation_backward

_ZERO = np.float32(0.0)


@kernel(parallel=True)
def im2col(x, kh, kw, sh, sw, pad_top, pad_left, oh, ow, cols):
    """cols[(n, p, q), (i, j, c)] = x[n, p*sh + i - pad_top, q*sw + j - pad_left, c] (0 outside)."""
    n, h, w, c = x.shape
    for nr in prange(n * oh):
        b = nr // oh
        p = nr % oh
        for q in range(ow):
            row = nr * ow + q
            col = 0
            for i in range(kh):
                hi = p * sh + i - pad_top
                for j in range(kw):
                    wi = q * sw + j - pad_left
                    if hi >= 0 and hi < h and wi >= 0 and wi < w:
                        for ch in range(c):
                            cols[row, col + ch] = x[b, hi, wi, ch]
                    else:
                        for ch in range(c):
                            cols[row, col + ch] = _ZERO
                    col += c


@kernel(parallel=True)
def col2im(cols, kh, kw, sh, sw, pad_top, pad_left, oh, ow, dx):
    """The adjoint of im2col: dx = sum of every patch gradient at its input position.

    One sample per parallel iteration, so overlapping patches never race.
    """
    n, h, w, c = dx.shape
    for b in prange(n):
        dx[b] = _ZERO
        for p in range(oh):
            for q in range(ow):
                row = (b * oh + p) * ow + q
                col = 0
                for i in range(kh):
                    hi = p * sh + i - pad_top
                    for j in range(kw):
                        wi = q * sw + j - pad_left
                        if hi >= 0 and hi < h and wi >= 0 and wi < w:
                            for ch in range(c):
                                dx[b, hi, wi, ch] += cols[row, col + ch]
                        col += c


@kernel
def conv2d_forward(x, w2, b, kh, kw, sh, sw, pad_top, pad_left, oh, ow, code, alpha,
                   cols, z, y):
    """Convolve NHWC ``x`` with ``w2`` = kernel.reshape(kh*kw*in, out).

    ``cols`` (n*oh*ow, kh*kw*in), ``z`` and ``y`` (n*oh*ow, out) are caller-owned
    workspaces, reused across steps; ``y`` may be ``z``; ``b`` may be empty.
    """
    im2col(x, kh, kw, sh, sw, pad_top, pad_left, oh, ow, cols)
    np.dot(cols, w2, z)
    bias_activation_forward(z, b, code, alpha, y)


@kernel
def conv2d_backward(w2, cols, z, y, dy, kh, kw, sh, sw, pad_top, pad_left, oh, ow,
                    code, alpha, dz, dw2, db, dx):
    """Gradients of conv2d_forward; ``cols`` is overwritten (reused for dcols).

    ``dx`` may be empty (first layer: its input gradient is never needed).
    """
    bias_activation_backward(z, y, dy, code, alpha, dz, db)
    np.dot(cols.T, dz, dw2)
    if dx.shape[0] > 0:
        np.dot(dz, w2.T, cols)
        col2im(cols, kh, kw, sh, sw, pad_top, pad_left, oh, ow, dx)

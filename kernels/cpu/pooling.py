"""Max and average pooling 2-D, NHWC, with Keras's 'valid'/'same' geometry.

Max pooling records the flat input index of each window's maximum so the
backward pass is a scatter; padded positions never win. Average pooling divides
by the number of real (unpadded) inputs in the window, as Keras does.
Backward passes run one sample per parallel iteration, so overlapping windows
never race.
"""
import numpy as np
from numba import prange

from ._jit import kernel

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)


@kernel(parallel=True)
def maxpool2d_forward(x, ph, pw, sh, sw, pad_top, pad_left, y, argmax):
    """y[n, p, q, c] = max of the window; argmax holds its flat index within x[n].

    Channels are innermost in NHWC, so each window position updates a whole
    channel vector at once (vectorised compare-and-select). Flat indexing
    throughout: views of y[b, p, q] cost a second of compiling.
    """
    n, h, w, c = x.shape
    _, oh, ow, _ = y.shape
    xf, yf, af = x.reshape(-1), y.reshape(-1), argmax.reshape(-1)
    for nr in prange(n * oh):
        b = nr // oh
        h0 = (nr - b * oh) * sh - pad_top
        i0, i1 = max(h0, 0), min(h0 + ph, h)
        sample = b * h * w * c
        for q in range(ow):
            w0 = q * sw - pad_left
            j0, j1 = max(w0, 0), min(w0 + pw, w)
            out = (nr * ow + q) * c
            first = (i0 * w + j0) * c
            for ch in range(c):
                yf[out + ch] = xf[sample + first + ch]
                af[out + ch] = first + ch
            for i in range(i0, i1):
                for j in range(j0, j1):
                    at = (i * w + j) * c
                    for ch in range(c):
                        v = xf[sample + at + ch]
                        if v > yf[out + ch]:
                            yf[out + ch] = v
                            af[out + ch] = at + ch


@kernel(parallel=True)
def maxpool2d_backward(dy, argmax, dx):
    """dx = dy scattered to each window's maximum (summed where windows overlap)."""
    n = dx.shape[0]
    size = dx.size // max(n, 1)
    window = dy.size // max(n, 1)
    dyf, af, dxf = dy.reshape(-1), argmax.reshape(-1), dx.reshape(-1)
    for b in prange(n):
        base = b * size
        for k in range(size):
            dxf[base + k] = _ZERO
        for k in range(b * window, (b + 1) * window):
            dxf[base + af[k]] += dyf[k]


@kernel(parallel=True)
def avgpool2d_forward(x, ph, pw, sh, sw, pad_top, pad_left, y):
    """y[n, p, q, c] = mean of the real inputs in the window."""
    n, h, w, c = x.shape
    _, oh, ow, _ = y.shape
    for nr in prange(n * oh):
        b = nr // oh
        p = nr % oh
        h0 = p * sh - pad_top
        i0, i1 = max(h0, 0), min(h0 + ph, h)
        for q in range(ow):
            w0 = q * sw - pad_left
            j0, j1 = max(w0, 0), min(w0 + pw, w)
            inv = _ONE / np.float32((i1 - i0) * (j1 - j0))
            for ch in range(c):
                s = _ZERO
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        s += x[b, i, j, ch]
                y[b, p, q, ch] = s * inv


@kernel(parallel=True)
def avgpool2d_backward(dy, ph, pw, sh, sw, pad_top, pad_left, dx):
    """dx = each window's gradient spread evenly over its real inputs."""
    n, h, w, c = dx.shape
    _, oh, ow, _ = dy.shape
    for b in prange(n):
        dx[b] = _ZERO
        for p in range(oh):
            h0 = p * sh - pad_top
            i0, i1 = max(h0, 0), min(h0 + ph, h)
            for q in range(ow):
                w0 = q * sw - pad_left
                j0, j1 = max(w0, 0), min(w0 + pw, w)
                inv = _ONE / np.float32((i1 - i0) * (j1 - j0))
                for ch in range(c):
                    g = dy[b, p, q, ch] * inv
                    for i in range(i0, i1):
                        for j in range(j0, j1):
                            dx[b, i, j, ch] += g


@kernel(parallel=True)
def global_avgpool2d_forward(x, y):
    """y[n, c] = mean over height and width."""
    n, h, w, c = x.shape
    inv = _ONE / np.float32(h * w)
    for b in prange(n):
        for ch in range(c):
            y[b, ch] = _ZERO
        for i in range(h):
            for j in range(w):
                for ch in range(c):
                    y[b, ch] += x[b, i, j, ch]
        for ch in range(c):
            y[b, ch] *= inv


@kernel(parallel=True)
def global_avgpool2d_backward(dy, dx):
    n, h, w, c = dx.shape
    inv = _ONE / np.float32(h * w)
    for b in prange(n):
        for i in range(h):
            for j in range(w):
                for ch in range(c):
                    dx[b, i, j, ch] = dy[b, ch] * inv


@kernel(parallel=True)
def global_maxpool2d_forward(x, y, argmax):
    """y[n, c] = max over height and width; argmax its flat index within x[n]."""
    n, h, w, c = x.shape
    for b in prange(n):
        for ch in range(c):
            best = x[b, 0, 0, ch]
            at = ch
            for i in range(h):
                for j in range(w):
                    v = x[b, i, j, ch]
                    if v > best:
                        best = v
                        at = (i * w + j) * c + ch
            y[b, ch] = best
            argmax[b, ch] = at


@kernel(parallel=True)
def global_maxpool2d_backward(dy, argmax, dx):
    n = dx.shape[0]
    c = dy.shape[1]
    for b in prange(n):
        flat = dx[b].reshape(-1)
        flat[:] = _ZERO
        for ch in range(c):
            flat[argmax[b, ch]] += dy[b, ch]

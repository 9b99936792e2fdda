"""Max and average pooling 2-D, NHWC, with Keras's 'valid'/'same' geometry.

Max pooling's backward pass finds each window's maximum again (the first
position equal to the pooled value); padded positions never win. Average pooling divides
by the number of real (unpadded) inputs in the window, as Keras does.
Backward passes run one sample per parallel iteration, so overlapping windows
never race.
"""
import numpy as np
from numba import prange

from ._jit import kernel
from .scalars import larger, smaller

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)


@kernel(parallel=True)
def maxpool2d_forward(x, ph, pw, sh, sw, pad_top, pad_left, y):
    """y[n, p, q, c] = max of the window; NaN if the window holds one (as JAX's and
    PyTorch's max pooling give).

    Keeps nothing for the backward pass, which finds each maximum again: an
    argmax array was more memory traffic than x itself, and its conditional
    stores kept the loop scalar (10 ms for the seed CNN's first pooling at
    batch 128, now a vectorised pass). Channels are innermost in NHWC, so each
    window position is one max over a channel vector.
    """
    n, h, w, c = x.shape
    _, oh, ow, _ = y.shape
    xf, yf = x.reshape(-1), y.reshape(-1)
    for nr in prange(n * oh):
        b = nr // oh
        h0 = (nr - b * oh) * sh - pad_top
        i0, i1 = larger(h0, 0), smaller(h0 + ph, h)
        for q in range(ow):
            w0 = q * sw - pad_left
            j0, j1 = larger(w0, 0), smaller(w0 + pw, w)
            out = yf[(nr * ow + q) * c:(nr * ow + q + 1) * c]
            first = ((b * h + i0) * w + j0) * c
            src = xf[first:first + c]
            for ch in range(c):
                out[ch] = src[ch]
            for i in range(i0, i1):
                for j in range(j0, j1):
                    at = ((b * h + i) * w + j) * c
                    src = xf[at:at + c]
                    for ch in range(c):
                        v = src[ch]
                        out[ch] = v if v > out[ch] or v != v else out[ch]


@kernel(parallel=True)
def maxpool2d_backward(x, y, dy, ph, pw, sh, sw, pad_top, pad_left, dx):
    """dx = dy routed to each window's maximum: the first position, in scan order,
    where x equals the pooled y (the one the forward pass kept; the first one if
    none does, as for NaN). Summed where windows overlap, so the parallel loop
    runs over samples."""
    n, h, w, c = x.shape
    _, oh, ow, _ = y.shape
    xf, yf, dyf, dxf = x.reshape(-1), y.reshape(-1), dy.reshape(-1), dx.reshape(-1)
    # windows that tile x exactly (the usual 2x2 at stride 2 on an even size)
    # write every element of dx once: no zeroing pass, no read-modify-write
    tiles = (sh == ph and sw == pw and pad_top == 0 and pad_left == 0
             and oh * sh == h and ow * sw == w)
    for b in prange(n):
        sample = dxf[b * h * w * c:(b + 1) * h * w * c]
        if not tiles:
            for k in range(h * w * c):
                sample[k] = _ZERO
        left = np.empty(c, dtype=np.float32)   # 1 until the channel's maximum is found
        for p in range(oh):
            h0 = p * sh - pad_top
            i0, i1 = larger(h0, 0), smaller(h0 + ph, h)
            for q in range(ow):
                w0 = q * sw - pad_left
                j0, j1 = larger(w0, 0), smaller(w0 + pw, w)
                o = ((b * oh + p) * ow + q) * c
                best, grad = yf[o:o + c], dyf[o:o + c]
                for ch in range(c):
                    left[ch] = _ONE
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        at = ((b * h + i) * w + j) * c
                        src = xf[at:at + c]
                        dst = sample[(i * w + j) * c:(i * w + j + 1) * c]
                        for ch in range(c):
                            hit = left[ch] if src[ch] == best[ch] else _ZERO
                            if tiles:
                                dst[ch] = hit * grad[ch]
                            else:
                                dst[ch] += hit * grad[ch]
                            left[ch] -= hit
                first = sample[(i0 * w + j0) * c:(i0 * w + j0 + 1) * c]
                for ch in range(c):
                    first[ch] += left[ch] * grad[ch]


@kernel(parallel=True)
def avgpool2d_forward(x, ph, pw, sh, sw, pad_top, pad_left, y):
    """y[n, p, q, c] = mean of the real inputs in the window."""
    n, h, w, c = x.shape
    _, oh, ow, _ = y.shape
    for nr in prange(n * oh):
        b = nr // oh
        p = nr % oh
        h0 = p * sh - pad_top
        i0, i1 = larger(h0, 0), smaller(h0 + ph, h)
        for q in range(ow):
            w0 = q * sw - pad_left
            j0, j1 = larger(w0, 0), smaller(w0 + pw, w)
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
            i0, i1 = larger(h0, 0), smaller(h0 + ph, h)
            for q in range(ow):
                w0 = q * sw - pad_left
                j0, j1 = larger(w0, 0), smaller(w0 + pw, w)
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

"""2-D convolution, NHWC, kernel (kh, kw, in, out), as implicit GEMMs.

No patch matrix is ever written. In NHWC a patch row (kw pixels x all channels)
is contiguous, so the patch of output pixel r is "offset ``pixel[r]`` plus the
fixed offsets ``patch[k]``" in the input: ``gemm_rows`` reads A = patches in
place through those two tables (see ``gemm.py``). Padding is done once, by
copying the input into a zero-bordered buffer (``xpad``) the backward pass
reuses; 'valid' convolutions read the input itself.

Forward:  z = patches(x) @ w2 (+ b); y = f(z)        rows split over threads
Weights:  dw2 = patches(x)^T dz                      the two tables swapped;
                                                     pixels split, partials summed
Input:    dx = patches(dz dilated by the stride, zero-padded by k-1)
               @ (w2 flipped in space, in/out swapped)  -- a stride-1 convolution
"""
import numpy as np
from numba import prange

from ._jit import kernel
from ..codes import LINEAR
from .gemm import pad_columns, padded_width
from .products import no_bias, product_rows, weight_gradient

_ZERO = np.float32(0.0)


@kernel
def patch_offsets(kh, kw, width, channels):
    """Offset of patch element (i, j, c) from the patch's first input element,
    in an NHWC image ``width`` pixels wide."""
    span = kw * channels
    out = np.empty(kh * span, dtype=np.int64)
    for i in range(kh):
        for q in range(span):
            out[i * span + q] = i * width * channels + q
    return out


@kernel
def pixel_offsets(n, oh, ow, height, width, channels, sh, sw):
    """Offset of each output pixel's patch (its first input element) in an NHWC
    input of shape (n, height, width, channels) read with strides (sh, sw)."""
    out = np.empty(n * oh * ow, dtype=np.int64)
    r = 0
    for b in range(n):
        for p in range(oh):
            for q in range(ow):
                out[r] = ((b * height + p * sh) * width + q * sw) * channels
                r += 1
    return out


@kernel
def _fill(dst, value):
    for k in range(dst.shape[0]):
        dst[k] = value


@kernel
def _place(src, b, top, left, out):
    """out[b, i, j] = src[b, i - top, j - left] where that pixel exists, else 0.

    Pads (top, left >= 0) and crops (top, left <= 0) an NHWC sample. Written as
    flat loops: Numba's slice assignment on 4-D arrays took seconds to compile.
    """
    hs, ws, c = src.shape[1], src.shape[2], src.shape[3]
    ho, wo = out.shape[1], out.shape[2]
    flat_src, flat_out = src.reshape(-1), out.reshape(-1)
    j0, j1 = max(0, left), min(wo, ws + left)  # output columns that have a source
    for i in range(ho):
        row = flat_out[(b * ho + i) * wo * c:(b * ho + i + 1) * wo * c]
        si = i - top
        if si < 0 or si >= hs or j0 >= j1:
            _fill(row, _ZERO)
            continue
        _fill(row[:j0 * c], _ZERO)
        start = ((b * hs + si) * ws + j0 - left) * c
        span = flat_src[start:start + (j1 - j0) * c]
        inside = row[j0 * c:j1 * c]
        for k in range(span.shape[0]):
            inside[k] = span[k]
        _fill(row[j1 * c:], _ZERO)


@kernel(parallel=True)
def _pad_input(x, pad_top, pad_left, xpad):
    for s in prange(x.shape[0]):
        _place(x, s, pad_top, pad_left, xpad)


@kernel
def conv2d_forward(x, w2, b, kh, kw, sh, sw, pad_top, pad_left, oh, ow, code, alpha,
                   xpad, z, y, chunks):
    """Convolve NHWC ``x`` with ``w2`` = kernel.reshape(kh*kw*in, out).

    ``xpad`` is empty when the convolution reads ``x`` as it is ('valid'), else a
    (n, (oh-1)*sh + kh, (ow-1)*sw + kw, in) workspace that receives the
    zero-padded input; the backward pass takes whichever was read. ``z`` and
    ``y`` are (n*oh*ow, out) workspaces; ``y`` may be ``z``; ``b`` may be empty.
    """
    # (two calls, not one on a variable bound in a branch: Numba 0.68 miscompiles
    # a prange inside an `if` followed by rebinding an array variable)
    if xpad.shape[0] > 0:
        _pad_input(x, pad_top, pad_left, xpad)
        _forward(xpad, w2, b, kh, kw, sh, sw, oh, ow, code, alpha, z, y, chunks)
    else:
        _forward(x, w2, b, kh, kw, sh, sw, oh, ow, code, alpha, z, y, chunks)


@kernel
def _forward(source, w2, b, kh, kw, sh, sw, oh, ow, code, alpha, z, y, chunks):
    n, height, width, channels = source.shape
    product_rows(source.reshape(-1), pixel_offsets(n, oh, ow, height, width, channels, sh, sw),
                 patch_offsets(kh, kw, width, channels),
                 pad_columns(w2, padded_width(w2.shape[1])), b, np.int64(code),
                 np.float32(alpha), z, y, chunks)


@kernel
def _flipped_kernel(w2, kh, kw, channels, width):
    """w2 (kh*kw*in, out) as the input gradient's B operand: (kh*kw*out, in) with
    space flipped, rows padded to ``width``."""
    filters = w2.shape[1]
    out = np.zeros((kh * kw * filters, width), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            src = (i * kw + j) * channels
            dst = ((kh - 1 - i) * kw + (kw - 1 - j)) * filters
            for ci in range(channels):
                for fo in range(filters):
                    out[dst + fo, ci] = w2[src + ci, fo]
    return out


@kernel
def _spread_sample(dz, b, oh, ow, sh, sw, kh, kw, out):
    """dz rows of sample ``b`` into ``out[b]`` at stride (sh, sw), offset (kh-1, kw-1)."""
    hz, wz, filters = out.shape[1], out.shape[2], out.shape[3]
    flat_out = out.reshape(-1)
    sample = flat_out[b * hz * wz * filters:(b + 1) * hz * wz * filters]
    _fill(sample, _ZERO)
    for p in range(oh):
        for q in range(ow):
            start = ((kh - 1 + p * sh) * wz + kw - 1 + q * sw) * filters
            target = sample[start:start + filters]
            source = dz[(b * oh + p) * ow + q]
            for f in range(filters):
                target[f] = source[f]


@kernel
def conv2d_backward(w2, source, z, y, dy, kh, kw, sh, sw, pad_top, pad_left, oh, ow,
                    code, alpha, dz, dw2, db, dx, chunks):
    """Gradients of conv2d_forward: ``dw2``, ``db`` (may be empty) and ``dx``.

    ``source`` is what the forward pass read (``x`` or ``xpad``). ``dz`` is
    workspace of z's shape (it may be ``dy``). ``dx`` (x's shape) may be empty
    (first layer: its input gradient is never needed).
    """
    n, height, width, channels = source.shape
    weight_gradient(source.reshape(-1), patch_offsets(kh, kw, width, channels),
                    pixel_offsets(n, oh, ow, height, width, channels, sh, sw), z, y, dy,
                    np.int64(code), np.float32(alpha), dz, dw2, db, chunks)
    if dx.shape[0] > 0:
        h, w = dx.shape[1], dx.shape[2]
        hp, wp = (oh - 1) * sh + kh, (ow - 1) * sw + kw
        if pad_top == 0 and pad_left == 0 and hp == h and wp == w:
            _input_gradient(w2, dz, kh, kw, sh, sw, oh, ow, dx, chunks)
        else:
            full = np.empty((n, hp, wp, channels), dtype=np.float32)
            _input_gradient(w2, dz, kh, kw, sh, sw, oh, ow, full, chunks)
            _crop(full, pad_top, pad_left, dx)


@kernel(parallel=True)
def _spread(dz, oh, ow, sh, sw, kh, kw, out):
    for s in prange(out.shape[0]):
        _spread_sample(dz, s, oh, ow, sh, sw, kh, kw, out)


@kernel
def _input_gradient(w2, dz, kh, kw, sh, sw, oh, ow, out, chunks):
    """The gradient of the region the forward pass read, (n, (oh-1)*sh + kh,
    (ow-1)*sw + kw, in), into ``out``: a stride-1 'valid' convolution of dz,
    spread to the stride and zero-bordered by k-1, with the flipped kernel."""
    n, hp, wp, channels = out.shape
    filters = w2.shape[1]
    hz, wz = hp + kh - 1, wp + kw - 1
    spread = np.empty((n, hz, wz, filters), dtype=np.float32)
    _spread(dz, oh, ow, sh, sw, kh, kw, spread)
    flipped = _flipped_kernel(w2, kh, kw, channels, padded_width(channels))
    product_rows(spread.reshape(-1), pixel_offsets(n, hp, wp, hz, wz, filters, 1, 1),
                 patch_offsets(kh, kw, wz, filters), flipped, no_bias(), np.int64(LINEAR),
                 np.float32(0.0), out.reshape(n * hp * wp, channels),
                 out.reshape(n * hp * wp, channels), chunks)


@kernel(parallel=True)
def _crop(full, pad_top, pad_left, dx):
    for s in prange(dx.shape[0]):
        _place(full, s, -pad_top, -pad_left, dx)

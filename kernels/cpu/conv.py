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
Input:    dx = col2im(dz @ w2^T)                     the forward's tables again:
                                                     each row added at its patch

Fused with a max pooling of non-overlapping windows (``conv2d_pool_*``), the
product's rows are the pixels under the windows, window by window, and the
pooling is its epilogue (``window_max.py``); the backward routes each window's
gradient to its maximum, and the same window-ordered rows give dx.

A 3x3 stride-1 forward with enough channels (``winograd.fits``) goes to
``winograd.py`` instead: 2.25x fewer multiply-adds; so do its gradients,
pooled or with whole 2x2 tiles (``winograd_gradient.py``): the weight
gradient, and the input gradient in the same pass where enough filters make
its products pay (``winograd_gradient.input_gradient_fits``), else col2im.

The functions here are host code: the compiled work is the one product kernel
(``products.py``), the Winograd tiles and one parallel copy, ``placement.place``,
that pads the input and crops the input gradient.
"""
import functools

import numpy as np

from .gemm import pad_columns, padded_width, strided_offsets
from .placement import place
from .products import patch_gradient, product_rows, weight_gradient
from . import winograd, winograd_gradient


@functools.lru_cache(maxsize=256)
def patch_offsets(kh, kw, width, channels):
    """Offset of patch element (i, j, c) from the patch's first input element,
    in an NHWC image ``width`` pixels wide. Cached, as are the other tables:
    the same shapes come back every step, and the kernels only read them."""
    span = kw * channels
    rows = np.arange(kh, dtype=np.int64)[:, None] * (width * channels)
    return (rows + np.arange(span, dtype=np.int64)[None, :]).reshape(-1)


@functools.lru_cache(maxsize=256)
def pixel_offsets(n, oh, ow, height, width, channels, sh, sw):
    """Offset of each output pixel's patch (its first input element) in an NHWC
    input of shape (n, height, width, channels) read with strides (sh, sw)."""
    b = np.arange(n, dtype=np.int64)[:, None, None] * height
    p = np.arange(oh, dtype=np.int64)[None, :, None] * sh
    q = np.arange(ow, dtype=np.int64)[None, None, :] * sw
    return (((b + p) * width + q) * channels).reshape(-1)


def _padded_source(x, pad_top, pad_left, xpad):
    """What the patches read: ``x``, or (``xpad`` not empty) x copied into the
    zero-bordered ``xpad``."""
    if xpad.shape[0] == 0:
        return x
    place(x, pad_top, pad_left, xpad)
    return xpad


def conv2d_forward(x, w2, b, kh, kw, sh, sw, pad_top, pad_left, oh, ow, code, alpha,
                   xpad, z, y, chunks, for_training=True):
    """Convolve NHWC ``x`` with ``w2`` = kernel.reshape(kh*kw*in, out).

    ``xpad`` is empty when the convolution reads ``x`` as it is ('valid'), else a
    (n, (oh-1)*sh + kh, (ow-1)*sw + kw, in) workspace that receives the
    zero-padded input; the backward pass takes whichever was read. ``z`` and
    ``y`` are (n*oh*ow, out) workspaces; ``y`` may be ``z``; ``b`` may be empty.
    ``for_training`` False (no backward pass follows) lets a 3x3 convolution
    use Winograd's larger tiles (``winograd.tile_size``).
    """
    source = _padded_source(x, pad_top, pad_left, xpad)
    n, height, width, channels = source.shape
    if winograd.fits(kh, kw, sh, sw, channels, w2.shape[1]):
        m = winograd.tile_size(oh, ow, for_training)
        tiled = winograd.tiled_input_size(oh, ow, m)
        if tiled[0] > height or tiled[1] > width:
            wider = winograd.workspace("wider", (n,) + tiled + (channels,))
            place(source, 0, 0, wider)
            source = wider
        winograd.conv3x3_forward(source, w2, b, code, alpha, oh, ow, z, y, chunks, m)
        return
    product_rows(source.reshape(-1), pixel_offsets(n, oh, ow, height, width, channels, sh, sw),
                 patch_offsets(kh, kw, width, channels),
                 pad_columns(w2, padded_width(w2.shape[1])), b, code, alpha, z, y, chunks)


def conv2d_backward(w2, source, z, y, dy, kh, kw, sh, sw, pad_top, pad_left, oh, ow,
                    code, alpha, dz, dw2, db, dx, chunks):
    """Gradients of conv2d_forward: ``dw2``, ``db`` (may be empty) and ``dx``.

    ``source`` is what the forward pass read (``x`` or ``xpad``). ``dz`` is
    workspace of z's shape (it may be ``dy``). ``dx`` (x's shape) may be empty
    (first layer: its input gradient is never needed).
    """
    n, height, width, channels = source.shape
    pixels = pixel_offsets(n, oh, ow, height, width, channels, sh, sw)
    filters = dw2.shape[1]
    if winograd.fits(kh, kw, sh, sw, channels, filters) and oh % 2 == 0 and ow % 2 == 0:
        with_dx = dx.shape[0] > 0 and winograd_gradient.input_gradient_fits(channels, filters)
        dz = winograd_gradient.weight_gradient(source, oh // 2, ow // 2, z, y, dy, code, alpha,
                                               dz, dw2, db, chunks,
                                               w2=w2 if with_dx else None,
                                               dx=dx if with_dx else None,
                                               pad_top=pad_top, pad_left=pad_left)
        if with_dx:
            return
    else:
        dz = weight_gradient(source.reshape(-1), patch_offsets(kh, kw, width, channels),
                             pixels, z, y, dy, code, alpha, dz, dw2, db, chunks)
    if dx.shape[0] > 0:
        _input_gradient(w2, dz, pixels, kh, kw, source.shape, pad_top, pad_left, dx, chunks)


@functools.lru_cache(maxsize=256)
def window_pixel_offsets(n, poh, pow_, ph, pw, height, width, channels, sh, sw):
    """Offset of each output pixel's patch, as ``pixel_offsets``, for the pixels
    under non-overlapping ph x pw pooling windows only, window by window
    (sample, window row, window column, then the window's pixels in scan
    order): pixel (i, j) at ((b*height + i*sh)*width + j*sw)*channels."""
    b = np.arange(n, dtype=np.int64).reshape(-1, 1, 1, 1, 1)
    i = (np.arange(poh, dtype=np.int64).reshape(1, -1, 1, 1, 1) * ph
         + np.arange(ph, dtype=np.int64).reshape(1, 1, 1, -1, 1))
    j = (np.arange(pow_, dtype=np.int64).reshape(1, 1, -1, 1, 1) * pw
         + np.arange(pw, dtype=np.int64).reshape(1, 1, 1, 1, -1))
    return (((b * height + i * sh) * width + j * sw) * channels).reshape(-1)


def conv2d_pool_forward(x, w2, b, kh, kw, sh, sw, pad_top, pad_left, ph, pw, code, alpha,
                        xpad, y, arg, chunks):
    """Conv2D followed by a max pooling of non-overlapping ph x pw windows (stride =
    pool size, 'valid'), in one pass: y (n, oh // ph, ow // pw, filters) = the
    pooled f(conv + b) for a non-decreasing activation ``code`` (``window_max.py``).
    ``arg`` (int8, y's shape) receives where each maximum was; empty in
    inference. ``xpad`` as for conv2d_forward. Output pixels no window covers are
    never computed."""
    source = _padded_source(x, pad_top, pad_left, xpad)
    n, height, width, channels = source.shape
    _, poh, pow_, filters = y.shape
    if ph == 2 and pw == 2 and winograd.fits(kh, kw, sh, sw, channels, filters):
        winograd.conv3x3_pool_forward(source, w2, b, code, alpha, y, arg, chunks)
        return
    rows = y.reshape(-1, filters)
    product_rows(source.reshape(-1),
                 window_pixel_offsets(n, poh, pow_, ph, pw, height, width, channels, sh, sw),
                 patch_offsets(kh, kw, width, channels),
                 pad_columns(w2, padded_width(filters)), b, code, alpha, rows, rows, chunks,
                 ph * pw, arg.reshape(-1, filters) if arg.size else None)


def conv2d_pool_backward(w2, source, y, arg, dy, kh, kw, sh, sw, pad_top, pad_left, oh, ow,
                         ph, pw, code, alpha, dw2, db, dx, chunks):
    """Gradients of conv2d_pool_forward: ``dw2``, ``db`` (may be empty) and ``dx``
    (may be empty). ``source`` is what the forward read, (oh, ow) the size of the
    convolution's (unpooled) output; ``dy`` the pooled output's gradient."""
    n, height, width, channels = source.shape
    _, poh, pow_, filters = y.shape
    rows = y.reshape(-1, filters)
    grad = dy.reshape(-1, filters)
    pixels = window_pixel_offsets(n, poh, pow_, ph, pw, height, width, channels, sh, sw)
    if ph == 2 and pw == 2 and winograd.fits(kh, kw, sh, sw, channels, filters):
        with_dx = dx.shape[0] > 0 and winograd_gradient.input_gradient_fits(channels, filters)
        dz = winograd_gradient.weight_gradient(
            source, poh, pow_, rows, rows, grad, code, alpha, None, dw2, db, chunks,
            arg=arg.reshape(-1, filters), w2=w2 if with_dx else None,
            dx=dx if with_dx else None, pad_top=pad_top, pad_left=pad_left)
        if with_dx:
            return
    else:
        dz = weight_gradient(source.reshape(-1), patch_offsets(kh, kw, width, channels),
                             pixels, rows, rows, grad, code, alpha, grad, dw2, db, chunks,
                             ph * pw, arg.reshape(-1, filters), keep=dx.shape[0] > 0)
    if dx.shape[0] > 0:
        _input_gradient(w2, dz, pixels, kh, kw, source.shape, pad_top, pad_left, dx, chunks)


def _input_gradient(w2, dz, pixels, kh, kw, region, pad_top, pad_left, dx, chunks):
    """dx = col2im(dz @ w2^T): row r of ``dz`` (rows of >= filters floats) is the
    gradient of the output pixel whose patch starts at pixels[r] in the region
    the forward read (shape ``region``: x itself, or xpad, then cropped into
    ``dx`` by the padding)."""
    n, height, width, channels = region
    k = kh * kw * channels
    whole = tuple(region) == dx.shape
    out = dx if whole else np.empty(region, dtype=np.float32)
    wt = pad_columns(np.ascontiguousarray(w2.T), padded_width(k))
    patch_gradient(dz.reshape(-1), strided_offsets(dz.shape[0], dz.shape[1]),
                   strided_offsets(w2.shape[1], 1), wt, k, pixels,
                   strided_offsets(kh, width * channels), out.reshape(-1), n, chunks)
    if not whole:
        place(out, -pad_top, -pad_left, dx)

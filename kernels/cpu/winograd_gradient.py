"""The gradients of a 3x3 stride-1 convolution by Winograd's F(2x2, 3x3).

Weights. The forward pass (``winograd.py``) makes each 2x2 tile of outputs as
Y = A^T M A, M = sum over channels of U * V, with U = G g G^T the filter's
transform and V = B^T d B the 4x4 input tile's. Backwards, with D the tile's
2x2 output gradient (dz) for a filter:

    Z = A D A^T                                   the gradient of M (4x4)
    N[xi] = sum over tiles of Z[xi]^T V[xi]        of U: (filters, channels)
    dw = G^T N G                                  of g, per (channel, filter)

The sum over tiles is 16 products (one per element xi of the 4x4 tile) whose
reduction runs over the tiles, where the direct weight gradient spends 36
multiply-adds per tile and channel pair: 2.25x fewer. The maps are the
forward's transposed (``vector_maps``: GRADIENT_TILE, FILTER_GRADIENT).

Each thread takes a range of tiles (``_tile_gradients``), a step of them at a
time: their dz (routed to each pooling window's maximum, or f'(z) times the
output gradient), their V and Z, then the 16 products into its own N. A second
pass (``_filter_gradients``) adds the threads' N and maps them to dw. The
bias gradient comes from the same dz.

Inputs. The input gradient is the full correlation of dz with the kernel: a
'valid' convolution of dz in a frame of two zero pixels with the kernel
turned 180 degrees, channels and filters swapped, which the Winograd forward
does (``input_gradient``). Done for a convolution fused with 2x2 max pooling,
whose dz the weight pass writes into that frame (``dz_image``); elsewhere dz
is returned, and col2im makes dx from it (``conv.py``).

Used where the forward is Winograd (``winograd.fits``), for a convolution
fused with 2x2 max pooling (each window a tile) and, when its output size is
even (whole tiles), for a plain one.
"""
import functools

import numpy as np

from ._jit import kernel
from .activations import row_range
from . import winograd
from .cache_sizes import L2_BYTES
from .placement import place
from .gemm import strided_offsets
from .pointer import address_of
from .products import (BODY_SIGNATURE, GEMM, GRAD, ROUTE, callee_addresses, gemm_at,
                       grad_rows_at, on_threads, route_at)
from .scalars import larger, smaller
from .tile import V
from ..codes import LINEAR
from .vector_maps import COPY_4, FILTER_GRADIENT, GRADIENT_TILE, INPUT_TILE, apply_map
from .winograd import strided_range, tile_at, workspace

_NO_ROWS = np.zeros(0, dtype=np.int64)
_EMPTY1 = np.zeros(0, dtype=np.float32)
_EMPTY2 = np.zeros((0, 0), dtype=np.float32)
_NO_ARG = np.zeros((0, 0), dtype=np.int8)
#: the most tiles a step: 16 products this deep cost about one load and store
#: of their results per 100 multiply-adds of each
_MOST_TILES = 128


def tiles_per_step(channels, filters, l2_bytes=L2_BYTES):
    """Tiles a thread takes at a time: their V and Z (16 x tiles x (channels +
    filters) floats) within a quarter of the L2, and a count that is 2 more
    than a multiple of 4, so that the 16 parts of V and Z, tiles x channels
    floats apart, never start a multiple of 4 KB apart (the L1's set period:
    written together, they evicted each other). Second and third convolution
    of the seed CNN, batch 128, AMD EPYC Zen 4: 42 and 30 tiles 2.24-2.35 and
    0.46 ms, 64 and 32 tiles 2.73 and 0.54 ms, 85 2.38-2.54."""
    most = max(6, min(_MOST_TILES, l2_bytes // 4 // (16 * 4 * (channels + filters))))
    return most - (most - 2) % 4


def weight_gradient(source, th, tw, z, y, dy, code, alpha, dz, dw2, db, chunks, arg=None,
                    image=None):
    """dw2 (9*channels, filters) and db (may be empty) of a 3x3 stride-1 'valid'
    convolution of NHWC ``source`` (what the forward read) whose outputs come in
    th x tw tiles of 2x2 a sample; returns dz.

    Pooled (``arg`` given: int8, the pooled rows' shape): ``y``, ``z`` are the
    pooled output's rows, ``dy`` their gradient, each tile a 2x2 window; dz is a
    kept (windows * 4, filters) array (read before the next call), the gradient
    of every pixel under a window, window by window (``route_to_max``), as
    ``products.weight_gradient`` returns it; or, given ``image``
    (``dz_image``), written there in image layout for ``input_gradient`` (and
    ``image`` returned). Plain: z, y, dy
    (n*2th*2tw, filters) as the forward's, ``dz`` their workspace (it may be
    ``dy``), filled with dy * f'(z) and returned."""
    n, height, width, channels = source.shape
    filters = y.shape[1]
    pooled = arg is not None
    framed = (0, 0)
    if image is not None:
        dz, framed = image.reshape(-1, filters), image.shape[1:3]
    elif pooled:
        dz = workspace("pooled_dz", (y.shape[0] * 4, filters))
    block = tiles_per_step(channels, filters)
    geometry = np.array([n, height, width, channels, 2 * th, 2 * tw, th, tw, block, *framed],
                        dtype=np.int64)
    pairs = channels * filters
    partial = workspace("winograd_gradient", (chunks, 16 * pairs))
    db_partial = np.zeros((chunks, db.shape[0]), dtype=np.float32)
    on_threads(_address(_tile_gradients), source.reshape(-1), geometry, _NO_ROWS, dz,
               np.int64(0), _EMPTY1, np.int64(code), np.float32(alpha), z, y, dy, dz,
               partial, db_partial, np.int64(chunks), np.int64(4 if pooled else 1),
               arg if pooled else _NO_ARG, _NO_ROWS, _NO_ROWS, _EMPTY1, callee_addresses())
    # dw as (9, filters, channels), the products' layout, then in Keras's order
    by_filter = workspace("winograd_gradient_dw", (9, filters, channels))
    on_threads(_address(_filter_gradients), _EMPTY1, strided_offsets(16, pairs),
               strided_offsets(9, pairs), _EMPTY2, np.int64(0), _EMPTY1, np.int64(0),
               np.float32(0.0), _EMPTY2, _EMPTY2, _EMPTY2, _EMPTY2, partial, _EMPTY2,
               np.int64(min(chunks, pairs // V)), np.int64(0), _NO_ARG, _NO_ROWS, _NO_ROWS,
               by_filter.reshape(-1), _NO_ROWS)
    keras_order = dw2.view()
    keras_order.shape = (9, channels, filters)   # (an error, never a copy written to)
    np.copyto(keras_order, by_filter.transpose(0, 2, 1))
    if db.shape[0] > 0:
        np.sum(db_partial, axis=0, out=db)
    return dz if image is None else image


def dz_image(n, poh, pow_, filters):
    """The (n, 2*poh + 4, 2*pow_ + 4, filters) array a pooled convolution's dz
    is written into for ``input_gradient``: its windows' pixels inside a border
    of two zero pixels, kept (per thread and shape) with the border zero."""
    return workspace("dz_image", (n, 2 * poh + 4, 2 * pow_ + 4, filters), zeroed=True)


def input_gradient_fits(channels, filters):
    """Whether ``input_gradient`` serves a layer: its transposed convolution
    (``filters`` in, ``channels`` out) must fit Winograd's layout."""
    return winograd.fits(3, 3, 1, 1, filters, channels)


def input_gradient(image, w2, region, pad_top, pad_left, dx, chunks):
    """dx of a 2x2-pooled 3x3 stride-1 convolution from its dz ``image``
    (``dz_image``, filled by ``weight_gradient``): the full correlation of dz
    with the kernel is a 'valid' convolution of the framed dz with the kernel
    turned 180 degrees and its channels and filters swapped, done by the
    Winograd forward (``winograd._launch``) in (poh + 1) x (pow + 1) tiles
    of 2x2, which cover every input pixel a window's patch reaches. Against
    col2im (9 products a window pixel, 4 a window) that is 16 products per
    tile, (poh + 1)(pow + 1) tiles: for the seed CNN's 6 x 6 windows 784
    against 1296 a sample.

    ``region`` is the shape of what the forward read (x, or its padded copy,
    then cropped into ``dx`` by the padding)."""
    n, framed_h, framed_w, filters = image.shape
    _, height, width, channels = region
    th, tw = (framed_h - 2) // 2, (framed_w - 2) // 2
    turned = workspace("turned_kernel", (3, 3, filters, channels))
    np.copyto(turned, w2.reshape(3, 3, channels, filters)[::-1, ::-1].transpose(0, 1, 3, 2))
    whole = tuple(region) == dx.shape
    out = dx if whole else workspace("input_gradient", tuple(region))
    rows = out.reshape(-1, channels)
    winograd._launch(image, turned.reshape(-1, channels), _EMPTY1, LINEAR, 0.0, height, width,
                     th, tw, rows, rows, _NO_ARG, 1, 2, chunks)
    # the pixels no window's patch reaches (an odd convolution output's last row
    # or column) get no tile
    out[:, 2 * th:] = 0.0
    out[:, :, 2 * tw:] = 0.0
    if not whole:
        place(out, -pad_top, -pad_left, dx)


@functools.lru_cache(maxsize=None)
def _address(body):
    return np.int64(address_of(body, BODY_SIGNATURE))


@kernel(inner=True)
def _tile_gradients(t, a, geometry, col_off, dz, ldb, bias, code, alpha, z, y, dy, dz_rows,
                    n_partial, db_partial, chunks, group, arg, origins, runs, target, callees):
    """Piece t of the tiles' N (a thread body of ``on_threads``): ``a`` the flat
    input, ``geometry`` its shape and the tiling, ``dz`` the dz rows made here,
    ``n_partial[t]`` this piece's N (16 x filters x channels, xi-major: the
    products' rows are the filters, so a 32-channel layer's fill whole 8-row
    tiles), ``db_partial[t]`` its bias gradient. Pooled (``group`` 4) the pieces split
    the windows; plain, rows of tiles, whose dz rows are one run of z's rows."""
    n, height, width, channels = geometry[0], geometry[1], geometry[2], geometry[3]
    oh, ow, th, tw, block = geometry[4], geometry[5], geometry[6], geometry[7], geometry[8]
    framed_h, framed_w = geometry[9], geometry[10]   # dz as an image (0: as rows)
    filters = y.shape[1]
    pooled = group > 1
    framed = framed_h > 0
    per_unit = 1 if pooled else tw
    step = larger(1, block // per_unit)
    block = step * per_unit
    gemm = gemm_at(callees[GEMM])
    route = route_at(callees[ROUTE])
    grad_rows = grad_rows_at(callees[GRAD])
    transformed = np.empty(16 * block * channels, dtype=np.float32)   # V, xi-major
    gradients = np.empty(16 * block * filters, dtype=np.float32)      # Z, xi-major
    pixel_at = np.empty(16, dtype=np.int64)   # input tile element (i, j) from its corner
    v_at = np.empty(16, dtype=np.int64)       # V[xi]'s first row, Z[xi]'s
    z_at = np.empty(16, dtype=np.int64)
    dz_at = np.empty(4, dtype=np.int64)       # the tile's dz rows from its first
    for xi in range(16):
        pixel_at[xi] = ((xi // 4) * width + xi % 4) * channels
        v_at[xi] = xi * block * channels
        z_at[xi] = xi * block * filters
    pixel_of = np.empty(4, dtype=np.int64)   # a window's pixels in the framed image
    for q in range(4):
        dz_at[q] = (q if pooled else (q // 2) * ow + q % 2) * filters
        pixel_of[q] = ((q // 2) * framed_w + q % 2) * filters
    filter_at = strided_range(filters, 1)     # Z[xi]^T as the products' A
    by_tile = strided_range(block, filters)
    partial = n_partial[t]
    # pooled into an image: each step's dz rows made in a buffer of this
    # thread's own, then put at their pixels
    own = np.empty((block * 4 if framed else 0, filters), dtype=np.float32)
    rows = own if framed else dz
    rows_flat = rows.reshape(-1)
    dz_flat = dz.reshape(-1)
    units = n * th * (tw if pooled else 1)
    u0, u1 = row_range(units, chunks, t)
    if u1 <= u0:
        partial[:] = np.float32(0.0)
        return
    for s in range(u0, u1, step):
        stop = smaller(u1, s + step)
        first = s * 4 if framed else 0   # (the first row ``rows`` holds)
        if pooled:
            route(y, dy, arg, group, code, alpha, rows, s, stop, first, db_partial[t])
        else:
            grad_rows(z, y, dy, code, alpha, dz, s * 2 * ow, stop * 2 * ow, db_partial[t])
        t0, count = s * per_unit, (stop - s) * per_unit
        for i in range(count):
            sample, ty, tx = tile_at(t0 + i, th, tw)
            corner = ((sample * height + 2 * ty) * width + 2 * tx) * channels
            apply_map(INPUT_TILE, a, corner, pixel_at, transformed, i * channels, v_at,
                      channels)
            if pooled:
                apply_map(GRADIENT_TILE, rows_flat, ((t0 + i) * 4 - first) * filters, dz_at,
                          gradients, i * filters, z_at, filters)
            else:
                first_pixel = (sample * oh + 2 * ty) * ow + 2 * tx
                apply_map(GRADIENT_TILE, dz_flat, first_pixel * filters, dz_at, gradients,
                          i * filters, z_at, filters)
            if framed:
                # the window's four rows to their pixels
                apply_map(COPY_4, rows_flat, 4 * i * filters, dz_at, dz_flat,
                          ((sample * framed_h + 2 + 2 * ty) * framed_w + 2 + 2 * tx) * filters,
                          pixel_of, filters)
        for xi in range(16):
            gemm(gradients[xi * block * filters:], filter_at, 0, filters, by_tile, 0, count,
                 transformed[xi * block * channels:], channels, channels,
                 partial[xi * channels * filters:], channels, s > u0)


@kernel(inner=True)
def _filter_gradients(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz,
                      n_partial, db_partial, chunks, group, arg, origins, runs, target,
                      callees):
    """Thread t's (filter, channel) pairs of dw = G^T N G, N the sum of the
    pieces' ``n_partial`` (added into its first row), ``target`` dw (9 x pairs,
    flat, pairs as N's); ``row_off`` N's 16 rows' offsets, ``col_off`` dw's 9.
    Pairs split by vectors."""
    pairs = target.shape[0] // 9
    v0, v1 = row_range(pairs // V, chunks, t)
    p0, p1 = v0 * V, v1 * V
    total = n_partial[0]
    for piece in range(1, n_partial.shape[0]):
        other = n_partial[piece]
        for xi in range(16):
            at = row_off[xi]
            for p in range(p0, p1):
                total[at + p] += other[at + p]
    apply_map(FILTER_GRADIENT, total, p0, row_off, target, p0, col_off, p1 - p0)

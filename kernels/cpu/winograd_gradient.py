"""The gradients of a 3x3 stride-1 convolution by Winograd's F(2x2, 3x3).

The forward pass (``winograd.py``) makes each 2x2 tile of outputs as
Y = A^T M A, M[xi] = sum over channels of U[xi] V[xi], with U = G g G^T the
filter's transform and V = B^T d B the 4x4 input tile's. Backwards, with D
the tile's 2x2 output gradient (dz) for a filter:

    Z = A D A^T                                  the gradient of M (4x4)
    N[xi] = sum over tiles of Z[xi]^T V[xi]      of U: (filters, channels)
    dw = G^T N G                                 of g, per (channel, filter)
    P[xi] = Z[xi] U[xi]^T                        of V: (tiles, channels)
    dx += B P B^T                                of d, at the tile's 4x4 pixels

The sums over tiles (weights) and over filters (inputs) are 16 products
each, one per element xi of the 4x4 tile, where the direct gradients spend
36 multiply-adds per tile and channel pair: 2.25x fewer. The maps are the
forward's transposed (``vector_maps``: GRADIENT_TILE, FILTER_GRADIENT,
INPUT_GRADIENT).

Each thread takes rows of tiles (``_tile_gradients``), a step of them at a
time: their dz (routed to each pooling window's maximum, or f'(z) times the
output gradient), V and Z, the 16 products into its own N, then the 16
products P and their tiles added into dx. A second pass
(``_filter_gradients``) adds the threads' N and maps them to dw. The bias
gradient comes from the same dz.

Neighbouring rows of tiles overlap in two rows of dx, so dx is made in two
launches: the even rows of tiles (each zeroes the band of dx it adds into
first), then the odd ones. Within a launch no two threads add into the same
pixel, whatever the number of threads.

Used where the forward is Winograd (``winograd.fits``), for a convolution
fused with 2x2 max pooling (each window a tile) and, when its output size is
even (whole tiles), for a plain one; dx too where its products, ``filters``
deep, pay (``input_gradient_fits``), else dz is returned for col2im
(``conv.py``).
"""
import numpy as np

from ._jit import kernel
from .activations import row_range
from . import winograd
from .cache_sizes import L2_BYTES
from .placement import place
from .gemm import strided_offsets
from .products import (EMPTY1, EMPTY2, GEMM, GRAD, NO_ARG, NO_ROWS, ROUTE, body_address,
                       callee_addresses, flat_view, gemm_at, grad_rows_at, on_threads, route_at)
from .scalars import larger, smaller
from .tile import V
from .vector_maps import (FILTER_GRADIENT, GRADIENT_TILE, INPUT_GRADIENT, INPUT_TILE, ZEROS,
                          apply_map)
from .winograd import part_stride, strided_range, workspace


def tiles_per_step(channels, filters, tw, l2_bytes=L2_BYTES):
    """Tiles a thread takes at a time: whole rows of ``tw`` tiles, chosen as the
    forward's (``winograd.tiles_per_step``) for the input gradient's products,
    whose columns are the channels. The seed CNN's second convolution, batch
    128, AMD EPYC Zen 4, dw and dx, 2 threads: 42 tiles 5.7 ms, 48 (whole
    8-row GEMM tiles) to 120 5.2-5.3."""
    return winograd.tiles_per_step(filters, channels, 2, tw, l2_bytes)


def weight_gradient(source, th, tw, z, y, dy, code, alpha, dz, dw2, db, chunks, arg=None,
                    w2=None, dx=None, pad_top=0, pad_left=0):
    """dw2 (9*channels, filters) and db (may be empty) of a 3x3 stride-1 'valid'
    convolution of NHWC ``source`` (what the forward read) whose outputs come in
    th x tw tiles of 2x2 a sample; and, given the kernel ``w2`` and ``dx``
    (``input_gradient_fits``), dx in the same pass (then returns None), else
    returns dz.

    Pooled (``arg`` given: int8, the pooled rows' shape): ``y``, ``z`` are the
    pooled output's rows, ``dy`` their gradient, each tile a 2x2 window; the
    dz returned is a kept (windows * 4, filters) array (read before the next
    call), the gradient of every pixel under a window, window by window
    (``route_to_max``), as ``products.weight_gradient`` returns it; with dx it
    lives only a step at a time, in each thread's own buffer. Plain: z, y, dy
    (n*2th*2tw, filters) as the forward's, ``dz`` their workspace (it may be
    ``dy``), filled with dy * f'(z).

    dx is x's shape; ``source`` may be x padded by (pad_top, pad_left): dx is
    then made in a workspace of source's shape and cropped."""
    n, height, width, channels = source.shape
    filters = y.shape[1]
    pooled = arg is not None
    with_dx = dx is not None
    if pooled:
        dz = EMPTY2 if with_dx else workspace("pooled_dz", (y.shape[0] * 4, filters))
    block = tiles_per_step(channels, filters, tw)
    pairs = channels * filters
    partial = workspace("winograd_gradient", (chunks, 16 * pairs))
    db_partial = np.zeros((chunks, db.shape[0]), dtype=np.float32)
    region, ut = EMPTY1, EMPTY1
    if with_dx:
        whole = source.shape == dx.shape
        region = dx if whole else workspace("input_gradient", source.shape)
        if th * tw == 0:
            region.fill(0.0)   # (no tile: no launch writes it)
        # U^T: the transform of the kernel with channels and filters swapped
        swapped = workspace("swapped_kernel", (3, 3, filters, channels))
        np.copyto(swapped, w2.reshape(3, 3, channels, filters).transpose(0, 1, 3, 2))
        ut = winograd.transform_weights(swapped.reshape(-1, channels), filters, channels, 2,
                                        chunks).reshape(-1)
    for phase in ((0, 1) if with_dx else (-1,)):
        geometry = np.array([n, height, width, channels, 2 * th, 2 * tw, th, tw, block, phase],
                            dtype=np.int64)
        on_threads(body_address(_tile_gradients), source.reshape(-1), geometry, NO_ROWS, dz,
                   np.int64(0), ut, np.int64(code), np.float32(alpha), z, y, dy, dz,
                   partial, db_partial, np.int64(chunks), np.int64(4 if pooled else 1),
                   arg if pooled else NO_ARG, NO_ROWS, NO_ROWS,
                   flat_view(region) if with_dx else EMPTY1, callee_addresses())
    # dw as (9, filters, channels), the products' layout, then in Keras's order
    by_filter = workspace("winograd_gradient_dw", (9, filters, channels))
    on_threads(body_address(_filter_gradients), EMPTY1, strided_offsets(16, pairs),
               strided_offsets(9, pairs), EMPTY2, np.int64(0), EMPTY1, np.int64(0),
               np.float32(0.0), EMPTY2, EMPTY2, EMPTY2, EMPTY2, partial, EMPTY2,
               np.int64(min(chunks, pairs // V)), np.int64(0), NO_ARG, NO_ROWS, NO_ROWS,
               by_filter.reshape(-1), NO_ROWS)
    keras_order = dw2.view()
    keras_order.shape = (9, channels, filters)   # (an error, never a copy written to)
    np.copyto(keras_order, by_filter.transpose(0, 2, 1))
    if db.shape[0] > 0:
        np.sum(db_partial, axis=0, out=db)
    if not with_dx:
        return dz
    if not whole:
        place(region, -pad_top, -pad_left, dx)
    return None


def input_gradient_fits(channels, filters):
    """Whether ``weight_gradient`` makes dx too: its products are ``filters``
    deep and ``channels`` wide, the forward's with the two swapped, so they
    must fit Winograd's layout (``winograd.fits``) the same way."""
    return winograd.fits(3, 3, 1, 1, filters, channels)


@kernel(inline=True)
def _sample_and_row(unit, rows_each, first_row, row_step):
    """(sample, row of tiles) of a launch's ``unit``-th row of tiles: every
    ``row_step``-th row from ``first_row``, ``rows_each`` a sample."""
    return unit // rows_each, first_row + row_step * (unit % rows_each)


@kernel(inner=True)
def _tile_gradients(t, a, geometry, col_off, dz, ldb, ut, code, alpha, z, y, dy, dz_rows,
                    n_partial, db_partial, chunks, group, arg, origins, runs, dx, callees):
    """Piece t of the tiles' N, and of dx (a thread body of ``on_threads``):
    ``a`` the flat input, ``geometry`` its shape, the tiling and the launch's
    phase, ``dz`` the dz rows made here, ``n_partial[t]`` this piece's N (16 x
    filters x channels, xi-major: the products' rows are the filters, so a
    32-channel layer's fill whole 8-row tiles), ``db_partial[t]`` its bias
    gradient, ``ut`` U^T (16 x filters x channels, flat) and ``dx`` the input
    gradient in the input's shape (flat; empty without).

    The pieces split rows of tiles: in phase -1 every row (no dx); in phase 0
    the even rows, each zeroing the band of dx its tiles cover first; in phase
    1 the odd rows, whose N and dx add to phase 0's."""
    n, height, width, channels = geometry[0], geometry[1], geometry[2], geometry[3]
    oh, ow, th, tw, block = geometry[4], geometry[5], geometry[6], geometry[7], geometry[8]
    phase = geometry[9]
    filters = y.shape[1]
    pooled = group > 1
    with_dx = phase >= 0
    first_row, row_step = (phase, 2) if with_dx else (0, 1)
    rows_each = (th - first_row + row_step - 1) // row_step   # a sample's rows here
    step = larger(1, block // larger(1, tw))
    block = step * tw
    part = part_stride(block)   # (V's and Z's parts this many tiles apart)
    gemm = gemm_at(callees[GEMM])
    route = route_at(callees[ROUTE])
    grad_rows = grad_rows_at(callees[GRAD])
    transformed = np.empty(16 * part * channels, dtype=np.float32)   # V, then P; xi-major
    gradients = np.empty(16 * part * filters, dtype=np.float32)      # Z, xi-major
    pixel_at = np.empty(16, dtype=np.int64)   # input tile element (i, j) from its corner
    v_at = np.empty(16, dtype=np.int64)       # V[xi]'s first row, Z[xi]'s
    z_at = np.empty(16, dtype=np.int64)
    dz_at = np.empty(4, dtype=np.int64)       # the tile's dz rows from its first
    for xi in range(16):
        pixel_at[xi] = ((xi // 4) * width + xi % 4) * channels
        v_at[xi] = xi * part * channels
        z_at[xi] = xi * part * filters
    for q in range(4):
        dz_at[q] = (q if pooled else (q // 2) * ow + q % 2) * filters
    filter_at = strided_range(filters, 1)     # Z[xi]^T as the products' A, Z[xi]'s columns
    by_tile = strided_range(block, filters)   # Z[xi]'s rows
    partial = n_partial[t]
    # pooled with dx, each step's dz rows live in a buffer of this thread's own
    own = np.empty((block * 4 if pooled and with_dx else 0, filters), dtype=np.float32)
    rows = own if own.shape[0] > 0 else dz
    dz_source = rows.reshape(-1)   # (pooled: the routed rows; plain: dz itself)
    image = height * width * channels
    row_floats = width * channels
    zero_at = strided_range(1, 0)   # (ZEROS' one offset)
    u0, u1 = row_range(n * rows_each, chunks, t)
    if u1 <= u0:
        if phase <= 0:
            partial[:] = np.float32(0.0)
        return
    for s in range(u0, u1, step):
        stop = smaller(u1, s + step)
        count = (stop - s) * tw
        for u in range(s, stop):
            sample, ty = _sample_and_row(u, rows_each, first_row, row_step)
            if pooled:
                w0 = (sample * th + ty) * tw
                first = (w0 - (u - s) * tw) * 4 if own.shape[0] > 0 else 0
                route(y, dy, arg, group, code, alpha, rows, w0, w0 + tw, first, db_partial[t])
            else:
                r0 = (sample * oh + 2 * ty) * ow
                grad_rows(z, y, dy, code, alpha, dz, r0, r0 + 2 * ow, db_partial[t])
            if phase == 0:
                # this row's band of dx, and (the first row) the rows below the
                # last even band, which no tile of this phase reaches (the last
                # even row, 2 * ((th - 1) // 2), ends 4 rows on)
                band = sample * image
                for span in range(2 if ty == 0 else 1):
                    top = 2 * ty if span == 0 else smaller(height, 4 * ((th - 1) // 2) + 4)
                    bottom = smaller(height, 2 * ty + 4) if span == 0 else height
                    apply_map(ZEROS, dx, band, zero_at, dx, band + top * row_floats, zero_at,
                              larger(0, bottom - top) * row_floats)
        for i in range(count):
            sample, ty = _sample_and_row(s + i // tw, rows_each, first_row, row_step)
            tx = i % tw
            corner = ((sample * height + 2 * ty) * width + 2 * tx) * channels
            apply_map(INPUT_TILE, a, corner, pixel_at, transformed, i * channels, v_at,
                      channels)
            # the tile's first dz row: a step's own, a window's, or an output pixel's
            if own.shape[0] > 0:
                first_dz = 4 * i
            elif pooled:
                first_dz = ((sample * th + ty) * tw + tx) * 4
            else:
                first_dz = (sample * oh + 2 * ty) * ow + 2 * tx
            # (one call site: each is another copy of the map for LLVM to compile)
            apply_map(GRADIENT_TILE, dz_source, first_dz * filters, dz_at, gradients,
                      i * filters, z_at, filters)
        for xi in range(16):
            gemm(gradients[xi * part * filters:], filter_at, 0, filters, by_tile, 0, count,
                 transformed[xi * part * channels:], channels, channels,
                 partial[xi * channels * filters:], channels, s > u0 or phase == 1)
            if with_dx:
                # P = Z U^T into V's place (read just above), while Z[xi] is
                # still in L1
                gemm(gradients[xi * part * filters:], by_tile, 0, count, filter_at, 0, filters,
                     ut[xi * filters * channels:], channels, channels,
                     transformed[xi * part * channels:], channels, False)
        if not with_dx:
            continue
        # B P B^T added at each tile's pixels
        for i in range(count):
            sample, ty = _sample_and_row(s + i // tw, rows_each, first_row, row_step)
            tx = i % tw
            corner = ((sample * height + 2 * ty) * width + 2 * tx) * channels
            apply_map(INPUT_GRADIENT, transformed, i * channels, v_at, dx, corner, pixel_at,
                      channels)


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

"""3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3).

Each 2x2 block of output pixels (a tile) comes from the 4x4 input pixels under
it: with d that input tile (per channel), g the 3x3 filter (per channel pair)
and ``vector_maps``' matrices,

    V = B^T d B,   U = G g G^T,   M = sum over channels of U * V,   y = A^T M A.

The sum over channels is 16 independent matrix products, one per element xi of
the 4x4 transformed tile: M[xi] (tiles, filters) = V[xi] (tiles, channels) @
U[xi] (channels, filters). That is 16 multiply-adds per tile and channel pair
where the direct convolution spends 36: 2.25x fewer.

The tiles are split over the threads (``products.on_threads`` runs ``_tiles``);
each thread takes a block of tiles at a time: their V, the 16 products (the
GEMM, called by address), then A^T M A into rows in window order, so the same
epilogues as the direct path finish them: bias and activation, or a 2x2 max
pooling whose windows are the tiles themselves. The results equal the direct
convolution's to rounding (3e-7 of the largest output in float32); the backward
pass stays direct, as it only needs the forward's outputs.

Used when the layout allows it (``fits``): channels and filters in whole
vectors, so every transform works on whole channel vectors.

Where no backward pass follows (inference), tiles of 4x4 outputs from 6x6
inputs, F(4x4, 3x3), take over where they need fewer products
(``tile_size``; pooled, with an even number of windows each way, each tile
four windows): 36 products for 16 outputs, 4x fewer multiply-adds than the
direct convolution, with ten times the rounding error (3e-6 of the largest
output), which is why training keeps F(2x2, 3x3).
"""
import functools
import threading

import numpy as np

from ._jit import kernel
from .activations import row_range
from .cache_sizes import L2_BYTES
from .gemm import strided_offsets, tile_rows_for
from .products import (EMPTY1, EMPTY2, EPILOGUE, GEMM, NO_ARG, NO_ROWS, WINDOW_MAX,
                       body_address, callee_addresses, epilogue_at, gemm_at, on_threads,
                       over_arena, window_max_at)
from .scalars import larger, smaller
from .tile import V
from .vector_maps import (COPY, G6, INPUT_TILE, INPUT_TILE_6, OUTPUT_TILE, OUTPUT_TILE_6,
                          WEIGHTS, apply_map)

#: the fewest input channels for which the transforms pay: the 16 products are
#: only ``channels`` deep. Batch 32, against the direct convolution (AMD Zen 3,
#: 2 threads): 16 channels 0.72-0.91x, 24 0.96x, 32 1.3x, 64 1.0-1.7x
MIN_CHANNELS = 32
#: the most tiles a step (a GEMM of 64 rows or more repacks its B operand on
#: every call; seed CNN predict, AMD Zen 3: 120 tiles were 5-17% slower)
_MOST_TILES = 60
_BUFFERS = {}
_TRANSFORMED = {}   # (thread, kernel array, shape) -> (the weights U was made from, U)
_F32 = np.float32


def fits(kh, kw, sh, sw, channels, filters):
    """True for the convolutions done here: 3x3, stride 1, channels and filters
    in whole vectors (and enough channels for it to pay)."""
    return (kh == 3 and kw == 3 and sh == 1 and sw == 1 and channels >= MIN_CHANNELS
            and channels % V == 0 and filters % V == 0)


def transform_weights(w2, channels, filters, m=2, chunks=1):
    """U = G g G^T for every (channel, filter) pair: ``w2`` is the kernel
    (3, 3, channels, filters) reshaped to (9*channels, filters); the result is
    ((m+2)^2 * channels, filters), the (m+2)^2 products' B operands one after
    another, for output tiles of m x m (2: F(2x2, 3x3), 4: F(4x4, 3x3)).

    F(2x2, 3x3)'s (every training step) is a thread body, ``_weights``, on
    ``chunks`` threads, every call: vector adds, about as fast as comparing
    the weights with those U was made from would be (seed CNN, 2 threads, AMD
    Zen 3: 2048 and 4096 pairs in 28 and 55 us, where NumPy's element-wise
    operations and the compare took 104 and 108). F(4x4, 3x3)'s (only in inference)
    is done in float64 by ``np.einsum`` (no BLAS: its threads would keep
    spinning on the cores the kernels need) and kept per thread and kernel
    array, with a copy of the weights it was made from: while they have not
    changed a call only compares them (at batch 8 the transforms were a quarter
    of predict's time).

    Both write into kept arrays, not fresh ones, which spares the page faults
    of a fresh 256 KB array (the seed CNN's third convolution was 1.8x slower
    with them)."""
    side = m + 2
    pairs = channels * filters
    if m == 2:
        # (used at once by the convolution it is made for, so shared by shape)
        u = workspace("u", (side * side * pairs,))
        over_arena(_weights, u, w2.reshape(-1), (), (), 0, chunks,
                   (strided_offsets(9, pairs), strided_offsets(16, pairs)))
        return u.reshape(side * side * channels, filters)
    key = (threading.get_ident(), w2.ctypes.data, w2.shape, m)
    kept = _TRANSFORMED.get(key)
    if kept is None:
        if len(_TRANSFORMED) > 64:
            _TRANSFORMED.clear()
        kept = _TRANSFORMED[key] = (np.full(w2.shape, np.nan, dtype=np.float32),
                                    np.empty((side, side, pairs), dtype=np.float32))
    made_from, u = kept
    if not (made_from[0, 0] == w2[0, 0] and np.array_equal(made_from, w2)):
        g = w2.reshape(3, 3, pairs).astype(np.float64)               # (i, j, c*k)
        rows = np.einsum("ai,ijx->ajx", G6, g)
        np.copyto(u, np.einsum("bj,ajx->abx", G6, rows), casting="same_kind")
        np.copyto(made_from, w2)
    return u.reshape(side * side * channels, filters)


@kernel(inner=True)
def _weights(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw_partial,
             db_partial, chunks, group, arg, origins, runs, target, callees):
    """Thread t's share of F(2x2, 3x3)'s U = G g G^T (run by ``over_arena``):
    ``a`` the kernel as (3, 3, pairs), ``target`` U as (4, 4, pairs), both flat,
    with their rows' offsets in ``row_off`` and ``col_off``; the (channel,
    filter) pairs a multiple of V (``fits``), split by vectors."""
    pairs = a.shape[0] // 9
    v0, v1 = row_range(pairs // V, chunks, t)
    apply_map(WEIGHTS, a, v0 * V, row_off, target, v0 * V, col_off, (v1 - v0) * V)


def workspace(name, shape, zeroed=False):
    """A float32 workspace of ``shape`` for this thread, the same array on every
    call (no fresh pages: see transform_weights); ``zeroed``: made of zeros, so
    that what its users never write stays zero."""
    key = (threading.get_ident(), name, shape)
    found = _BUFFERS.get(key)
    if found is None:
        if len(_BUFFERS) > 64:
            _BUFFERS.clear()
        found = _BUFFERS[key] = (np.zeros if zeroed else np.empty)(shape, dtype=np.float32)
    return found


@functools.lru_cache(maxsize=256)
def tiles_per_step(channels, filters, m, per_unit, l2_bytes=L2_BYTES):
    """Tiles a thread transforms and multiplies at a time: a whole number of
    ``per_unit`` (1, or a row of tiles), their V and M ((m+2)^2 x tiles x
    (channels + filters) floats) within half of the L2, at most _MOST_TILES;
    among the counts from half that to the most, the one whose products
    (``filters`` wide) waste the fewest rows of their GEMM tiles
    (``gemm.tile_rows_for``). The parts of V and M are ``part_stride`` tiles
    apart, whatever the count. A product of 64 channels in, 32 out, rows of 7
    tiles, batch 128, AMD EPYC Zen 4: 42 tiles (2 of the last 8-row tile's
    rows used) 3.2-3.4 ms, 56 tiles 2.9-3.1. Cached: the same layers ask again
    every step (the search took 10 us a call)."""
    products = (m + 2) * (m + 2)
    most = max(per_unit, min(_MOST_TILES,
                             l2_bytes // 2 // (products * 4 * (channels + filters))))
    tile_rows = tile_rows_for(filters)
    best, best_used = per_unit, -1.0
    for step in range(most // per_unit, 0, -1):
        tiles = step * per_unit
        if 2 * tiles < most and best_used > 0:
            break
        used = tiles / (-(-tiles // tile_rows) * tile_rows)
        if used > best_used + 1e-9:
            best, best_used = tiles, used
    return best


def tile_size(oh, ow, for_training):
    """The output tile for an oh x ow 'valid' 3x3 convolution: 2 (F(2x2, 3x3)),
    or in inference 4 (F(4x4, 3x3)) where its tiles take fewer products, the
    outputs past the edge included."""
    if for_training:
        return 2
    fours = ((oh + 3) // 4) * ((ow + 3) // 4) * 36
    twos = ((oh + 1) // 2) * ((ow + 1) // 2) * 16
    return 4 if fours < twos else 2


def tiled_input_size(oh, ow, m=2):
    """(height, width) the m x m tiles of an oh x ow output read: more than the
    convolution's input where m does not divide the output size."""
    return m * ((oh + m - 1) // m) + 2, m * ((ow + m - 1) // m) + 2


def conv3x3_forward(source, w2, b, code, alpha, oh, ow, z, y, chunks, m=2):
    """z = conv(source, w2) (+ b), y = f(z) for a 'valid' 3x3 stride-1
    convolution of NHWC ``source`` (the input, or its zero-padded copy, at least
    ``tiled_input_size(oh, ow, m)`` large), z and y (n*oh*ow, filters) as
    ``conv.conv2d_forward``'s, in tiles of m x m outputs (``tile_size``)."""
    _launch(source, w2, b, code, alpha, oh, ow, (oh + m - 1) // m, (ow + m - 1) // m, z, y,
            NO_ARG, 1, m, chunks)


def conv3x3_pool_forward(source, w2, b, code, alpha, y, arg, chunks):
    """The same convolution followed by a 2x2 max pooling (stride 2, 'valid'):
    y (n, poh, pow, filters) as ``conv.conv2d_pool_forward``'s, ``arg`` (int8,
    y's shape, or empty in inference) where each maximum was.

    Each pooling window is one 2x2 tile; in inference, with an even number of
    windows each way, four windows are one 4x4 tile of F(4x4, 3x3) instead
    (1.8x fewer multiply-adds again; its rounding error, about 10x F(2x2,
    3x3)'s, stays out of training)."""
    n, poh, pow_, filters = y.shape
    rows = y.reshape(-1, filters)
    m = 4 if arg.size == 0 and poh % 2 == 0 and pow_ % 2 == 0 else 2
    _launch(source, w2, b, code, alpha, 2 * poh, 2 * pow_, 2 * poh // m, 2 * pow_ // m, rows,
            rows, arg.reshape(-1, filters) if arg.size else NO_ARG, 4, m, chunks)


def _launch(source, w2, b, code, alpha, oh, ow, th, tw, z, y, arg, group, m, chunks):
    """Runs ``_tiles`` on the threads: th x tw tiles of m x m outputs a sample."""
    n, height, width, channels = source.shape
    filters = y.shape[1]
    u = transform_weights(w2, channels, filters, m, chunks)
    pooled_windows = group > 1 and m == 2
    block = tiles_per_step(channels, filters, m, 1 if pooled_windows else tw)
    geometry = np.array([n, height, width, channels, oh, ow, th, tw, block, m], dtype=np.int64)
    on_threads(body_address(_tiles), source.reshape(-1), geometry, NO_ROWS, u,
               np.int64(filters), b, np.int64(code), _F32(alpha), z, y, EMPTY2, EMPTY2,
               EMPTY2, EMPTY2, np.int64(chunks), np.int64(group), arg, NO_ROWS, NO_ROWS,
               EMPTY1, callee_addresses())


@kernel(inline=True)
def strided_range(count, stride):
    """[0, stride, 2*stride, ...] (``count`` of them): offset tables made inside
    a kernel."""
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        out[i] = i * stride
    return out


@kernel(inline=True)
def part_stride(tiles):
    """Tiles between the parts (one per transformed element xi) of a step's V,
    M or Z, for ``tiles`` tiles a step: an odd number, so that the parts of
    rows narrower than 1024 floats never start a multiple of 4 KB (the L1's
    set period) apart. A transform writes all of its parts at once: at 64 or 32 tiles,
    rows of 32 or 64 floats, they evicted each other's lines (a weight
    gradient step, AMD EPYC Zen 4: 2.73 ms against 2.24-2.35 at 42 tiles)."""
    return tiles | 1


@kernel(inline=True)
def tile_at(tile, th, tw):
    """(sample, tile row, tile column) of tile number ``tile``, th x tw a sample."""
    return tile // (th * tw), (tile // tw) % th, tile % tw


@kernel(inner=True)
def _tiles(t, a, geometry, col_off, u, ldu, bias, code, alpha, z, y, dy, dz, dw_partial,
           db_partial, chunks, group, arg, origins, runs, target, callees):
    """Thread t's tiles (a thread body of ``on_threads``: ``a`` the flat input,
    ``geometry`` its shape and the tiling, ``u`` the transformed weights; the
    product arguments it does not use are empty).

    Tiles of m x m outputs (geometry[9]: 2, or 4 for F(4x4, 3x3)) read
    (m+2) x (m+2) inputs. Pooled (``group`` = 4: ``z`` is ``y``, the pooled
    rows), a 2x2 tile is a window and the threads split the windows; a 4x4
    tile is 2x2 windows, its outputs put in the windows' order (the windows
    of a row of tiles are two rows of windows), and the threads split rows of
    tiles, as they do unpooled, where each step's output pixels are one run of
    z's rows."""
    n, height, width, channels = geometry[0], geometry[1], geometry[2], geometry[3]
    oh, ow, th, tw, block, m = (geometry[4], geometry[5], geometry[6], geometry[7],
                                geometry[8], geometry[9])
    side = m + 2
    points = side * side          # transformed elements xi (products) per tile
    outs = m * m
    filters = y.shape[1]
    pooled = group > 1
    per_unit = 1 if pooled and m == 2 else tw
    step = larger(1, block // per_unit)
    block = step * per_unit
    part = part_stride(block)
    gemm = gemm_at(callees[GEMM])
    window_max = window_max_at(callees[WINDOW_MAX])
    epilogue = epilogue_at(callees[EPILOGUE])
    uf = u.reshape(-1)
    zf = z.reshape(-1)
    transformed = np.empty(points * part * channels, dtype=np.float32)   # V, xi-major
    products = np.empty(points * part * filters, dtype=np.float32)       # M, xi-major
    outputs = np.empty(outs * block * filters, dtype=np.float32)          # outs rows a tile
    pixel_at = np.empty(points, dtype=np.int64)   # input tile element (i, j) from its corner
    v_at = np.empty(points, dtype=np.int64)       # V[xi]'s first row, M[xi]'s
    m_at = np.empty(points, dtype=np.int64)
    row_at = np.empty(outs, dtype=np.int64)       # the tile's output rows
    z_at = np.empty(outs, dtype=np.int64)         # the same in z, a whole tile inside
    for xi in range(points):
        pixel_at[xi] = ((xi // side) * width + xi % side) * channels
        v_at[xi] = xi * part * channels
        m_at[xi] = xi * part * filters
    for q in range(outs):
        if pooled and m == 4:
            # output (oy, ox) of the tile: window (oy // 2, ox // 2), place in it
            oy, ox = q // 4, q % 4
            row_at[q] = ((((oy // 2) * tw * 2 + ox // 2) * 4 + (oy % 2) * 2 + ox % 2)
                         * filters)
        else:
            row_at[q] = q * filters
        z_at[q] = ((q // m) * ow + q % m) * filters
    one_at = strided_range(1, 0)                  # (COPY's one offset)
    v_rows = strided_range(block, channels)       # V[xi]'s rows and columns
    channel_at = strided_range(channels, 1)
    units = n * th * (tw if per_unit == 1 else 1)
    u0, u1 = row_range(units, chunks, t)
    for s in range(u0, u1, step):
        stop = smaller(u1, s + step)
        t0, count = s * per_unit, (stop - s) * per_unit
        for i in range(count):
            sample, ty, tx = tile_at(t0 + i, th, tw)
            corner = ((sample * height + m * ty) * width + m * tx) * channels
            if m == 4:
                apply_map(INPUT_TILE_6, a, corner, pixel_at, transformed, i * channels, v_at,
                          channels)
            else:
                apply_map(INPUT_TILE, a, corner, pixel_at, transformed, i * channels, v_at,
                          channels)
        for xi in range(points):
            gemm(transformed[xi * part * channels:], v_rows, 0, count, channel_at, 0,
                 channels, uf[xi * channels * ldu:], ldu, filters,
                 products[xi * part * filters:], filters, False)
        for i in range(count):
            # a whole tile inside an unpooled output goes straight to its rows
            # of z; the others (pooled, or past the output's edge) to ``outputs``
            sample, ty, tx = tile_at(t0 + i, th, tw)
            inside = not pooled and m * ty + m <= oh and m * tx + m <= ow
            target = zf if inside else outputs
            offsets = z_at if inside else row_at
            if inside:
                place = ((sample * oh + m * ty) * ow + m * tx) * filters
            elif pooled and m == 4:
                # tile i is row i // tw of tiles, column i % tw
                place = ((i // tw) * 16 * tw + (i % tw) * 8) * filters
            else:
                place = outs * i * filters
            if m == 4:
                apply_map(OUTPUT_TILE_6, products, i * filters, m_at, target, place, offsets,
                          filters)
            else:
                apply_map(OUTPUT_TILE, products, i * filters, m_at, target, place, offsets,
                          filters)
        if pooled:
            windows = count * outs // 4
            w0 = t0 * outs // 4
            window_max(outputs, 4 * windows, 4, y, w0, arg)
            epilogue(y, bias, code, alpha, y, w0, w0 + windows)
            continue
        for i in range(count):
            sample, ty, tx = tile_at(t0 + i, th, tw)
            if m * ty + m <= oh and m * tx + m <= ow:
                continue
            for q in range(outs):
                row, col = m * ty + q // m, m * tx + q % m
                if row < oh and col < ow:
                    apply_map(COPY, outputs, (outs * i + q) * filters, one_at, zf,
                              ((sample * oh + row) * ow + col) * filters, one_at, filters)
        first, last = s // th, (stop - 1) // th
        epilogue(z, bias, code, alpha, y, (first * oh + m * (s % th)) * ow,
                 (last * oh + smaller(m * ((stop - 1) % th) + m, oh)) * ow)

"""Matrix products over offset tables, on the register-tile micro-kernel.

``gemm_rows`` computes rows [r0, r1) of C = A @ B where A is described by two
offset tables into a flat array (see ``tile.py``): dense layers pass a plain
row-major matrix, convolutions pass their patches read in place (implicit
im2col), and weight gradients pass the same tables swapped (A transposed).
Columns go in panels of 4, 2 or 1 vectors, each with the tallest tile that
fits the register file; a panel that runs past C's last column is computed into
``scratch`` and only its valid columns are copied.
"""
import functools
import math

import numpy as np
from numba import types

from ._jit import kernel
from .cache_sizes import L1_BYTES, L2_BYTES
from .scalars import larger, smaller
from .tile import tile_fma, V

#: tile rows for a panel of 1, 2 and 4 vectors, measured one core, data in L1.
#: AVX-512: LLVM schedules the loop's broadcasts ahead of its FMAs, so about
#: MR*(NV+1) + NV of the 32 zmm registers are live; past that the tile spills
#: (12x2: 67 GFLOP/s, 8x2: 257, 6x4: 253). AVX2 (16 ymm): 6x2 134, 2x4 124,
#: 8x1 106; panels stop at 2 vectors there (4-vector tiles would be 2 rows).
MR1, MR2, MR4 = (8, 8, 6) if V == 16 else (8, 6, 2)
#: the taller 2-vector tile AVX-512 also has (9 x 3 + 2 of its 32 registers;
#: in L1 as fast as 8x2, 111-116 GFLOP/s on one Zen 4 core), for a product
#: whose rows it covers with fewer thrown away (``tall_tiles``): a 3x3
#: convolution's weight gradient has 9 rows a channel, 9 or 27 in a first
#: layer (8-row tiles: 16 or 32 rows computed). AVX2 has none (equal to MR2).
MR2_TALL = MR2 + 1 if V == 16 else MR2
#: floats ``scratch`` must hold: the largest tile.
SCRATCH = max(MR1 * V, MR2_TALL * 2 * V, MR4 * 4 * V)
#: rows of A per block: whole tiles (12 of 6 rows, 9 of 8)
ROW_BLOCK = 72
#: columns of the widest panel (``panel_vectors``): also the unit a product
#: split by columns is shared out in (``products._columns``)
WIDEST_PANEL = (4 if V == 16 else 2) * V


def slice_depth_limit(l2_bytes, panel=WIDEST_PANEL, rows=ROW_BLOCK, l1_bytes=0):
    """The deepest reduction slice that keeps a B panel (depth x ``panel``
    floats), which every tile of a row block reads, in cache between them: in
    half of the L1 where that holds one at least L1_PANEL_DEPTH deep, else
    with an A block (``rows`` x depth) in half of the L2, between 128 and 1024.

    AVX2's 16-float panels fit half of a 32 KB L1 256 deep (48 KB: 384). On
    AMD Zen 4 with AVX-512 turned off (AVX2 tiles, 2 threads, OpenBLAS's
    Haswell kernels; compare.py's GEMM worker, means of 3 runs) 256 deep
    against the former 1024 gave 88 vs 81% of OpenBLAS at n = 1024 and 94 vs
    75% at 2048; 384 did as well, 512 (the whole L1) in between.

    AVX-512's 64-float panels are 256 bytes a row: half an L1 holds 64 to 96
    rows, too shallow, so the panel stays in L2, the A block too while every
    panel of its slice passes, and each slice reads and writes C once more:
    the slices are as deep as the L2 allows. On AMD Zen 5 (1 MB L2, AVX-512:
    1024 deep, 64 rows or 963 and 72) matmul at n = 1024 / 1536 / 2048, 2
    threads, ran 1.07 / 1.13 / 1.17x as fast as at the former 256 and 256,
    1.0x at n <= 512 and on the seed CNN. Past 1024 the C traffic saved is
    under one pass per 2048 flops per element."""
    in_l1 = l1_bytes // 2 // (4 * panel)
    if in_l1 >= L1_PANEL_DEPTH:
        return int(min(1024, in_l1))
    return int(min(1024, max(128, l2_bytes // 2 // (4 * (rows + panel)))))


#: the shallowest slice worth keeping a B panel in L1 for (see slice_depth_limit)
L1_PANEL_DEPTH = 256
#: this CPU's slice depth limit
DEPTH = slice_depth_limit(L2_BYTES, l1_bytes=L1_BYTES)
#: 0 as a plain int64 (a literal 0 argument would compile a callee once more)
_NONE = np.int64(0)


def padded_width(n):
    """``n`` rounded up to whole vectors: the row length a B operand needs."""
    return (n + V - 1) // V * V


#: the same, for kernels (host code calls the plain function: no dispatch cost)
_padded_width = kernel(inline=True)(padded_width)


def tile_rows(nv, tall=False):
    """Rows of the tile used for a panel of ``nv`` vectors (``tall``: in a
    product that takes the taller 2-vector tile, ``tall_tiles``)."""
    return MR4 if nv == 4 else ((MR2_TALL if tall else MR2) if nv == 2 else MR1)


def panel_vectors(left):
    """Vectors in the next column panel when ``left`` vectors of columns remain."""
    return 4 if left >= 4 and V == 16 else (2 if left >= 2 else 1)


def tall_tiles(rows):
    """Whether a product of ``rows`` rows computes its 2-vector panels in
    MR2_TALL-row tiles: where they leave fewer rows unused in its last row
    block (ROW_BLOCK, a multiple of both, leaves none in the others). The seed
    CNN's first weight gradient (27 rows), batch 128, AMD EPYC Zen 4: 1.37-1.48
    -> 1.20-1.30 ms; Fashion-MNIST's (9 rows): 0.60-0.76 -> 0.43-0.51 ms."""
    last = (rows - 1) % ROW_BLOCK + 1
    return MR2_TALL > MR2 and (-last) % MR2_TALL < (-last) % MR2


def tile_rows_for(columns):
    """The rows of the tiles a product of ``columns`` columns is computed in
    (the least common multiple over its panels): a product of a multiple of
    them computes no row it throws away."""
    rows, left = 1, -(-columns // V)
    while left > 0:
        vectors = panel_vectors(left)
        rows = math.lcm(rows, tile_rows(vectors))
        left -= vectors
    return rows


#: the rules, for kernels
_tile_rows = kernel(inner=True)(tile_rows)
_panel_vectors = kernel(inner=True)(panel_vectors)
_tall_tiles = kernel(inner=True)(tall_tiles)


@kernel(inline=True)
def _panel(a, row_off, r0, r1, col_off, k0, k1, b, b0, ldb, c, c0, ldc, accumulate,
           nv, direct, tall):
    """One column panel of ``nv`` vectors (1, 2 or 4) for rows [r0, r1), written to
    C at ``c0`` (``direct``) or, for a single tile, to the scratch tile ``c`` (then
    ldc = nv*V). Returns the last tile's valid row count.

    Each tile shape has one call site, and the 4-vector one exists only where
    the registers hold it (AVX-512): every call site is another copy of the
    tile code for LLVM to compile."""
    mr = _tile_rows(nv, tall)
    k = k1 - k0
    add = accumulate and direct
    valid = 0
    for r in range(r0, r1, mr):
        valid = smaller(mr, r1 - r)
        start = c0 + r * ldc if direct else c0
        if V == 16 and nv == 4:
            tile_fma(MR4, 4, k, a, row_off, r, col_off, k0, b, b0, ldb, c, start, ldc, valid, add)
        elif V == 16 and nv == 2 and tall:
            tile_fma(MR2_TALL, 2, k, a, row_off, r, col_off, k0, b, b0, ldb, c, start, ldc, valid,
                     add)
        elif nv == 2:
            tile_fma(MR2, 2, k, a, row_off, r, col_off, k0, b, b0, ldb, c, start, ldc, valid, add)
        else:
            tile_fma(MR1, 1, k, a, row_off, r, col_off, k0, b, b0, ldb, c, start, ldc, valid, add)
    return valid


@kernel(inner=True)
def gemm_rows(a, row_off, r0, r1, col_off, k0, k1, b, ldb, n, c, ldc, accumulate):
    """c[r*ldc : r*ldc+n] (+)= sum_{k0<=p<k1} a[row_off[r] + col_off[p]] * b[p*ldb : p*ldb+n]
    for r in [r0, r1). ``a``, ``b``, ``c`` are flat float32 arrays; every B row
    must be readable to ``padded_width(n)`` floats."""
    # buffers only where this call needs them: most calls (whole panels, B
    # read in place) need neither, and two allocations were ~35 ns of each of
    # the ~5,400 calls in a seed CNN step at batch 128 (c[:0]: an empty array
    # of the same type, allocating nothing)
    scratch = np.empty(SCRATCH, dtype=np.float32) if n % V != 0 else c[:0]
    # the reduction in even slices of at most DEPTH, rows in blocks of ROW_BLOCK
    # (see slice_depth_limit)
    depth = _slice_depth(k1 - k0)
    npad = _padded_width(n)
    tall = _tall_tiles(r1 - r0)
    # B rows wider than one panel are read at a stride of ldb floats; at a
    # power-of-two stride a slice's rows share L1 sets and evict each other.
    # So B is read as contiguous panels: packed once by the caller (ldb = 0:
    # ``b`` is pack_b's output for rows [k0, k1)), or, with enough rows to pay
    # for it, here slice by slice (AVX2 tiles, 2 cores: n = 1024 89 -> 196
    # GFLOP/s, n = 1000 159 -> 192; AVX-512 tiles unchanged, 340-390).
    prepacked = ldb == 0
    pack = ldb > 4 * V and r1 - r0 >= 64
    packed = np.empty(depth * npad, dtype=np.float32) if pack else c[:0]
    for kb in range(k0, larger(k1, k0 + 1), depth):
        ke = smaller(k1, kb + depth)
        if pack:
            _pack_slice(b, kb, ke, ldb, n, packed)
        # one call site, no literal arguments: one compiled copy of the tiles
        _row_blocks(a, row_off, r0, r1, col_off, kb, ke, packed if pack else b,
                    _NONE if pack or prepacked else ldb, (kb - k0) * npad if prepacked else _NONE,
                    n, c, ldc, accumulate or kb > k0, scratch, tall)


_FLOATS, _OFFSETS = types.float32[::1], types.int64[::1]
#: the one signature gemm_rows is compiled for: its caller reaches it by its
#: address (``pointer.py``, ``products.py``), so its tiles are compiled once,
#: not again in each caller
GEMM_SIGNATURE = types.none(_FLOATS, _OFFSETS, types.int64, types.int64, _OFFSETS,
                            types.int64, types.int64, _FLOATS, types.int64, types.int64,
                            _FLOATS, types.int64, types.boolean)


@kernel(inline=True)
def _slice_depth(k):
    """Depth of each reduction slice: ``k`` in even slices of at most DEPTH."""
    slices = larger(1, (k + DEPTH - 1) // DEPTH)
    return larger(1, (k + slices - 1) // slices)


@kernel
def pack_b(b, n, out):
    """B (k, >= padded_width(n)) as gemm_rows reads it with ldb = 0: each
    reduction slice's column panels as contiguous rows, slice kb at kb*padded_width(n).
    For a B that many row blocks share (weights), packed once per call."""
    k, ldb = b.shape
    depth = _slice_depth(k)
    npad = _padded_width(n)
    flat = b.reshape(-1)
    for kb in range(0, k, depth):
        _pack_slice(flat, kb, smaller(k, kb + depth), ldb, n, out[kb * npad:])


@kernel(inline=True)
def _pack_slice(b, k0, k1, ldb, n, out):
    """Rows [k0, k1) of B, panel by panel: the panel at column j0 (width w) lands
    at ``out[(k1-k0)*j0:]`` as (k1-k0) contiguous rows of w floats."""
    depth = k1 - k0
    j0 = 0
    while j0 < n:
        width = _panel_vectors((n - j0 + V - 1) // V) * V
        panel = out[depth * j0:depth * (j0 + width)]
        for p in range(depth):
            src = b[(k0 + p) * ldb + j0:(k0 + p) * ldb + j0 + width]
            dst = panel[p * width:(p + 1) * width]
            for j in range(width):
                dst[j] = src[j]
        j0 += width


@kernel(inline=True)
def _row_blocks(a, row_off, r0, r1, col_off, k0, k1, b, ldb, base, n, c, ldc, accumulate,
                scratch, tall):
    """gemm_rows for one reduction slice. ``ldb`` = 0 means B is this slice
    packed by _pack_slice from ``base`` (panel j0 at base + (k1-k0)*j0, rows as
    wide as the panel)."""
    for rb in range(r0, r1, ROW_BLOCK):
        re = smaller(r1, rb + ROW_BLOCK)
        j0 = 0
        while j0 < n:
            nv = _panel_vectors((n - j0 + V - 1) // V)
            width = nv * V
            if ldb == 0:
                b0, stride = base + (k1 - k0) * j0, width
            else:
                b0, stride = k0 * ldb + j0, ldb
            # a whole panel goes straight to C; the last, partial one is computed
            # a tile at a time into ``scratch`` and its valid columns copied
            whole = j0 + width <= n
            step = re - rb if whole else _tile_rows(nv, tall)
            for r in range(rb, re, step):
                valid = _panel(a, row_off, r, smaller(re, r + step), col_off, k0, k1, b, b0,
                               stride, c if whole else scratch, j0 if whole else _NONE,
                               ldc if whole else width, accumulate, nv, whole, tall)
                if not whole:
                    for i in range(valid):
                        dst = (r + i) * ldc + j0
                        for j in range(n - j0):
                            if accumulate:
                                c[dst + j] += scratch[i * width + j]
                            else:
                                c[dst + j] = scratch[i * width + j]
            j0 += width


@functools.lru_cache(maxsize=256)
def strided_offsets(count, stride):
    """[0, stride, 2*stride, ...]: the offset table of a row-major matrix's rows
    (stride = row length) or of its columns (stride = 1). Cached: the same
    shapes come back every step, and the kernels only read the tables."""
    return np.arange(count, dtype=np.int64) * stride


def pad_columns(m, width):
    """``m`` (rows, n) itself if its rows can be read ``width`` floats at a time,
    else a zero-padded copy: the form a B operand needs."""
    rows, n = m.shape
    if n >= width:
        return m
    out = np.zeros((rows, width), dtype=np.float32)
    out[:, :n] = m
    return out


@kernel(inner=True)
def copy_rows(src, dst, r0, r1):
    """dst[r, :n] = src[r] for rows [r0, r1) of a (rows, n) ``src`` into a wider
    ``dst`` (loops: Numba's 2-D slice assignment took seconds to compile)."""
    n = src.shape[1]
    for r in range(r0, r1):
        for j in range(n):
            dst[r, j] = src[r, j]

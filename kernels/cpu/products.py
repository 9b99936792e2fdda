"""The parallel products every Dense and Conv2D pass is made of, on ONE compiled
thread body.

``product_rows``: z = A @ B (+ bias), y = f(z), rows split over the threads,
the epilogue run on each block of rows while it is still in cache (bias and
activation, or a max pooling of window-ordered rows); a plain product with a
panel of columns per thread (``matmul``) is split by columns instead. Forward
passes and dense input gradients (with a linear "activation") use it.

``weight_gradient``: dz = dy * f'(z) (or the pooled gradient routed to each
window's maximum), db = column sums of dz, and dw = A^T dz, the reduction (rows
of z: samples or output pixels) split over the threads, dz made a step at a
time just before the GEMM reads it, and the per-thread partial sums added at
the end.

``patch_gradient``: A @ B with each row added into an image at its patch
(col2im): convolution input gradients.

A is read through offset tables (``gemm.py``), so a dense layer, a convolution
and their transposes are all one compiled thread body, ``_chunk``, run on every
thread by one parallel launcher, ``on_threads``. Both are reached by address
(``pointer.py``), as are the kernels ``_chunk`` calls (``_CALLEES``: the GEMM,
the epilogues, dz and col2im): Numba would otherwise optimise and translate
each callee's code again inside every caller (LLVM inlined the GEMM at each
call site: a second call site took the entry's compile from 10 to 18 s), and
the parallel loop's body once more for its gufunc. So each piece compiles
once, for one signature. The callers (dense, conv) are plain Python
functions, as a CUDA kernel's host launcher would be.
"""
import functools

import numpy as np
from numba import prange, types

from ._jit import kernel
from .scalars import larger, smaller
from .atomics import take
from .activations import bias_activation_rows, activation_grad_rows, row_range
from .gemm import GEMM_SIGNATURE, WIDEST_PANEL, gemm_rows, copy_rows, pack_b, padded_width
from .tile import V
from .patches import add_patches
from .pointer import address_of, function_at
from .window_max import max_over_windows, route_to_max
from ..codes import LINEAR

#: output rows per GEMM call, so the epilogue finds them still in cache
_ROWS = 128
#: a reduction shorter than this gets forward steps of _ROWS * (_SHORT // its length) rows
_SHORT = 128
#: reduction rows per weight-gradient step: its dz rows are made just before the
#: GEMM reads them, so they come from L2 (the seed CNN's: 1024 rows of 32 or 64
#: filters, 128-256 KB; against 256 rows its first layer's dw took 6.3 vs 7.6 ms)
_DEPTH = 1024
#: the fewest rows of dw per thread for a weight gradient split by rows of dw
_ROWS_EACH = 16
#: index 0 as a plain int64: a literal 0 would compile a callee once more
_FIRST = np.int64(0)
#: the arguments of ``on_threads`` a thread body does not use (shared with the
#: Winograd launchers): empty arrays of the one type each argument compiles for
EMPTY1 = np.zeros(0, dtype=np.float32)
EMPTY2 = np.zeros((0, 0), dtype=np.float32)
NO_ARG = np.zeros((0, 0), dtype=np.int8)
NO_ROWS = np.zeros(0, dtype=np.int64)


def flat_view(a):
    """``a`` as a 1-D view (an error, never a silent copy, if it cannot be one)."""
    flat = a.view()
    flat.shape = (a.size,)
    return flat


def no_bias():
    """The empty bias of a product without one."""
    return EMPTY1


def product_rows(a, row_off, col_off, b, bias, code, alpha, z, y, chunks, group=1, arg=None):
    """z[r] = sum_p a[row_off[r] + col_off[p]] * b[p, :n] (+ bias); y = f(z).

    Split by rows, or, for a plain product (no bias, no activation, no pooling,
    ``y`` is ``z``) of many rows with at least a panel of columns per thread,
    by columns (``_columns``: 2 threads, Xeon with AVX-512, n = 256 ... 2048:
    1.1-1.35x the speed by rows, where one thread packed B before all started).

    ``b`` is (len(col_off), >= padded_width(n)) with n = z.shape[1]; ``y`` may
    be ``z``; ``bias`` may be empty.

    With ``group`` > 1 the rows come window by window (``window_max.py``) and
    ``z`` is ``y``, the pooled output (one row per window): y[w] = f(max of
    window w's rows + bias), and ``arg`` (int8, y's shape; None in inference)
    receives where each maximum was.
    """
    rows, n = row_off.shape[0], z.shape[1]
    ldb = b.shape[1]
    if ldb > 4 * V and rows >= 64 * chunks:
        if (group == 1 and arg is None and bias.shape[0] == 0 and code == LINEAR
                and y is z and n >= chunks * WIDEST_PANEL):
            # a plain product (matmul, an input gradient) wide enough for a
            # panel each: split by columns, each thread packs its own
            on_threads(body_address(_columns), a, row_off, col_off, b, np.int64(ldb), bias,
                       np.int64(code), np.float32(alpha), z, y, z, z, EMPTY2, EMPTY2,
                       np.int64(chunks), np.int64(group), NO_ARG, NO_ROWS, NO_ROWS,
                       EMPTY1, callee_addresses())
            return
        # weights that every row block reads: packed into panels once, here
        packed = np.empty((b.shape[0], padded_width(n)), dtype=np.float32)
        pack_b(b, n, packed.reshape(-1))
        b, ldb = packed, 0
    _product(a, row_off, col_off, b, ldb, bias, np.int64(code), np.float32(alpha), z, y, z, z,
             EMPTY1, EMPTY1, chunks, np.int64(group), NO_ARG if arg is None else arg,
             NO_ROWS, NO_ROWS, EMPTY1)


def patch_gradient(a, row_off, col_off, b, n, origins, runs, target, samples, chunks):
    """target = the rows of A @ B added at their patches (``patches.py``):
    row r (a[row_off[r] + col_off[p]], p < len(col_off)) times ``b``
    (len(col_off), >= padded_width(n)); its n values are len(runs) runs,
    run k added at target[origins[r] + runs[k]:].

    ``target`` (flat) is zeroed first. It is ``samples`` equal parts, each
    receiving len(row_off) // samples consecutive rows; the rows are split over
    the threads by whole samples, so no two threads add into the same part.
    """
    shape = np.empty((0, n), dtype=np.float32)
    callees = callee_addresses()
    if callees[PATCHES] == 0:   # (compiled on first use: see _entries)
        callees[PATCHES] = address_of(add_patches, _CALLEES[PATCHES][1])
    _product(a, row_off, col_off, b, b.shape[1], EMPTY1, np.int64(LINEAR), np.float32(0.0),
             shape, shape, shape, shape, EMPTY1, EMPTY1, chunks,
             np.int64(row_off.shape[0] // samples), NO_ARG, origins, runs, target)



def weight_gradient(a, row_off, col_off, z, y, dy, code, alpha, dz, dw, db, chunks,
                    group=1, arg=None, keep=True):
    """dz = dy * f'(z); db = sum of dz's rows (unless empty);
    dw[m] = sum_p a[row_off[m] + col_off[p]] * dz[p] over every row p of z.

    ``dz`` is workspace of z's shape and may be ``dy``. With ``group`` > 1,
    z = y and dy are the pooled output and its gradient and ``arg`` where each
    maximum was (see ``product_rows``); the rows p are then ``col_off``'s
    window-ordered pixels, and the returned (pixels, >= n) array holds their
    gradient (the dz the input gradient is made from), unless ``keep`` is
    False: then each step's rows of dz live in a buffer of its thread's own."""
    windows, n = z.shape
    npad = padded_width(n)
    if arg is not None:   # pooled: the gradient of every pixel under a window
        dzb = np.empty((windows * group if keep else 0, npad), dtype=np.float32)
    else:
        dzb = np.zeros((windows, npad), dtype=np.float32) if npad != n else dz
    _product(a, row_off, col_off, dzb, npad, EMPTY1, np.int64(code), np.float32(alpha), z, y,
             dy, dz, flat_view(dw), db, chunks, np.int64(group),
             NO_ARG if arg is None else arg, NO_ROWS, NO_ROWS, EMPTY1)
    return dzb


def _product(a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw, db, chunks,
             group, arg, origins, runs, target):
    """product_rows when ``dw`` (flat) is empty, else weight_gradient (see those),
    with ``b`` the padded dz (it may be ``dz``). ``ldb`` is b's row length, or 0
    when ``b`` is packed by pack_b.

    Each thread runs ``_chunk``; a weight gradient's partial dw are then added
    by ``_add_partials``, split over the threads by element, and its db here.

    A short reduction (a dense layer, or a small image's convolution, at a
    small batch), whose dz is kept whole, is split by rows of dw instead: the
    threads make dz (``_chunk`` with partial dws of no columns), then each
    computes its rows of dw over the whole reduction as a forward product,
    without partial sums. Split by the reduction, each thread's tiles would
    run a few steps deep and write a whole dw: for a 1024x64 dense layer at
    batch 32 that took 3.3x the time (AMD Zen 3, 2 threads: 299 vs 90 us).
    """
    m = row_off.shape[0]
    grad = dw.shape[0] > 0
    by_rows = (grad and arg.shape[0] == 0 and b.shape[0] > 0
               and col_off.shape[0] < chunks * _DEPTH and m >= _ROWS_EACH * chunks)
    dw_partial = np.empty((chunks if grad else 0, 0 if by_rows else dw.shape[0]),
                          dtype=np.float32)
    db_partial = np.zeros((chunks, db.shape[0]), dtype=np.float32)
    callees, chunk, add = _entries()
    args = (a, row_off, col_off, b, np.int64(ldb), bias, np.int64(code), np.float32(alpha), z, y,
            dy, dz, dw_partial, db_partial, np.int64(chunks), np.int64(group), arg, origins,
            runs, target, callees)
    on_threads(chunk, *args)
    if by_rows:
        dw_rows = dw.reshape(m, z.shape[1])
        product_rows(a, row_off, col_off, b, EMPTY1, LINEAR, 0.0, dw_rows, dw_rows, chunks)
    elif grad:
        on_threads(add, *args[:19], dw, callees)
    if db.shape[0] > 0:
        # (NumPy: a compiled sum of a (threads, n) array was 0.3-0.4 s of compiling)
        np.sum(db_partial, axis=0, out=db)


_NO_SLOT = np.zeros((1, 0), dtype=np.float32)


@kernel(inner=True)
def _columns(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw_partial,
             db_partial, chunks, group, arg, origins, runs, target, callees):
    """Thread t's columns of a plain z = A @ B (no bias, no activation, no
    pooling), whole panels each, over all rows and the whole reduction: the
    GEMM then packs each slice of B's columns it reads itself, so the packing
    is split over the threads too (by rows, one thread packs B for all before
    the others start: at n = 256, 7% of the product's time on one thread)."""
    n = z.shape[1]
    p0, p1 = row_range((n + WIDEST_PANEL - 1) // WIDEST_PANEL, chunks, t)
    j0, j1 = p0 * WIDEST_PANEL, smaller(n, p1 * WIDEST_PANEL)
    if j1 > j0:
        gemm = gemm_at(callees[GEMM])
        gemm(a, row_off, _FIRST, row_off.shape[0], col_off, _FIRST, col_off.shape[0],
             b.reshape(-1)[j0:], ldb, j1 - j0, z.reshape(-1)[j0:], n, False)


def over_arena(body, w, g, slots, constants, flags, chunks, tables=(NO_ROWS, NO_ROWS)):
    """Run ``body``, an element-wise thread body (the optimizer updates,
    ``optimizers.py``; the Winograd weight transform), on ``chunks`` threads by
    ``on_threads``: one parallel launcher for these too, where a parallel loop
    of their own cost each about a second of compiling.

    The body reads ``on_threads``'s arguments as: ``target`` the array written,
    ``w`` (the weights), and ``a`` the one read, ``g`` (their gradients), both
    flat float32; ``z``, ``y``, ``dy`` up to three slot arrays as (1, n) rows
    ((1, 0) for a slot not given or empty), ``bias`` the float32 ``constants``,
    ``code`` the integer ``flags`` and ``row_off``, ``col_off`` two int64
    ``tables``. Thread t does its share of the elements, ``row_range(...,
    chunks, t)``.
    """
    rows = [s.reshape(1, -1) if s.shape[0] > 0 else _NO_SLOT for s in slots]
    rows += [_NO_SLOT] * (3 - len(rows))
    on_threads(body_address(body), g, tables[0], tables[1], _NO_SLOT, _FIRST,
               np.asarray(constants, dtype=np.float32), np.int64(flags), np.float32(0.0),
               rows[0], rows[1], rows[2], _NO_SLOT, _NO_SLOT, _NO_SLOT, np.int64(chunks),
               _FIRST, NO_ARG, NO_ROWS, NO_ROWS, w, NO_ROWS)


@functools.lru_cache(maxsize=None)
def body_address(body):
    """A thread body's address, the ``body`` argument of ``on_threads``
    (compiled for BODY_SIGNATURE the first time; every launcher asks here)."""
    return np.int64(address_of(body, BODY_SIGNATURE))


@kernel(parallel=True)
def on_threads(body, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw_partial,
                db_partial, chunks, group, arg, origins, runs, target, callees):
    """body(t, a, ..., callees) for t in range(chunks), with ``body`` a thread
    body's address: ``_chunk``, ``_add_partials``, ``winograd._tiles`` or an
    optimizer update (these read the arguments their own way: ``over_arena``).

    Each thread takes the next piece t from a shared counter (``atomics.take``)
    until none is left, rather than being given piece t: a thread that wakes
    late (a sleeping vCPU took 30-200 us to wake on the 2-core AMD EPYC Zen 4)
    finds its piece already done by one that was running, not the others
    waiting for it; and any number of threads, fewer than ``chunks`` too
    (``numba.set_num_threads``, ``nbkeras.backend.threads``), runs the same
    pieces with the same results, as each piece writes only its own outputs.

    The bodies are called by address (``pointer.py``), so each is compiled
    once, as a kernel of its own, and not optimised and translated again
    inside this parallel loop; one launcher serves them all (a parallel loop
    costs 1.3-1.8 s to compile).
    """
    run = _body_at(body)
    # (np.empty and a store: np.zeros in a parallel kernel is a parallel loop
    # of its own, one more launch on every call: 9.4 -> 8.1 us a 16x16 matmul)
    taken = np.empty(1, dtype=np.int64)
    taken[0] = 0
    for _ in prange(chunks):
        t = take(taken)
        while t < chunks:
            run(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz,
                dw_partial, db_partial, chunks, group, arg, origins, runs, target, callees)
            t = take(taken)


@kernel(inner=True)
def _add_partials(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw_partial,
                  db_partial, chunks, group, arg, origins, runs, target, callees):
    """Thread t's slice of target = dw_partial.sum(axis=0): the weight gradient's
    partial sums added (a thread body of ``on_threads``; the other arguments
    are unused)."""
    k0, k1 = row_range(target.shape[0], chunks, t)
    for k in range(k0, k1):
        total = dw_partial[0, k]
        for p in range(1, chunks):
            total += dw_partial[p, k]
        target[k] = total


@kernel(inner=True)
def _chunk(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw_partial,
           db_partial, chunks, group, arg, origins, runs, target, callees):
    """Thread t's share of ``_product``, which writes its partial dw and db to row t
    of ``dw_partial`` (empty: a forward) and ``db_partial``.

    Both directions run the same loop: forward, chunk t owns rows of z and the
    whole reduction; weight gradient, chunk t owns a slice of z's rows (the
    reduction) and all of its partial dw (or, with partials of no columns, only
    makes its rows of dz). Rows are
    split by whole pooling windows (``group`` rows; 1 without pooling); pooled,
    the forward computes each block of rows into a buffer of its own and keeps
    only its windows' maxima. With ``origins`` (patch_gradient) each block's
    rows are added into ``target`` at their patches instead, rows split by
    samples of ``group`` rows.
    """
    grad = dw_partial.shape[0] > 0
    dz_only = grad and dw_partial.shape[1] == 0   # (split by rows of dw: see _product)
    patches = origins.shape[0] > 0
    pooled = not patches and (group > 1 or arg.shape[0] > 0)   # (1x1 windows: trivially)
    n = z.shape[1]
    pixels = col_off.shape[0]   # (the weight gradient's reduction: rows of dz)
    m = row_off.shape[0]
    bf = b.reshape(-1)
    zf = z.reshape(-1)
    # a forward step of a short reduction (a first layer's few channels) covers
    # more rows, so its GEMM, pooling and epilogue calls are fewer (not for
    # col2im, whose rows are as wide as a patch)
    forward_rows = _ROWS if patches else _ROWS * larger(1, _SHORT // larger(1, col_off.shape[0]))
    rows_per_step = larger(group, (_DEPTH if grad else forward_rows) // group * group)
    # the kernels called by address (``_CALLEES``): their code is not compiled in here
    gemm = gemm_at(callees[GEMM])
    route = route_at(callees[ROUTE])
    grad_rows = grad_rows_at(callees[GRAD])
    window_max = window_max_at(callees[WINDOW_MAX])
    epilogue = epilogue_at(callees[EPILOGUE])
    patch_add = _patches_at(callees[PATCHES])
    w0, w1 = row_range((pixels if grad else m) // group, chunks, t)
    lo, hi = w0 * group, w1 * group
    local = np.empty(rows_per_step * n if (pooled or patches) and not grad else 0,
                     dtype=np.float32)
    c = dw_partial[t] if grad else local
    # the pooled weight gradient's dz, when it is not kept: a step at a time
    own = np.empty((rows_per_step if grad and b.shape[0] == 0 else 0, b.shape[1]),
                   dtype=np.float32)
    source = own.reshape(-1) if own.shape[0] > 0 else bf
    # (at least one step: an empty chunk still writes its zero partial dw)
    for s in range(lo, larger(hi, lo + 1), rows_per_step):
        e = smaller(hi, s + rows_per_step)
        if grad:
            # this step's rows of dz, used by the GEMM while still in cache
            if pooled:
                first = s if own.shape[0] > 0 else _FIRST
                route(y, dy, arg, group, code, alpha, own if own.shape[0] > 0 else b,
                      s // group, e // group, first, db_partial[t])
            else:
                grad_rows(z, y, dy, code, alpha, dz, s, e, db_partial[t])
                if b.shape[1] != n:
                    copy_rows(dz, b, s, e)
            rs, re, ks, ke = _FIRST, m, s, e
            bs = _FIRST if own.shape[0] > 0 else s * ldb
        else:
            if not (pooled or patches):
                c = zf[s * n:e * n]
            rs, re, ks, ke, bs = s, e, _FIRST, col_off.shape[0], _FIRST
        # rows and reduction indexed from the step's start
        if not dz_only:
            gemm(a, row_off[rs:re], _FIRST, re - rs, col_off[ks:ke], _FIRST, ke - ks,
                 source[bs:], ldb, n, c, n, grad and s > lo)
        if not grad:
            if pooled:
                window_max(local, e - s, group, y, s // group, arg)
                epilogue(y, bias, code, alpha, y, s // group, e // group)
            elif patches:
                patch_add(local, s, e, group, n, origins, runs, target)
            else:
                epilogue(z, bias, code, alpha, y, s, e)


_F1, _F2, _I1, _I64 = types.float32[::1], types.float32[:, ::1], types.int64[::1], types.int64
_I8, _F32 = types.int8[:, ::1], types.float32
#: the one signature the thread bodies are compiled for (``on_threads``'s arguments)
BODY_SIGNATURE = types.none(_I64, _F1, _I1, _I1, _F2, _I64, _F1, _I64, _F32, _F2, _F2, _F2,
                             _F2, _F2, _F2, _I64, _I64, _I8, _I1, _I1, _F1, _I1)
_body_at = function_at(BODY_SIGNATURE)
#: the kernels ``_chunk`` calls by address, in the order of its ``callees``,
#: each for its one signature: linked in, their code would be optimised and
#: translated again as part of ``_chunk``'s
_CALLEES = (
    (gemm_rows, GEMM_SIGNATURE),
    (route_to_max, types.none(_F2, _F2, _I8, _I64, _I64, _F32, _F2, _I64, _I64, _I64, _F1)),
    (activation_grad_rows, types.none(_F2, _F2, _F2, _I64, _F32, _F2, _I64, _I64, _F1)),
    (max_over_windows, types.none(_F1, _I64, _I64, _F2, _I64, _I8)),
    (bias_activation_rows, types.none(_F2, _F1, _I64, _F32, _F2, _I64, _I64)),
    (add_patches, types.none(_F1, _I64, _I64, _I64, _I64, _I1, _I1, _F1)),
)
#: each callee's index in ``callees``
GEMM, ROUTE, GRAD, WINDOW_MAX, EPILOGUE, PATCHES = range(len(_CALLEES))
gemm_at, route_at, grad_rows_at, window_max_at, epilogue_at, _patches_at = (
    function_at(signature) for _, signature in _CALLEES)


def callee_addresses():
    """The ``callees`` array every thread body receives (``_CALLEES``' addresses)."""
    return _entries()[0]


@functools.lru_cache(maxsize=None)
def _entries():
    """The addresses ``_chunk`` calls (``_CALLEES``), and those of ``_chunk`` and
    ``_add_partials``.

    The order is the compile order the helper process (``prewarm.py``) is
    recorded with, and it compiles that list from its end: this process takes
    ``_chunk`` and the GEMM, the largest two, while the helper takes the
    optimizer, loss and launcher kernels and then the epilogues from the last.

    col2im (``add_patches``) is compiled on the first ``patch_gradient``, not
    here: 3x3 convolutions make their input gradient without it (a third of a
    second of the seed CNN's first epoch)."""
    chunk = np.int64(address_of(_chunk, BODY_SIGNATURE))
    callees = [0 if kernel is add_patches else address_of(kernel, signature)
               for kernel, signature in _CALLEES]
    return (np.array(callees, dtype=np.int64), chunk,
            np.int64(address_of(_add_partials, BODY_SIGNATURE)))

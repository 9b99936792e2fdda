"""The tiled GEMM (``kernels/cpu/gemm.py`` on the micro-kernel of ``tile.py``)."""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nbkeras.kernels.codes import ACTIVATION_CODES
from nbkeras.kernels.cpu import gemm

#: reductions of one, two and three slices, and A rows of several blocks, at
#: this CPU's blocking (``gemm.slice_depth_limit``)
DEPTH, ROWS = gemm.DEPTH, gemm.ROW_BLOCK


@contextlib.contextmanager
def spying(module, name):
    """[the arguments of each call of module.name] while the block runs."""
    calls, real = [], getattr(module, name)

    def spy(*args):
        calls.append(args)
        return real(*args)
    setattr(module, name, spy)
    try:
        yield calls
    finally:
        setattr(module, name, real)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 4 * ROWS + 10), k=st.integers(0, 2 * DEPTH + 60), n=st.integers(1, 150),
       chunks=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_matmul_matches_numpy(ops, m, k, n, chunks, seed):
    """Every path: full, partial and 1/2/4-vector column panels, several row blocks
    (m > ROWS), reductions sliced and accumulated (k > DEPTH), k = 0, more threads
    than rows."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    out = np.full((m, n), np.nan, np.float32)
    ops.matmul(a, b, out, chunks)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4 * max(1.0, np.sqrt(k)))


def test_matmul_of_large_values_is_exact_where_float32_is(ops):
    """Integers small enough to be exact in float32 give the exact product."""
    rng = np.random.default_rng(1)
    a = rng.integers(-8, 8, (67, 300)).astype(np.float32)
    b = rng.integers(-8, 8, (300, 70)).astype(np.float32)
    out = np.empty((67, 70), np.float32)
    ops.matmul(a, b, out, 2)
    np.testing.assert_array_equal(out, (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 300), m=st.integers(1, 90),
       seed=st.integers(0, 2**16))
def test_dense_relu_in_place_gradient(ops, n, k, m, seed):
    """The layer's own call pattern: y over z, dz over dy, sizes past one vector panel."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, k)).astype(np.float32)
    w = (rng.standard_normal((k, m)) / np.sqrt(k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    relu = ACTIVATION_CODES["relu"]
    z = np.empty((n, m), np.float32)
    ops.dense_forward(x, w, b, relu, np.float32(0), z, z, 2)
    pre = x.astype(np.float64) @ w + b
    np.testing.assert_allclose(z, np.maximum(pre, 0), rtol=1e-4, atol=1e-5)
    dy = rng.standard_normal((n, m)).astype(np.float32)
    g = dy * (z > 0)  # the kernel's own mask: pre-activations near 0 may round either way
    dw, db, dx = np.empty_like(w), np.empty_like(b), np.empty_like(x)
    ops.dense_backward(x, w, z, z, dy, relu, np.float32(0), dy, dw, db, dx, 2)
    np.testing.assert_allclose(dy, g, rtol=0, atol=0)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, g.sum(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, g @ w.T.astype(np.float64), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("samples, features, chunks", [
    (100, 40, 2),     # short reduction: split by rows of dw, no partial sums
    (2100, 40, 2),    # long reduction: split by samples, partial dw added
    (100, 20, 2),     # too few rows of dw to split by them
    (100, 300, 3),
])
def test_weight_gradient_either_split(ops, samples, features, chunks):
    """The two ways a dense weight gradient is split over the threads
    (``products._product``) give the same dw, db and dz."""
    rng = np.random.default_rng(samples + features)
    x = rng.standard_normal((samples, features)).astype(np.float32)
    w = rng.standard_normal((features, 24)).astype(np.float32)
    z = rng.standard_normal((samples, 24)).astype(np.float32)
    dy = rng.standard_normal((samples, 24)).astype(np.float32)
    relu = ACTIVATION_CODES["relu"]
    dz, dw, db = np.empty_like(z), np.empty_like(w), np.empty(24, np.float32)
    ops.dense_backward(x, w, z, z, dy, relu, np.float32(0), dz, dw, db,
                       np.empty((0, 0), np.float32), chunks)
    g = dy * (z > 0)
    np.testing.assert_array_equal(dz, g)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db, g.sum(0, dtype=np.float64), rtol=1e-4, atol=1e-3)


def test_weights_packed_once_cover_every_slice_and_partial_panel(ops):
    """A wide B with many rows, under a bias (so not split by columns), is
    packed once (gemm.pack_b) and read with ldb = 0: several reduction slices
    (k > DEPTH), a last panel narrower than a vector."""
    from nbkeras.kernels.cpu import products
    from nbkeras.kernels.cpu.tile import V
    rng = np.random.default_rng(3)
    linear = ACTIVATION_CODES["linear"]
    with spying(products, "pack_b") as packs:
        # (rows wider than 4 vectors are packed: 4 * V + 3)
        for m, k, n, chunks in ((300, 2 * DEPTH + 88, 100, 2), (130, DEPTH + 1, 4 * V + 3, 2),
                                (512, 2 * DEPTH + 1, 65, 4)):
            x = rng.standard_normal((m, k)).astype(np.float32)
            w = rng.standard_normal((k, n)).astype(np.float32)
            bias = rng.standard_normal(n).astype(np.float32)
            out = np.full((m, n), np.nan, np.float32)
            ops.dense_forward(x, w, bias, linear, 0.0, out, out, chunks)
            want = x.astype(np.float64) @ w.astype(np.float64) + bias
            np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3)
    assert len(packs) == 3


def test_plain_product_split_by_columns(ops):
    """A plain product (no bias, no activation) as wide as a panel per thread is
    split by columns, each thread packing its own: uneven panels per thread, a
    partial last panel, several row blocks and reduction slices; narrower, it
    is split by rows."""
    from nbkeras.kernels.cpu import products
    panel = gemm.WIDEST_PANEL
    rng = np.random.default_rng(7)
    for m, k, n, chunks, by_columns in ((300, 2 * DEPTH + 88, 3 * panel + 5, 2, True),
                                        (130, DEPTH + 1, 2 * panel + 3, 2, True),
                                        (520, 70, 4 * panel + 1, 3, True),
                                        (256, 300, 2 * panel - 1, 2, False)):
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        out = np.full((m, n), np.nan, np.float32)
        with spying(products, "on_threads") as launches:
            ops.matmul(a, b, out, chunks)
        assert (launches[0][0] == products.body_address(products._columns)) == by_columns
        want = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3)


def test_one_compiled_product_serves_every_caller(ops):
    """Dense and Conv2D, forward and backward, and matmul all run the single
    compiled parallel launcher, thread body and GEMM: a second specialisation (a
    Python float for alpha, a literal argument, another layout) would cost the
    first epoch its compile time again."""
    from nbkeras.kernels.cpu import gemm, products
    rng = np.random.default_rng(4)
    relu = ACTIVATION_CODES["relu"]
    x = rng.standard_normal((4, 6, 6, 3)).astype(np.float32)
    w2 = rng.standard_normal((27, 40)).astype(np.float32)
    z = np.empty((4 * 4 * 4, 40), np.float32)
    empty4 = np.empty((0, 0, 0, 0), np.float32)
    ops.conv2d_forward(x, w2, np.zeros(40, np.float32), 3, 3, 1, 1, 0, 0, 4, 4, relu, 0.0,
                       empty4, z, z, 2)
    dx = np.empty_like(x)
    ops.conv2d_backward(w2, x, z, z, np.ones_like(z), 3, 3, 1, 1, 0, 0, 4, 4, relu, 0.0,
                        np.empty_like(z), np.empty_like(w2), np.empty(40, np.float32), dx, 2)
    xd = rng.standard_normal((70, 20)).astype(np.float32)
    wd = rng.standard_normal((20, 50)).astype(np.float32)
    zd = np.empty((70, 50), np.float32)
    ops.dense_forward(xd, wd, np.empty(0, np.float32), 0, 0.5, zd, zd, 2)
    ops.dense_backward(xd, wd, zd, zd, np.ones_like(zd), 0, np.float32(0), np.empty_like(zd),
                       np.empty_like(wd), np.empty(0, np.float32), np.empty_like(xd), 1)
    ops.matmul(xd, wd, zd, 3)
    for kernel in (products.on_threads, products._chunk, products._add_partials,
                   gemm.gemm_rows):
        assert len(kernel.signatures) == 1, (kernel, kernel.signatures)


@pytest.mark.parametrize("m, tall", [(9, True), (18, True), (27, True), (45, True),
                                     (gemm.ROW_BLOCK + 27, True), (8, False), (16, False),
                                     (64, False), (100, False)])
def test_tall_tiles_where_they_waste_fewer_rows(ops, m, tall):
    """2-vector panels of 9, 27, ... rows take the 9-row tile (AVX-512; 100
    rows: a last block of 28, 32 in 8-row tiles, 36 in 9-row ones) and the
    others the 8-row one: whole and partial panels, after 4-vector ones, over
    one and several reduction slices, give NumPy's product either way."""
    from nbkeras.kernels.cpu.tile import V
    assert gemm.tall_tiles(m) == (V == 16 and tall)
    rng = np.random.default_rng(m)
    for k in (27, DEPTH + 5):
        for n in (2 * V, 2 * V - 5, 6 * V if V == 16 else 4 * V, 6 * V - 3):
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            out = np.full((m, n), np.nan, np.float32)
            ops.matmul(a, b, out, 1)
            want = a.astype(np.float64) @ b.astype(np.float64)
            np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3)

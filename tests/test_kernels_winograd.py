"""3x3 convolutions by Winograd F(2x2, 3x3) and F(4x4, 3x3) against the float64
reference.

The kernels are reached through the public ``conv2d_forward`` and
``conv2d_pool_forward``, with channel counts that send them to ``winograd.py``
(a spy checks that they got there), and their layers' backward passes against
finite differences."""
import contextlib

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import nbkeras
import reference as ref
from nbkeras import layers
from nbkeras.kernels.codes import LINEAR, RELU, SIGMOID, TANH
from nbkeras.kernels.cpu import gemm, winograd
from nbkeras.kernels.cpu.tile import V
from nbkeras.kernels.cpu.vector_maps import (INPUT_TILE, INPUT_TILE_6, OUTPUT_TILE,
                                             OUTPUT_TILE_6, STAGES, apply_map, dense_map, A_T,
                                             A6_T, B_T, B6_T, G, G6)
from numba import njit
from test_layers_gradients import _check, _x

_CODES = {"linear": LINEAR, "relu": RELU, "sigmoid": SIGMOID, "tanh": TANH}
_NO_PAD = np.zeros((0, 0, 0, 0), dtype=np.float32)
#: the fewest channels sent to Winograd on this CPU: whole vectors, at least MIN_CHANNELS
C0 = -(-winograd.MIN_CHANNELS // V) * V

cases = st.fixed_dictionaries({
    "n": st.integers(1, 3), "h": st.integers(3, 12), "w": st.integers(3, 12),
    "c": st.sampled_from([C0, C0 + V, 2 * C0]), "f": st.sampled_from([V, 2 * V, 4 * V]),
    "padding": st.sampled_from(["valid", "same"]),
    "activation": st.sampled_from(["linear", "relu", "sigmoid", "tanh"]),
    "bias": st.booleans(), "chunks": st.integers(1, 3), "seed": st.integers(0, 2**16)})


@contextlib.contextmanager
def counting_launches(tile_sizes=None):
    """[the number of Winograd launches so far] (a spy on ``winograd._launch``);
    each launch's output tile size is appended to ``tile_sizes``."""
    count = [0]
    real = winograd._launch

    def spy(*args):
        count[0] += 1
        if tile_sizes is not None:
            tile_sizes.append(args[-2])
        return real(*args)
    winograd._launch = spy
    try:
        yield count
    finally:
        winograd._launch = real


@pytest.fixture
def launches():
    with counting_launches() as count:
        yield count


def _operands(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["h"], case["w"], case["c"])).astype(np.float32)
    kernel = (rng.standard_normal((3, 3, case["c"], case["f"]))
              / np.sqrt(9 * case["c"])).astype(np.float32)
    b = (rng.standard_normal(case["f"]).astype(np.float32) if case["bias"]
         else np.zeros(0, np.float32))
    return x, kernel, b


def _source(x, padding):
    """What the patches read (x, or its zero-padded copy) and the output size."""
    if padding == "valid":
        return x, x.shape[1] - 2, x.shape[2] - 2
    return ref.pad_nhwc(x, 3, 3, 1, 1, "same")[0].astype(np.float32), x.shape[1], x.shape[2]


@pytest.mark.parametrize("tile_in, tile_out, b_t, a_t, side",
                         [(INPUT_TILE, OUTPUT_TILE, B_T, A_T, 4),
                          (INPUT_TILE_6, OUTPUT_TILE_6, B6_T, A6_T, 6)])
def test_maps_are_the_transforms(tile_in, tile_out, b_t, a_t, side):
    """Each map's stages multiply out to B^T d B and A^T m A on a flattened tile."""
    rng = np.random.default_rng(0)
    d, m = rng.standard_normal((side, side)), rng.standard_normal((side, side))
    np.testing.assert_allclose(dense_map(tile_in) @ d.ravel(), (b_t @ d @ b_t.T).ravel())
    np.testing.assert_allclose(dense_map(tile_out) @ m.ravel(), (a_t @ m @ a_t.T).ravel())
    assert len(STAGES[tile_in]) == len(STAGES[tile_out]) == 2


@pytest.mark.parametrize("b_t, g, a_t", [(B_T, G, A_T), (B6_T, G6, A6_T)])
def test_minimal_filtering_is_the_correlation(b_t, g, a_t):
    """A^T [(G g) * (B^T d)] is the 'valid' correlation of d with g (1-D): the
    matrices are Lavin and Gray's."""
    rng = np.random.default_rng(1)
    d, k = rng.standard_normal(b_t.shape[0]), rng.standard_normal(3)
    want = np.array([d[i:i + 3] @ k for i in range(a_t.shape[0])])
    np.testing.assert_allclose(a_t @ ((g @ k) * (b_t @ d)), want, atol=1e-12)


@njit
def _map_both(src, src_off, dst_in, dst_out, out_off, count, base):
    apply_map(INPUT_TILE, src, base, src_off, dst_in, 0, src_off, count)
    apply_map(OUTPUT_TILE, src, base, src_off, dst_out, 0, out_off, count)


@njit
def _map_both_6(src, src_off, dst_in, dst_out, out_off, count, base):
    apply_map(INPUT_TILE_6, src, base, src_off, dst_in, 0, src_off, count)
    apply_map(OUTPUT_TILE_6, src, base, src_off, dst_out, 0, out_off, count)


@pytest.mark.parametrize("side", [4, 6])
@pytest.mark.parametrize("vectors", [1, 3])
def test_apply_map_matches_its_matrix(vectors, side):
    """apply_map on scattered rows of channels against the dense matrix."""
    count = vectors * V
    points, outs = side * side, (side - 2) ** 2
    rng = np.random.default_rng(vectors)
    src_off = (np.arange(points) * (count + 5)).astype(np.int64)   # rows apart, gaps between
    out_off = (np.arange(outs) * count).astype(np.int64)
    src = rng.standard_normal(points * (count + 5) + 3).astype(np.float32)
    dst_in = np.full(points * (count + 5), np.nan, np.float32)
    dst_out = np.full(outs * count, np.nan, np.float32)
    (_map_both if side == 4 else _map_both_6)(src, src_off, dst_in, dst_out, out_off, count, 3)
    tile_in, tile_out = (INPUT_TILE, OUTPUT_TILE) if side == 4 else (INPUT_TILE_6, OUTPUT_TILE_6)
    rows = np.stack([src[3 + o:3 + o + count] for o in src_off]).astype(np.float64)
    got_in = np.stack([dst_in[o:o + count] for o in src_off])
    scale = 1.0 if side == 4 else 50.0     # (F(4x4, 3x3)'s coefficients reach 25 and 64)
    np.testing.assert_allclose(got_in, dense_map(tile_in) @ rows, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(dst_out.reshape(outs, count), dense_map(tile_out) @ rows,
                               rtol=1e-5, atol=1e-5 * scale)
    # the gaps between the rows were not written
    assert np.isnan(dst_in[count:count + 5]).all()


@pytest.mark.parametrize("m, g, chunks", [(2, G, 1), (2, G, 3), (4, G6, 1), (4, G6, 3)])
def test_weight_transform(m, g, chunks):
    rng = np.random.default_rng(3)
    c, f = C0, 2 * V
    kernel = rng.standard_normal((3, 3, c, f)).astype(np.float32)
    u = winograd.transform_weights(kernel.reshape(-1, f), c, f, m, chunks)
    u = u.reshape(m + 2, m + 2, c, f)
    expected = np.einsum("ai,ijck,bj->abck", g, kernel.astype(np.float64), g)
    np.testing.assert_allclose(u, expected, rtol=1e-5, atol=1e-6)


@given(cases)
def test_conv3x3_forward(case):
    ops = nbkeras.kernels.cpu
    x, kernel, b = _operands(case)
    source, oh, ow = _source(x, case["padding"])
    rows, f = case["n"] * oh * ow, case["f"]
    z = np.full((rows, f), np.nan, np.float32)
    y = np.full((rows, f), np.nan, np.float32)
    with counting_launches() as calls:
        ops.conv2d_forward(source, kernel.reshape(-1, f), b, 3, 3, 1, 1, 0, 0, oh, ow,
                           _CODES[case["activation"]], 0.0, _NO_PAD, z, y, case["chunks"])
    assert calls[0] == 1
    pre = ref.conv2d(x.astype(np.float64), kernel.astype(np.float64),
                     b.astype(np.float64) if b.size else None, (1, 1), case["padding"])
    np.testing.assert_allclose(z.reshape(pre.shape), pre, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(y.reshape(pre.shape), ref.activation(case["activation"], pre),
                               rtol=1e-5, atol=2e-5)


def _pooled_case(case):
    """(source, w2, b, y to fill, the reference's windows (n, poh, pow, 4, f)) of
    a 2x2-pooled case, or None where the output has no whole window."""
    x, kernel, b = _operands(case)
    source, oh, ow = _source(x, case["padding"])
    if oh < 2 or ow < 2:
        return None
    n, f = case["n"], case["f"]
    poh, pow_ = oh // 2, ow // 2
    post = ref.activation(case["activation"], ref.conv2d(
        x.astype(np.float64), kernel.astype(np.float64),
        b.astype(np.float64) if b.size else None, (1, 1), case["padding"]))
    windows = (post[:, :2 * poh, :2 * pow_].reshape(n, poh, 2, pow_, 2, f)
               .transpose(0, 1, 3, 2, 4, 5).reshape(n, poh, pow_, 4, f))
    return (source, kernel.reshape(-1, f), b, np.full((n, poh, pow_, f), np.nan, np.float32),
            windows)


@given(cases)
@example({"n": 2, "h": 6, "w": 9, "c": C0, "f": 2 * V, "padding": "valid",
          "activation": "relu", "bias": True, "chunks": 2, "seed": 3})     # (4 x 7 outputs)
def test_conv3x3_forward_in_inference(case):
    """Without a backward pass to follow, the larger F(4x4, 3x3) tiles where
    they take fewer products (``winograd.tile_size``)."""
    ops = nbkeras.kernels.cpu
    x, kernel, b = _operands(case)
    source, oh, ow = _source(x, case["padding"])
    rows, f = case["n"] * oh * ow, case["f"]
    z = np.full((rows, f), np.nan, np.float32)
    tile_sizes = []
    with counting_launches(tile_sizes):
        ops.conv2d_forward(source, kernel.reshape(-1, f), b, 3, 3, 1, 1, 0, 0, oh, ow,
                           _CODES[case["activation"]], 0.0, _NO_PAD, z, z, case["chunks"],
                           False)
    assert tile_sizes == [winograd.tile_size(oh, ow, False)]
    if (oh, ow) == (4, 7):
        assert tile_sizes == [4]
    want = ref.activation(case["activation"], ref.conv2d(
        x.astype(np.float64), kernel.astype(np.float64),
        b.astype(np.float64) if b.size else None, (1, 1), case["padding"]))
    np.testing.assert_allclose(z.reshape(want.shape), want, rtol=1e-5, atol=5e-5)


@given(cases)
def test_conv3x3_pool_forward(case):
    """Pooled 2x2: y and, where the window's two largest values are apart,
    the index of its maximum (in scan order: ``arg``)."""
    pooled = _pooled_case(case)
    if pooled is None:
        return
    source, w2, b, y, windows = pooled
    arg = np.full(y.shape, -1, np.int8)
    with counting_launches() as calls:
        nbkeras.kernels.cpu.conv2d_pool_forward(source, w2, b, 3, 3, 1, 1, 0, 0, 2, 2,
                                                _CODES[case["activation"]], 0.0, _NO_PAD, y,
                                                arg, case["chunks"])
    assert calls[0] == 1
    np.testing.assert_allclose(y, windows.max(axis=3), rtol=1e-5, atol=2e-5)
    top2 = np.sort(windows, axis=3)[..., -2:, :]
    clear = top2[..., 1, :] - top2[..., 0, :] > 1e-4
    assert ((arg >= 0) & (arg < 4)).all()
    np.testing.assert_array_equal(arg[clear], windows.argmax(axis=3)[clear])


@given(cases)
@example({"n": 2, "h": 15, "w": 11, "c": C0, "f": 2 * V, "padding": "valid",
          "activation": "relu", "bias": True, "chunks": 2, "seed": 7})   # (6 x 4 windows)
def test_conv3x3_pool_forward_in_inference(case):
    """Pooled 2x2 without ``arg`` (inference): with an even number of windows
    each way, F(4x4, 3x3), each 4x4 tile four windows; else F(2x2, 3x3)."""
    pooled = _pooled_case(case)
    if pooled is None:
        return
    source, w2, b, y, windows = pooled
    tile_sizes = []
    with counting_launches(tile_sizes):
        nbkeras.kernels.cpu.conv2d_pool_forward(source, w2, b, 3, 3, 1, 1, 0, 0, 2, 2,
                                                _CODES[case["activation"]], 0.0, _NO_PAD, y,
                                                np.zeros((0, 0, 0, 0), np.int8),
                                                case["chunks"])
    assert tile_sizes == [4 if y.shape[1] % 2 == 0 and y.shape[2] % 2 == 0 else 2]
    np.testing.assert_allclose(y, windows.max(axis=3), rtol=1e-5, atol=5e-5)


def test_other_shapes_stay_direct(launches):
    """Strided, 3x2 or channel counts off the vector width: the direct product."""
    assert not winograd.fits(3, 3, 2, 2, C0, V)
    assert not winograd.fits(3, 2, 1, 1, C0, V)
    assert not winograd.fits(3, 3, 1, 1, C0 + 1, V)
    assert not winograd.fits(3, 3, 1, 1, C0, V + 1)
    assert not winograd.fits(3, 3, 1, 1, 3, V)
    assert winograd.fits(3, 3, 1, 1, C0, V)
    x = np.ones((1, 6, 6, 3), np.float32)
    z = np.empty((16, V), np.float32)
    nbkeras.kernels.cpu.conv2d_forward(x, np.ones((27, V), np.float32), np.zeros(0, np.float32),
                                       3, 3, 1, 1, 0, 0, 4, 4, LINEAR, 0.0, _NO_PAD, z, z, 1)
    assert launches[0] == 0
    np.testing.assert_allclose(z, 27.0)


@pytest.mark.parametrize("padding,act,shape", [("valid", "sigmoid", (2, 7, 6, C0)),
                                               ("same", "tanh", (2, 5, 5, C0))])
def test_winograd_conv2d_backward(launches, padding, act, shape):
    """The layer trains on the Winograd forward: its backward against finite
    differences of the float64 reference."""
    layer = layers.Conv2D(16, 3, padding=padding, activation=act)
    _check(layer, _x(shape), lambda x, k, b: ref.conv2d(x, k, b, (1, 1), padding, act))
    assert launches[0] > 0


def test_winograd_conv2d_maxpool_fused_backward(launches):
    from nbkeras.layers import conv_pool
    model = nbkeras.Sequential([layers.Conv2D(16, 3, activation="relu"),
                                layers.MaxPooling2D(2)])
    assert isinstance(model._call_plan()[0], conv_pool.ConvMaxPool)
    # (seeds 0, 1, 2 and 4 put two of a window's values within the finite-
    # difference step: the direct convolution fails on them alike)
    _check(model, _x((2, 8, 7, C0), seed=3), lambda x, k, b: ref.pool2d(
        ref.conv2d(x, k, b, (1, 1), "valid", "relu"), (2, 2), (2, 2), "valid", "max"))
    assert launches[0] > 0


@pytest.mark.parametrize("for_training", [True, False])
@pytest.mark.parametrize("chunks", [1, 3])
def test_kept_transform_follows_weights_changed_in_place(for_training, chunks):
    """The transformed weights are kept between calls in inference
    (``transform_weights``), made again each call in training: either way a
    change to the kernel array in place, even of one element, is seen, also
    on 3 threads, where F(2x2, 3x3)'s transform is split by pairs (the
    changes below fall in the first and the last thread's share)."""
    rng = np.random.default_rng(5)
    c, f = C0, V
    x = rng.standard_normal((1, 6, 6, c)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, c, f)).astype(np.float32)
    w2 = kernel.reshape(-1, f)
    z = np.empty((16, f), np.float32)
    for change in (None, (0, 0), (5, 3), (9 * c - 1, f - 1)):
        if change is not None:
            w2[change] += 0.25
        with counting_launches() as calls:
            nbkeras.kernels.cpu.conv2d_forward(x, w2, np.zeros(0, np.float32), 3, 3, 1, 1, 0, 0,
                                               4, 4, LINEAR, 0.0, _NO_PAD, z, z, chunks,
                                               for_training)
        assert calls[0] == 1
        expected = ref.conv2d(x.astype(np.float64), kernel.astype(np.float64), None, (1, 1),
                              "valid")
        # F(4x4, 3x3)'s rounding grows with the output's scale (sums of 288
        # products here, up to ~30): 1e-5 of it, far below the 0.25 change
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(z.reshape(expected.shape), expected, rtol=1e-5,
                                   atol=1e-5 * scale)


@pytest.mark.parametrize("pooled", [False, True])
def test_layers_take_the_larger_tiles_only_in_inference(pooled):
    """predict and evaluate run F(4x4, 3x3) where it pays; the forward pass of a
    training step, which the backward pass follows, F(2x2, 3x3)."""
    stack = [layers.Conv2D(V, 3, activation="relu")] + ([layers.MaxPooling2D(2)] if pooled
                                                         else [])
    model = nbkeras.Sequential([nbkeras.Input((10, 10, C0))] + stack +
                               [layers.Flatten(), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((4, 10, 10, C0)).astype(np.float32)
    y = np.zeros((4, 2), np.float32)
    for run, want in ((lambda: model.predict(x, verbose=0), 4),
                      (lambda: model.evaluate(x, y, verbose=0), 4),
                      (lambda: model.fit(x, y, epochs=1, verbose=0), 2)):
        tile_sizes = []
        with counting_launches(tile_sizes):
            run()
        assert tile_sizes and set(tile_sizes) == {want}


@pytest.mark.parametrize("l2", [512 * 1024, 1024 * 1024, 2048 * 1024])
@pytest.mark.parametrize("channels, filters, m, per_unit", [
    (C0, 4 * V, 2, 1), (4 * V, 2 * V, 2, 7), (4 * V, 4 * V, 2, 2), (C0, 4 * V, 4, 3),
    (2 * C0, V, 2, 5)])
def test_tiles_per_step(l2, channels, filters, m, per_unit):
    """Whole units, within half the L2 (or one unit), and, where some count
    from half the most up fills whole GEMM tiles, one that does."""
    tiles = winograd.tiles_per_step(channels, filters, m, per_unit, l2)
    side = (m + 2) ** 2
    most = max(per_unit, min(60, l2 // 2 // (side * 4 * (channels + filters))))
    assert tiles % per_unit == 0 and per_unit <= tiles <= most
    rows = gemm.tile_rows_for(filters)
    whole = [t for t in range(per_unit, most + 1, per_unit) if 2 * t >= most and t % rows == 0]
    if whole:
        assert tiles % rows == 0


@pytest.mark.parametrize("tiles", [1, 6, 32, 42, 48, 60, 64])
@pytest.mark.parametrize("width", [V, 2 * V, 32, 64, 128, 256, 512])
def test_part_stride_spreads_the_parts_over_the_l1_sets(tiles, width):
    """The 16 parts of a step's V, M or Z, ``part_stride`` tiles of ``width``
    floats apart, start at as many different places of the L1's 4 KB set period
    as rows that wide allow: never two together where a row is under 256
    bytes, which 32 or 64 tiles a step were."""
    stride = winograd.part_stride(tiles)
    assert stride >= tiles
    starts = [(xi * stride * width * 4) % 4096 for xi in range(16)]
    most_together = max(starts.count(s) for s in starts)
    assert most_together <= max(1, 16 * width * 4 // 4096)

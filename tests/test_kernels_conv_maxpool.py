"""The fused convolution + max pooling kernels against the NumPy reference."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import reference as ref
from nbkeras.kernels.codes import LINEAR, RELU, SIGMOID, TANH
from nbkeras.kernels.cpu.tile import V

cases = st.fixed_dictionaries({
    "n": st.integers(1, 3), "h": st.integers(2, 11), "w": st.integers(2, 11),
    "c": st.integers(1, 5), "f": st.integers(1, 20), "kh": st.integers(1, 3),
    "kw": st.integers(1, 3), "sh": st.integers(1, 2), "sw": st.integers(1, 2),
    "ph": st.integers(1, 3), "pw": st.integers(1, 4),
    "padding": st.sampled_from(["valid", "same"]),
    "activation": st.sampled_from(["linear", "relu", "sigmoid", "tanh"]),
    "chunks": st.integers(1, 3), "seed": st.integers(0, 2**16)})

_CODES = {"linear": LINEAR, "relu": RELU, "sigmoid": SIGMOID, "tanh": TANH}


def _geometry(n, k, s, padding):
    if padding == "same":
        out, before, _ = ref.same_padding(n, k, s)
        return out, before
    return (n - k) // s + 1, 0


def _reference(x, kernel, b, strides, padding, activation, pool, dy):
    """Pooled output, and the gradients (dx, dkernel, db) of sum(pooled * dy), in
    float64: conv, activation, 'valid' max pooling routing each window's gradient
    to its first maximum."""
    (ph, pw), n, f = pool, x.shape[0], kernel.shape[3]
    pre = ref.conv2d(x.astype(np.float64), kernel.astype(np.float64), b.astype(np.float64),
                     strides, padding)
    post = ref.activation(activation, pre)
    poh, pow_ = post.shape[1] // ph, post.shape[2] // pw
    windows = (post[:, :poh * ph, :pow_ * pw].reshape(n, poh, ph, pow_, pw, f)
               .transpose(0, 1, 3, 2, 4, 5).reshape(n, poh, pow_, ph * pw, f))
    pooled = windows.max(axis=3)
    first = windows.argmax(axis=3)
    routed = np.zeros_like(windows)
    np.put_along_axis(routed, first[:, :, :, None, :], dy[:, :, :, None, :], axis=3)
    dpost = np.zeros_like(post)
    dpost[:, :poh * ph, :pow_ * pw] = (routed.reshape(n, poh, pow_, ph, pw, f)
                                       .transpose(0, 1, 3, 2, 4, 5)
                                       .reshape(n, poh * ph, pow_ * pw, f))
    slope = {"linear": np.ones_like(pre), "relu": (pre > 0).astype(np.float64),
             "sigmoid": post * (1 - post), "tanh": 1 - post * post}[activation]
    dpre = dpost * slope
    dx, dk = ref.conv2d_backward(x, kernel, dpre, strides, padding)
    return pooled, first, dx, dk, dpre.sum(axis=(0, 1, 2))


def _run(ops, x, kernel, b, strides, padding, code, pool, dy, chunks):
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    (sh, sw), (ph, pw) = strides, pool
    oh, pt = _geometry(h, kh, sh, padding)
    ow, pl = _geometry(w, kw, sw, padding)
    hp, wp = (oh - 1) * sh + kh, (ow - 1) * sw + kw
    padded = pt > 0 or pl > 0 or hp > h or wp > w
    xpad = np.full((n, hp, wp, c) if padded else (0, 0, 0, c), np.nan, np.float32)
    w2 = kernel.reshape(-1, f)
    y = np.full((n, oh // ph, ow // pw, f), np.nan, np.float32)
    arg = np.full(y.shape, -1, np.int8)
    ops.conv2d_pool_forward(x, w2, b, kh, kw, sh, sw, pt, pl, ph, pw, code, np.float32(0),
                            xpad, y, arg, chunks)
    y_inference = np.full_like(y, np.nan)
    ops.conv2d_pool_forward(x, w2, b, kh, kw, sh, sw, pt, pl, ph, pw, code, np.float32(0),
                            xpad, y_inference, np.empty((0, 0, 0, 0), np.int8), chunks)
    np.testing.assert_array_equal(y_inference, y)
    dw2 = np.full_like(w2, np.nan)
    db = np.full(f, np.nan, np.float32)
    dx = np.full_like(x, np.nan)
    ops.conv2d_pool_backward(w2, xpad if padded else x, y, arg, dy, kh, kw, sh, sw, pt, pl,
                             oh, ow, ph, pw, code, np.float32(0), dw2, db, dx, chunks)
    return y, arg, dx, dw2.reshape(kernel.shape), db


@given(case=cases)
def test_conv_maxpool_matches_reference(ops, case):
    n, h, w, c, f = (case[k] for k in "nhwcf")
    kh, kw, sh, sw = case["kh"], case["kw"], case["sh"], case["sw"]
    ph, pw, padding = case["ph"], case["pw"], case["padding"]
    oh, ow = _geometry(h, kh, sh, padding)[0], _geometry(w, kw, sw, padding)[0]
    if oh // ph <= 0 or ow // pw <= 0:
        return
    rng = np.random.default_rng(case["seed"])
    # multiples of 1/8: the convolution is exact in float32, so the maxima (and
    # their ties, frequent here) are where the float64 reference has them
    x = (rng.integers(-4, 5, (n, h, w, c)) * 0.5).astype(np.float32)
    kernel = (rng.integers(-3, 4, (kh, kw, c, f)) * 0.25).astype(np.float32)
    b = (rng.integers(-4, 5, f) * 0.125).astype(np.float32)
    dy = rng.standard_normal((n, oh // ph, ow // pw, f)).astype(np.float32)
    y, arg, dx, dk, db = _run(ops, x, kernel, b, (sh, sw), padding, _CODES[case["activation"]],
                              (ph, pw), dy, case["chunks"])
    want_y, want_arg, want_dx, want_dk, want_db = _reference(
        x, kernel, b, (sh, sw), padding, case["activation"], (ph, pw), dy)
    np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-4)
    if case["activation"] in ("linear", "relu"):
        # (sigmoid and tanh saturate in float32: ties the reference does not
        # have, where the gradient is 0 anyway; ReLU's ties at 0 carry none)
        decided = want_y > 0 if case["activation"] == "relu" else np.ones(y.shape, bool)
        np.testing.assert_array_equal(arg[decided], want_arg[decided])
    np.testing.assert_allclose(dx, want_dx, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(dk, want_dk, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(db, want_db, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("training", [True, False])
def test_conv_maxpool_is_the_unfused_pair_exactly(ops, training):
    """Same numbers as conv2d_forward then maxpool2d_forward, bit for bit (bias and
    activation commute with the max), on the seed CNN's second layer's shapes:
    in training (the index kept) and in inference, where both take the same
    4x4 Winograd tiles."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 15, 15, 32)).astype(np.float32)
    w2 = rng.standard_normal((9 * 32, 64)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    z = np.empty((4 * 13 * 13, 64), np.float32)
    ops.conv2d_forward(x, w2, b, 3, 3, 1, 1, 0, 0, 13, 13, RELU, np.float32(0),
                       np.empty((0, 0, 0, 32), np.float32), z, z, 2, training)
    want = np.empty((4, 6, 6, 64), np.float32)
    ops.maxpool2d_forward(np.ascontiguousarray(z.reshape(4, 13, 13, 64)[:, :12, :12]),
                          2, 2, 2, 2, 0, 0, want)
    y = np.empty_like(want)
    arg = np.empty(want.shape if training else (0, 0, 0, 0), np.int8)
    ops.conv2d_pool_forward(x, w2, b, 3, 3, 1, 1, 0, 0, 2, 2, RELU, np.float32(0),
                            np.empty((0, 0, 0, 32), np.float32), y, arg, 2)
    np.testing.assert_array_equal(y, want)


def test_conv_maxpool_propagates_nan(ops):
    x = np.ones((1, 4, 4, 1), np.float32)
    x[0, 1, 2, 0] = np.nan
    w2 = np.ones((1, 2), np.float32)
    y = np.zeros((1, 2, 2, 2), np.float32)
    arg = np.zeros(y.shape, np.int8)
    ops.conv2d_pool_forward(x, w2, np.zeros(2, np.float32), 1, 1, 1, 1, 0, 0, 2, 2, RELU,
                            np.float32(0), np.empty((0, 0, 0, 1), np.float32), y, arg, 1)
    assert np.isnan(y[0, 0, 1]).all() and not np.isnan(y[0, 0, 0]).any()
    assert (arg[0, 0, 1] == 2).all()    # window (0, 1): the NaN is its third pixel


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ph, pw", [(2, 2), (1, 2), (1, 3)])
def test_window_maxima_with_nan_and_ties_in_every_lane(ops, seed, ph, pw):
    """Pooling of a 1x1 convolution 2 vectors and 3 channels wide (whole vectors
    and the channels past them take different code). Pixels of 0, 1 or 2 times
    weights of +-1 tie everywhere; weights of inf give NaN (0 * inf) at some
    pixels of some channels only. NaN wins, the first of equal maxima is kept."""
    f = 2 * V + 3
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, (2, 4, 6, 1)).astype(np.float32)
    w2 = rng.choice(np.array([1, -1, np.inf], np.float32), (1, f))
    y = np.zeros((2, 4 // ph, 6 // pw, f), np.float32)
    arg = np.zeros(y.shape, np.int8)
    ops.conv2d_pool_forward(x, w2, np.zeros(f, np.float32), 1, 1, 1, 1, 0, 0, ph, pw, LINEAR,
                            np.float32(0), np.empty((0, 0, 0, 1), np.float32), y, arg, 2)
    with np.errstate(invalid="ignore"):
        z = x * w2[0]
    windows = z.reshape(2, 4 // ph, ph, 6 // pw, pw, f).transpose(0, 1, 3, 5, 2, 4)
    windows = windows.reshape(y.shape + (ph * pw,))
    want, want_arg = windows[..., 0].copy(), np.zeros(y.shape, np.int8)
    for q in range(1, ph * pw):
        v = windows[..., q]
        wins = (v > want) | np.isnan(v)
        want = np.where(wins, v, want)
        want_arg = np.where(wins, np.int8(q), want_arg)
    assert np.isnan(want).any() and not np.isnan(want).all()
    np.testing.assert_array_equal(y, want)      # (NaN equal to NaN)
    np.testing.assert_array_equal(arg, want_arg)


def test_first_layer_gradient_without_dx_matches(ops):
    """Without dx (a first layer) the fused backward keeps no dz: same dw and db."""
    rng = np.random.default_rng(9)
    x = (rng.integers(-4, 5, (3, 12, 11, 3)) * 0.5).astype(np.float32)
    kernel = (rng.integers(-3, 4, (3, 3, 3, 40)) * 0.25).astype(np.float32)
    b = np.zeros(40, np.float32)
    dy = rng.standard_normal((3, 5, 4, 40)).astype(np.float32)
    _, _, _, want_dk, want_db = _reference(x, kernel, b, (1, 1), "valid", "relu", (2, 2), dy)
    y = np.empty((3, 5, 4, 40), np.float32)
    arg = np.empty(y.shape, np.int8)
    none = np.empty((0, 0, 0, 3), np.float32)
    ops.conv2d_pool_forward(x, kernel.reshape(-1, 40), b, 3, 3, 1, 1, 0, 0, 2, 2, RELU,
                            np.float32(0), none, y, arg, 2)
    dw2 = np.full((27, 40), np.nan, np.float32)
    db = np.full(40, np.nan, np.float32)
    ops.conv2d_pool_backward(kernel.reshape(-1, 40), x, y, arg, dy, 3, 3, 1, 1, 0, 0, 10, 9,
                             2, 2, RELU, np.float32(0), dw2, db,
                             np.empty((0, 0, 0, 0), np.float32), 2)
    np.testing.assert_allclose(dw2.reshape(kernel.shape), want_dk, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, want_db, rtol=1e-4, atol=1e-4)

"""Convolution and pooling kernels against the NumPy reference."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import reference as ref


def _geometry(n, k, s, padding):
    if padding == "same":
        out, before, _ = ref.same_padding(n, k, s)
        return out, before
    return (n - k) // s + 1, 0


conv_cases = st.fixed_dictionaries({
    "n": st.integers(1, 3), "h": st.integers(1, 9), "w": st.integers(1, 9),
    "c": st.integers(1, 5), "f": st.integers(1, 6), "kh": st.integers(1, 4),
    "kw": st.integers(1, 4), "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "padding": st.sampled_from(["valid", "same"]), "seed": st.integers(0, 2**16)})


@given(case=conv_cases)
def test_conv2d_forward_backward(ops, case):
    n, h, w, c, f = (case[k] for k in "nhwcf")
    kh, kw, sh, sw, padding = case["kh"], case["kw"], case["sh"], case["sw"], case["padding"]
    oh, pt = _geometry(h, kh, sh, padding)
    ow, pl = _geometry(w, kw, sw, padding)
    if oh <= 0 or ow <= 0:
        return
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    kernel = rng.standard_normal((kh, kw, c, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    rows = n * oh * ow
    cols = np.empty((rows, kh * kw * c), np.float32)
    z = np.empty((rows, f), np.float32)
    ops.conv2d_forward(x, kernel.reshape(-1, f), b, kh, kw, sh, sw, pt, pl, oh, ow, 0,
                       np.float32(0), cols, z, z, 3)
    want = ref.conv2d(x, kernel, b, (sh, sw), padding)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.reshape(n, oh, ow, f), want, rtol=1e-4, atol=1e-4)
    # inference: no patches kept (empty cols), same result
    z_inf = np.empty_like(z)
    ops.conv2d_forward(x, kernel.reshape(-1, f), b, kh, kw, sh, sw, pt, pl, oh, ow, 0,
                       np.float32(0), np.empty((0, kh * kw * c), np.float32), z_inf, z_inf, 3)
    np.testing.assert_allclose(z_inf, z, rtol=1e-6, atol=1e-6)

    dy = rng.standard_normal((rows, f)).astype(np.float32)
    dw2 = np.empty((kh * kw * c, f), np.float32)
    db = np.empty(f, np.float32)
    dx = np.empty_like(x)
    ops.conv2d_backward(kernel.reshape(-1, f), cols, z, z, dy.copy(), kh, kw, sh, sw, pt, pl,
                        oh, ow, 0, np.float32(0), np.empty_like(dy), dw2, db, dx, 3)
    want_dx, want_dk = ref.conv2d_backward(x, kernel, dy.reshape(n, oh, ow, f).astype(np.float64),
                                           (sh, sw), padding)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw2.reshape(kernel.shape), want_dk, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(0), rtol=1e-4, atol=1e-4)


pool_cases = st.fixed_dictionaries({
    "n": st.integers(1, 3), "h": st.integers(1, 9), "w": st.integers(1, 9),
    "c": st.integers(1, 4), "ph": st.integers(1, 3), "pw": st.integers(1, 3),
    "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "padding": st.sampled_from(["valid", "same"]), "seed": st.integers(0, 2**16)})


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(case=pool_cases)
def test_pool2d_forward_backward(ops, kind, case):
    n, h, w, c = (case[k] for k in "nhwc")
    ph, pw, sh, sw, padding = case["ph"], case["pw"], case["sh"], case["sw"], case["padding"]
    oh, pt = _geometry(h, ph, sh, padding)
    ow, pl = _geometry(w, pw, sw, padding)
    if oh <= 0 or ow <= 0:
        return
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    y = np.empty((n, oh, ow, c), np.float32)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = np.empty_like(x)
    if kind == "max":
        argmax = np.empty(y.shape, np.int32)
        ops.maxpool2d_forward(x, ph, pw, sh, sw, pt, pl, y, argmax)
        ops.maxpool2d_backward(dy, argmax, dx)
    else:
        ops.avgpool2d_forward(x, ph, pw, sh, sw, pt, pl, y)
        ops.avgpool2d_backward(dy, ph, pw, sh, sw, pt, pl, dx)
    np.testing.assert_allclose(y, ref.pool2d(x, (ph, pw), (sh, sw), padding, kind),
                               rtol=1e-5, atol=1e-6)
    # Pooling is linear in x for a fixed argmax, so <pool(x), dy> = <x, dx> checks dx;
    # the finite-difference gradient checks each entry.
    f = lambda v: float((ref.pool2d(v, (ph, pw), (sh, sw), padding, kind) * dy).sum())
    np.testing.assert_allclose(dx, ref.numeric_grad(f, x, 1e-4), rtol=1e-3, atol=1e-3)
    assert y.dtype == np.float32 and dx.dtype == np.float32


@given(n=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6), c=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_global_pooling(ops, n, h, w, c, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    dy = rng.standard_normal((n, c)).astype(np.float32)
    y = np.empty((n, c), np.float32)
    dx = np.empty_like(x)
    ops.global_avgpool2d_forward(x, y)
    np.testing.assert_allclose(y, x.astype(np.float64).mean((1, 2)), rtol=1e-5, atol=1e-6)
    ops.global_avgpool2d_backward(dy, dx)
    np.testing.assert_allclose(dx, np.broadcast_to(dy[:, None, None, :] / (h * w), x.shape),
                               rtol=1e-5, atol=1e-7)
    argmax = np.empty((n, c), np.int32)
    ops.global_maxpool2d_forward(x, y, argmax)
    np.testing.assert_allclose(y, x.max((1, 2)))
    ops.global_maxpool2d_backward(dy, argmax, dx)
    want = (x == x.max((1, 2), keepdims=True)) * dy[:, None, None, :]
    np.testing.assert_allclose(dx, want)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_spans_many_cache_blocks(ops, padding):
    """Enough rows for several cache blocks per thread, training and inference paths."""
    rng = np.random.default_rng(5)
    n, h, w, c, f, k = 2, 40, 40, 16, 8, 3
    oh, pt = _geometry(h, k, 1, padding)
    ow, pl = _geometry(w, k, 1, padding)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    kernel = rng.standard_normal((k, k, c, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    rows = n * oh * ow
    want = ref.conv2d(x, kernel, b, (1, 1), padding, "relu")
    for cols in (np.empty((rows, k * k * c), np.float32), np.empty((0, k * k * c), np.float32)):
        z = np.empty((rows, f), np.float32)
        ops.conv2d_forward(x, kernel.reshape(-1, f), b, k, k, 1, 1, pt, pl, oh, ow, 1,
                           np.float32(0), cols, z, z, 2)
        np.testing.assert_allclose(z.reshape(want.shape), want, rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal((rows, f)).astype(np.float32)
    cols = np.empty((rows, k * k * c), np.float32)
    ops.conv2d_forward(x, kernel.reshape(-1, f), b, k, k, 1, 1, pt, pl, oh, ow, 0,
                       np.float32(0), cols, z, z, 2)
    dw2, db, dx = np.empty((k * k * c, f), np.float32), np.empty(f, np.float32), np.empty_like(x)
    ops.conv2d_backward(kernel.reshape(-1, f), cols, z, z, dy.copy(), k, k, 1, 1, pt, pl, oh, ow,
                        0, np.float32(0), np.empty_like(dy), dw2, db, dx, 2)
    want_dx, want_dk = ref.conv2d_backward(x, kernel, dy.reshape(n, oh, ow, f).astype(np.float64),
                                           (1, 1), padding)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dw2.reshape(kernel.shape), want_dk, rtol=1e-4, atol=1e-3)


@given(case=conv_cases)
def test_col2im_is_the_adjoint_of_im2col(ops, case):
    """<im2col(x), C> == <x, col2im(C)> for every x and C: col2im scatters exactly
    where im2col gathers, padding included."""
    n, h, w, c = (case[k] for k in "nhwc")
    kh, kw, sh, sw, padding = case["kh"], case["kw"], case["sh"], case["sw"], case["padding"]
    oh, pt = _geometry(h, kh, sh, padding)
    ow, pl = _geometry(w, kw, sw, padding)
    if oh <= 0 or ow <= 0:
        return
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    patches = rng.standard_normal((n * oh * ow, kh * kw * c)).astype(np.float32)
    cols = np.empty_like(patches)
    ops.im2col(x, kh, kw, sh, sw, pt, pl, oh, ow, cols, 3)
    dx = np.empty_like(x)
    ops.col2im(patches, kh, kw, sh, sw, pt, pl, oh, ow, dx)
    lhs = float((cols.astype(np.float64) * patches).sum())
    rhs = float((x.astype(np.float64) * dx).sum())
    assert abs(lhs - rhs) <= 1e-4 * (1 + abs(lhs))

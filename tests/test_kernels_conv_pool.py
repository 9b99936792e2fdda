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


def _padded_buffer(x, kh, kw, sh, sw, oh, ow, pt, pl):
    """The ``xpad`` workspace Conv2D passes: empty when the input is read as it is."""
    n, h, w, c = x.shape
    hp, wp = (oh - 1) * sh + kh, (ow - 1) * sw + kw
    if pt > 0 or pl > 0 or hp > h or wp > w:
        return np.full((n, hp, wp, c), np.nan, np.float32)
    return np.empty((0, 0, 0, c), np.float32)


def _conv_forward(ops, x, kernel, b, strides, geometry, code, z, chunks):
    """Run conv2d_forward as Conv2D does; returns the array the backward pass reads."""
    (sh, sw), (oh, ow, pt, pl) = strides, geometry
    kh, kw, _, f = kernel.shape
    xpad = _padded_buffer(x, kh, kw, sh, sw, oh, ow, pt, pl)
    ops.conv2d_forward(x, kernel.reshape(-1, f), b, kh, kw, sh, sw, pt, pl, oh, ow, code,
                       np.float32(0), xpad, z, z, chunks)
    return xpad if xpad.shape[0] else x


def _check_conv(ops, x, kernel, b, strides, padding, chunks, tol):
    """Forward (relu and linear) and backward of one convolution against the reference."""
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    oh, pt = _geometry(h, kh, strides[0], padding)
    ow, pl = _geometry(w, kw, strides[1], padding)
    geometry = (oh, ow, pt, pl)
    rows = n * oh * ow
    z = np.full((rows, f), np.nan, np.float32)
    _conv_forward(ops, x, kernel, b, strides, geometry, 1, z, chunks)
    want = ref.conv2d(x, kernel, b, strides, padding, "relu")
    np.testing.assert_allclose(z.reshape(want.shape), want, rtol=tol, atol=tol)
    source = _conv_forward(ops, x, kernel, b, strides, geometry, 0, z, chunks)
    want = ref.conv2d(x, kernel, b, strides, padding)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.reshape(want.shape), want, rtol=tol, atol=tol)

    dy = np.random.default_rng(rows).standard_normal((rows, f)).astype(np.float32)
    dw2 = np.full((kh * kw * x.shape[3], f), np.nan, np.float32)
    db = np.full(f, np.nan, np.float32)
    dx = np.full_like(x, np.nan)
    ops.conv2d_backward(kernel.reshape(-1, f), source, z, z, dy.copy(), kh, kw, *strides, pt,
                        pl, oh, ow, 0, np.float32(0), np.empty_like(dy), dw2, db, dx, chunks)
    want_dx, want_dk = ref.conv2d_backward(x, kernel, dy.reshape(n, oh, ow, f).astype(np.float64),
                                           strides, padding)
    np.testing.assert_allclose(dx, want_dx, rtol=tol, atol=tol)
    np.testing.assert_allclose(dw2.reshape(kernel.shape), want_dk, rtol=tol, atol=tol)
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(0), rtol=tol, atol=tol)


@given(case=conv_cases)
def test_conv2d_forward_backward(ops, case):
    n, h, w, c, f = (case[k] for k in "nhwcf")
    kh, kw, sh, sw, padding = case["kh"], case["kw"], case["sh"], case["sw"], case["padding"]
    if _geometry(h, kh, sh, padding)[0] <= 0 or _geometry(w, kw, sw, padding)[0] <= 0:
        return
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    kernel = rng.standard_normal((kh, kw, c, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    _check_conv(ops, x, kernel, b, (sh, sw), padding, 3, 1e-4)


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
        ops.maxpool2d_forward(x, ph, pw, sh, sw, pt, pl, y)
        ops.maxpool2d_backward(x, y, dy, ph, pw, sh, sw, pt, pl, dx)
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
@pytest.mark.parametrize("c, f, stride", [(16, 8, 1), (40, 72, 1), (24, 40, 2)])
def test_conv2d_large(ops, padding, c, f, stride):
    """Sizes that take every path of the tiled GEMM: several row blocks per thread,
    reductions over 512 split in slices, full, partial and 1-vector column panels,
    the strided spreading of the input gradient."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 40, 40, c)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, c, f)).astype(np.float32) / np.float32(3 * c ** 0.5)
    b = rng.standard_normal(f).astype(np.float32)
    _check_conv(ops, x, kernel, b, (stride, stride), padding, 2, 2e-4)


def test_maxpool_gradient_goes_to_the_first_maximum_only(ops):
    """Ties (ReLU zeros, saturated inputs) and overlapping windows: each window's
    gradient lands once, on the first position in scan order that holds the max,
    as an argmax kept by the forward pass would route it; a NaN window sends it to
    its first position."""
    x = np.zeros((1, 3, 3, 2), np.float32)
    x[0, 2, 2, 1] = np.nan
    y = np.empty((1, 2, 2, 2), np.float32)
    ops.maxpool2d_forward(x, 2, 2, 1, 1, 0, 0, y)   # 2x2 windows at stride 1: overlap
    dy = np.arange(1, 9, dtype=np.float32).reshape(y.shape)
    dx = np.full_like(x, np.nan)
    ops.maxpool2d_backward(x, y, dy, 2, 2, 1, 1, 0, 0, dx)
    want = np.zeros_like(x)
    for p in range(2):
        for q in range(2):
            want[0, p, q] += dy[0, p, q]          # every window is all ties: its first
    np.testing.assert_array_equal(dx[..., 0], want[..., 0])
    assert np.isnan(y[0, 1, 1, 1]) and not np.isnan(y[0, 0, 0, 1])  # NaN propagates
    np.testing.assert_array_equal(dx[..., 1], want[..., 1])

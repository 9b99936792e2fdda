"""Activation, softmax and dense kernels against the NumPy reference."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from nbkeras.kernels.codes import ACTIVATION_CODES
import reference as ref

NAMES = sorted(ACTIVATION_CODES)
ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
shapes = st.tuples(st.integers(1, 9), st.integers(1, 13))
# more chunks than rows happens (batch 1 on many threads): kernels must handle it
CHUNKS = 3


def _f32(rng, shape, scale=2.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_bias_activation_matches_reference(ops, name, shape, seed):
    rng = np.random.default_rng(seed)
    z = _f32(rng, shape)
    b = _f32(rng, shape[1:])
    alpha = np.float32(ALPHA.get(name, 0.0))
    code = ACTIVATION_CODES[name]
    want = ref.activation(name, z.astype(np.float64) + b, ALPHA.get(name))
    y = np.empty_like(z)
    zb = z.copy()
    ops.bias_activation_forward(zb, b, code, alpha, y, CHUNKS)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-6)

    dy = _f32(rng, shape)
    dz = np.empty_like(z)
    db = np.empty_like(b)
    ops.bias_activation_backward(zb, y, dy, code, alpha, dz, db, CHUNKS)
    h = 1e-4
    x64 = z.astype(np.float64) + b
    slope = (ref.activation(name, x64 + h, ALPHA.get(name))
             - ref.activation(name, x64 - h, ALPHA.get(name))) / (2 * h)
    kink = np.abs(x64) < 2 * h  # relu-like corners: the derivative is one-sided there
    if name == "hard_sigmoid":
        kink |= np.abs(np.abs(x64) - 3) < 2 * h
    np.testing.assert_allclose(np.where(kink, 0, dz), np.where(kink, 0, dy * slope),
                               rtol=1e-3, atol=1e-4)
    assert dz.dtype == np.float32 and db.dtype == np.float32
    np.testing.assert_allclose(db, dz.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_softmax_forward_backward(ops, shape, seed):
    rng = np.random.default_rng(seed)
    z = _f32(rng, shape, 5.0)
    y = np.empty_like(z)
    ops.softmax_forward(z, y)
    np.testing.assert_allclose(y, ref.activation("softmax", z), rtol=1e-5, atol=1e-7)
    dy = _f32(rng, shape)
    dz = np.empty_like(z)
    ops.softmax_backward(y, dy, dz)
    p = ref.activation("softmax", z)
    jvp = p * (dy - (dy * p).sum(-1, keepdims=True))
    np.testing.assert_allclose(dz, jvp, rtol=1e-4, atol=1e-6)
    assert dz.dtype == np.float32


def test_softmax_survives_huge_logits(ops):
    z = np.array([[1e4, 0.0, -1e4]], np.float32)
    y = np.empty_like(z)
    ops.softmax_forward(z, y)
    assert np.all(np.isfinite(y)) and y[0, 0] == 1.0


@pytest.mark.parametrize("act", ["linear", "relu", "tanh"])
@given(n=st.integers(1, 17), k=st.integers(1, 33), m=st.integers(1, 19),
       seed=st.integers(0, 2**16))
def test_dense_forward_backward(ops, act, n, k, m, seed):
    rng = np.random.default_rng(seed)
    x, w, b = _f32(rng, (n, k), 1.0), _f32(rng, (k, m), 0.5), _f32(rng, (m,), 0.5)
    code = ACTIVATION_CODES[act]
    z = np.empty((n, m), np.float32)
    y = z if act == "linear" else np.empty_like(z)
    ops.dense_forward(x, w, b, code, np.float32(0), z, y, CHUNKS)
    np.testing.assert_allclose(y, ref.dense(x, w, b, act), rtol=1e-4, atol=1e-5)
    dy = _f32(rng, (n, m))
    dz, dw, db, dx = np.empty_like(z), np.empty_like(w), np.empty_like(b), np.empty_like(x)
    ops.dense_backward(x, w, z, y, dy, code, np.float32(0), dz, dw, db, dx, CHUNKS)
    pre = x.astype(np.float64) @ w + b
    g = dy * {"linear": np.ones_like(pre), "relu": (pre > 0).astype(float),
              "tanh": 1 - np.tanh(pre) ** 2}[act]
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, g @ w.T.astype(np.float64), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, g.sum(0), rtol=1e-4, atol=1e-4)
    for a in (y, dw, db, dx):
        assert a.dtype == np.float32


def test_dense_backward_skips_input_grad(ops):
    rng = np.random.default_rng(0)
    x, w = _f32(rng, (4, 3)), _f32(rng, (3, 2))
    z = np.empty((4, 2), np.float32)
    ops.dense_forward(x, w, np.empty(0, np.float32), 0, np.float32(0), z, z, 2)
    dw = np.empty_like(w)
    ops.dense_backward(x, w, z, z, np.ones_like(z), 0, np.float32(0), np.empty_like(z), dw,
                       np.empty(0, np.float32), np.empty((0, 0), np.float32), 2)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ np.ones((4, 2)), rtol=1e-5)


@pytest.mark.parametrize("a, b", [(1.0, 2.0), (2.0, 1.0), (-0.0, 0.0), (np.nan, 1.0),
                                  (1.0, np.nan), (np.nan, np.nan), (3, 7), (7, 3)])
def test_larger_and_smaller_are_max_and_min(a, b):
    """The kernels' inline max/min (``scalars.py``) follow Python's rule, NaN included:
    the first argument unless the second is strictly larger (smaller)."""
    from nbkeras.kernels.cpu.scalars import larger, smaller
    cast = np.float32 if isinstance(a, float) else np.int64
    for ours, builtin in ((larger, max), (smaller, min)):
        got, want = ours(cast(a), cast(b)), builtin(cast(a), cast(b))
        assert (np.isnan(got) and np.isnan(want)) or (got == want and
                                                       np.signbit(got) == np.signbit(want))

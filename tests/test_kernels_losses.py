"""Loss kernels: Keras 3's values and gradients (incl. clipping) vs NumPy + finite differences."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from nbkeras.kernels.codes import (FROM_PROBS, FROM_LOGITS, FUSED_OUTPUT,
                                   MEAN_SQUARED_ERROR, MEAN_ABSOLUTE_ERROR, HUBER)
import reference as ref

EPS = np.float32(1e-7)
shapes = st.tuples(st.integers(1, 7), st.integers(1, 9))


def _softmax(z):
    return ref.activation("softmax", z)


@pytest.mark.parametrize("mode", [FROM_PROBS, FROM_LOGITS, FUSED_OUTPUT])
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_categorical_crossentropy(ops, mode, shape, seed):
    rng = np.random.default_rng(seed)
    rows, cols = shape
    z = (rng.standard_normal(shape) * 2).astype(np.float32)
    t = np.eye(cols, dtype=np.float32)[rng.integers(0, cols, rows)]
    if mode == FROM_PROBS:  # unnormalised positive inputs exercise Keras's renormalisation
        out = rng.uniform(0.05, 1.0, shape).astype(np.float32)
    elif mode == FUSED_OUTPUT:
        out = _softmax(z).astype(np.float32)
    else:
        out = z
    losses = np.empty(rows, np.float32)
    grad = np.empty(shape, np.float32)
    scale = np.float32(1.0 / rows)
    ops.categorical_crossentropy(out, t, mode, EPS, scale, losses, grad)
    assert losses.dtype == np.float32 and grad.dtype == np.float32
    want = ref.categorical_crossentropy(t, out, from_logits=mode == FROM_LOGITS)
    np.testing.assert_allclose(losses, want, rtol=1e-5, atol=1e-6)
    if mode == FUSED_OUTPUT:
        f = lambda v: ref.categorical_crossentropy(t, _softmax(v)).mean()
        wrt = z
    else:
        f = lambda v: ref.categorical_crossentropy(t, v, from_logits=mode == FROM_LOGITS).mean()
        wrt = out
    np.testing.assert_allclose(grad, ref.numeric_grad(f, wrt, 1e-4), rtol=2e-3, atol=2e-4)


def test_crossentropy_clipped_entries_get_zero_gradient(ops):
    out = np.array([[1.0, 0.0, 0.0]], np.float32)  # target prob 0 → clipped
    t = np.array([[0.0, 1.0, 0.0]], np.float32)
    losses, grad = np.empty(1, np.float32), np.empty((1, 3), np.float32)
    ops.categorical_crossentropy(out, t, FUSED_OUTPUT, EPS, np.float32(1), losses, grad)
    np.testing.assert_allclose(losses, [-np.log(1e-7)], rtol=1e-5)
    assert np.all(grad == 0)


def test_crossentropy_of_all_zero_probabilities_is_nan(ops):
    """Keras renormalises probabilities by their sum: 0/0 makes the loss NaN
    (what TerminateOnNaN looks for), not an exception from inside the kernel."""
    out = np.zeros((2, 3), np.float32)
    out[1] = [0.2, 0.5, 0.3]
    t = np.eye(3, dtype=np.float32)[[0, 1]]
    losses, grad = np.empty(2, np.float32), np.empty((2, 3), np.float32)
    ops.categorical_crossentropy(out, t, FROM_PROBS, EPS, np.float32(0.5), losses, grad)
    assert np.isnan(losses[0])
    np.testing.assert_allclose(losses[1], -np.log(0.5), rtol=1e-6)


@pytest.mark.parametrize("mode", [FROM_PROBS, FROM_LOGITS, FUSED_OUTPUT])
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_binary_crossentropy(ops, mode, shape, seed):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * 2).astype(np.float32)
    t = rng.integers(0, 2, shape).astype(np.float32)
    sig = lambda v: 1 / (1 + np.exp(-v))
    out = {FROM_PROBS: sig(z), FUSED_OUTPUT: sig(z), FROM_LOGITS: z}[mode].astype(np.float32)
    losses = np.empty(shape[0], np.float32)
    grad = np.empty(shape, np.float32)
    scale = np.float32(1.0 / shape[0])
    ops.binary_crossentropy(out, t, mode, EPS, scale, losses, grad)
    np.testing.assert_allclose(losses, ref.binary_crossentropy(t, out, mode == FROM_LOGITS),
                               rtol=1e-5, atol=1e-6)
    if mode == FUSED_OUTPUT:
        f, wrt = (lambda v: ref.binary_crossentropy(t, sig(v)).mean()), z
    else:
        f, wrt = (lambda v: ref.binary_crossentropy(t, v, mode == FROM_LOGITS).mean()), out
    np.testing.assert_allclose(grad, ref.numeric_grad(f, wrt, 1e-4), rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("kind,name", [(MEAN_SQUARED_ERROR, "mse"), (MEAN_ABSOLUTE_ERROR, "mae"),
                                       (HUBER, "huber")])
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_regression_losses(ops, kind, name, shape, seed):
    rng = np.random.default_rng(seed)
    p = (rng.standard_normal(shape) * 2).astype(np.float32)
    t = (rng.standard_normal(shape) * 2).astype(np.float32)
    losses = np.empty(shape[0], np.float32)
    grad = np.empty(shape, np.float32)
    ops.regression_loss(p, t, kind, np.float32(1.0), np.float32(1.0 / shape[0]), losses, grad)
    np.testing.assert_allclose(losses, ref.regression(name, t, p), rtol=1e-5, atol=1e-6)
    f = lambda v: ref.regression(name, t, v).mean()
    e = np.abs(p - t)
    smooth = (np.abs(e - 1) > 1e-3) & (e > 1e-3)  # away from Huber's and MAE's kinks
    np.testing.assert_allclose(np.where(smooth, grad, 0),
                               np.where(smooth, ref.numeric_grad(f, p, 1e-4), 0),
                               rtol=2e-3, atol=2e-4)


def test_sparse_to_onehot(ops):
    labels = np.array([2, 0, 1, 2], np.int64)
    out = np.full((4, 3), 7, np.float32)
    ops.sparse_to_onehot(labels, 3, out)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[labels])

"""Every layer's backward pass against finite differences of the float64 reference.

For a random upstream gradient ``dy`` the scalar L = sum(layer(x) * dy) is taken
through the tape (``GradientTape``, the input watched), so dL/dx and dL/dw come
from the layer's own backward as the training loop runs it.
"""
import numpy as np
import pytest

import nbkeras
from nbkeras import layers, ops
from nbkeras.utils import set_random_seed
import reference as ref


def gradients(layer, x, dy, training=True):
    """(y, dL/dx, [dL/dw ...]) of L = sum(layer(x) * dy), through the tape."""
    with nbkeras.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = ops.sum(ops.multiply(y, dy))
    grads = tape.gradient(loss, [x] + layer.weights)
    return np.array(y), grads[0], grads[1:]


def _check(layer, x, forward64, rtol=2e-3, atol=2e-3):
    """forward64(x, *weights) recomputes the layer in float64 from the reference.

    Weights are seeded: with unseeded ones, a ReLU pre-activation now and then
    lands within the finite-difference step of its kink and the check fails."""
    rng = np.random.default_rng(7)
    set_random_seed(11)
    x32 = x.astype(np.float32)
    layer(x32)  # build
    weights = [w.numpy().astype(np.float64) for w in layer.weights]
    dy = rng.standard_normal(layer(x32).shape)
    y, dx, grads = gradients(layer, x32, dy.astype(np.float32))
    np.testing.assert_allclose(y, forward64(x.astype(np.float64), *weights), rtol=1e-4, atol=1e-4)
    fx = lambda v: float((forward64(v, *weights) * dy).sum())
    np.testing.assert_allclose(dx, ref.numeric_grad(fx, x, 1e-3), rtol=rtol, atol=atol)
    for i, g in enumerate(grads):
        def fw(v, i=i):
            ws = list(weights)
            ws[i] = v
            return float((forward64(x.astype(np.float64), *ws) * dy).sum())
        np.testing.assert_allclose(g, ref.numeric_grad(fw, weights[i], 1e-3), rtol=rtol, atol=atol)


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("act", ["linear", "relu", "tanh", "sigmoid", "gelu", "silu", "elu",
                                 "selu", "softplus", "softsign", "leaky_relu", "softmax"])
def test_dense_backward(act):
    layer = layers.Dense(4, activation=act)
    _check(layer, _x((3, 5)), lambda x, w, b: ref.dense(x, w, b, act))


def test_dense_without_bias_on_3d_input():
    layer = layers.Dense(3, use_bias=False)
    _check(layer, _x((2, 4, 5)), lambda x, w: ref.dense(x, w, None))


@pytest.mark.parametrize("strides,padding,act", [((1, 1), "valid", "relu"),
                                                 ((2, 2), "same", "linear"),
                                                 ((2, 1), "valid", "tanh"),
                                                 ((1, 2), "same", "softmax")])
def test_conv2d_backward(strides, padding, act):
    layer = layers.Conv2D(3, (3, 2), strides=strides, padding=padding, activation=act)
    _check(layer, _x((2, 6, 5, 2)),
           lambda x, k, b: ref.conv2d(x, k, b, strides, padding, act))


@pytest.mark.parametrize("cls,kind", [(layers.MaxPooling2D, "max"),
                                      (layers.AveragePooling2D, "avg")])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_backward(cls, kind, padding):
    layer = cls((2, 3), strides=(2, 2), padding=padding)
    # distinct, well separated values: no near-ties for the finite differences to straddle
    x = np.random.default_rng(1).permutation(2 * 5 * 7 * 3).reshape(2, 5, 7, 3) * 0.05
    _check(layer, x,
           lambda x: ref.pool2d(x, (2, 3), (2, 2), padding, kind))


def test_global_pooling_backward():
    _check(layers.GlobalAveragePooling2D(), _x((2, 3, 4, 5)), lambda x: x.mean((1, 2)))
    x = np.random.default_rng(2).permutation(120).reshape(2, 3, 4, 5) * 0.05
    _check(layers.GlobalMaxPooling2D(), x, lambda x: x.max((1, 2)))


@pytest.mark.parametrize("act", ["relu", "softmax", "hard_sigmoid", "exponential"])
def test_activation_layer_backward(act):
    _check(layers.Activation(act), _x((3, 6), 3) * 0.7, lambda x: ref.activation(act, x))


def test_flatten_and_reshape_backward():
    _check(layers.Flatten(), _x((2, 3, 4)), lambda x: x.reshape(2, -1))
    _check(layers.Reshape((4, -1)), _x((2, 3, 4)), lambda x: x.reshape(2, 4, 3))


def test_dropout_backward_uses_the_same_mask():
    layer = layers.Dropout(0.5, seed=3)
    x = np.ones((4, 10), np.float32)
    y, dx, _ = gradients(layer, x, np.ones_like(x))
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).sum() < 40
    np.testing.assert_array_equal(dx, y)
    np.testing.assert_array_equal(layer(x, training=False), x)


def _bn64(x, gamma, beta, *_moving, epsilon=1e-3):
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axes), x.var(axes)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def _ln64(x, gamma, beta, epsilon=1e-3):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 2, 5)])
def test_batch_normalization_backward_in_training_mode(shape):
    layer = layers.BatchNormalization(gamma_initializer="random_normal",
                                      beta_initializer="random_normal")
    x = _x(shape, 4) * 2 + 1
    layer(x.astype(np.float32))
    weights = [w.numpy().astype(np.float64) for w in layer.weights]
    dy = np.random.default_rng(5).standard_normal(shape)
    y, dx, grads = gradients(layer, x.astype(np.float32), dy.astype(np.float32))
    np.testing.assert_allclose(y, _bn64(x, *weights), rtol=1e-4, atol=1e-4)
    assert grads[2] is None and grads[3] is None  # the moving statistics do not train
    f = lambda v: float((_bn64(v, *weights) * dy).sum())
    np.testing.assert_allclose(dx, ref.numeric_grad(f, x), rtol=2e-3, atol=2e-3)
    for i in (0, 1):
        def fw(v, i=i):
            ws = list(weights)
            ws[i] = v
            return float((_bn64(x, *ws) * dy).sum())
        np.testing.assert_allclose(grads[i], ref.numeric_grad(fw, weights[i]), rtol=2e-3,
                                   atol=2e-3)


def test_batch_normalization_inference_mode_uses_moving_statistics():
    layer = layers.BatchNormalization(moving_mean_initializer="random_normal",
                                      moving_variance_initializer="ones")
    x = _x((5, 3), 6)
    layer(x.astype(np.float32))
    gamma, beta, mean, var = [w.numpy().astype(np.float64) for w in layer.weights]
    dy = np.random.default_rng(1).standard_normal((5, 3))
    y, dx, grads = gradients(layer, x.astype(np.float32), dy.astype(np.float32), training=False)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(dx, dy * gamma / np.sqrt(var + 1e-3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[1], dy.sum(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 6), (1, 5)])
def test_layer_normalization_backward(shape):
    layer = layers.LayerNormalization(gamma_initializer="random_normal",
                                      beta_initializer="random_normal")
    _check(layer, _x(shape, 2), _ln64)


def _check_merge(layer, xs, forward64):
    """L = sum(layer(xs) * dy) against finite differences, for each input."""
    rng = np.random.default_rng(3)
    x32 = [x.astype(np.float32) for x in xs]
    y0 = layer(x32)
    dy = rng.standard_normal(np.shape(y0))
    with nbkeras.GradientTape() as tape:
        for x in x32:
            tape.watch(x)
        y = layer(x32)
        loss = ops.sum(ops.multiply(y, dy.astype(np.float32)))
    grads = tape.gradient(loss, x32)
    np.testing.assert_allclose(np.asarray(y), forward64(*xs), rtol=1e-5, atol=1e-5)
    for i, g in enumerate(grads):
        def f(v, i=i):
            args = list(xs)
            args[i] = v
            return float((forward64(*args) * dy).sum())
        np.testing.assert_allclose(g, ref.numeric_grad(f, xs[i]), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("cls,fn", [
    (layers.Add, lambda a, b, c: a + b + c),
    (layers.Multiply, lambda a, b, c: a * b * c),
    (layers.Average, lambda a, b, c: (a + b + c) / 3),
    (layers.Maximum, lambda a, b, c: np.maximum(np.maximum(a, b), c)),
    (layers.Minimum, lambda a, b, c: np.minimum(np.minimum(a, b), c)),
])
def test_elementwise_merge_backward_with_broadcasting(cls, fn):
    rng = np.random.default_rng(8)
    xs = [rng.permutation(24).reshape(4, 2, 3) * 0.1, rng.standard_normal((4, 1, 3)) * 3,
          rng.standard_normal((4, 2, 1)) * 5]  # distinct values: no ties for max/min
    _check_merge(cls(), xs, fn)


def test_subtract_concatenate_and_dot_backward():
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    _check_merge(layers.Subtract(), [a, b], lambda a, b: a - b)
    c = rng.standard_normal((3, 2))
    _check_merge(layers.Concatenate(), [a, c], lambda a, c: np.concatenate([a, c], -1))
    _check_merge(layers.Dot(axes=1), [a, b], lambda a, b: (a * b).sum(-1, keepdims=True))
    p, q = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    _check_merge(layers.Dot(axes=2), [p, q], lambda p, q: np.einsum("bik,bjk->bij", p, q))

    def cosine(a, b):
        na = a / np.linalg.norm(a, axis=1, keepdims=True)
        nb = b / np.linalg.norm(b, axis=1, keepdims=True)
        return (na * nb).sum(-1, keepdims=True)
    _check_merge(layers.Dot(axes=1, normalize=True), [a, b], cosine)


@pytest.mark.parametrize("strides,padding,act,pool", [((1, 1), "valid", "relu", (2, 2)),
                                                      ((2, 1), "same", "tanh", (1, 3)),
                                                      ((1, 1), "same", "sigmoid", (2, 3))])
def test_conv2d_maxpool_fused_backward(strides, padding, act, pool):
    """A Conv2D and the MaxPooling2D after it run as one fused op (conv_pool.py)."""
    from nbkeras.layers import conv_pool
    model = nbkeras.Sequential([
        layers.Conv2D(3, (3, 2), strides=strides, padding=padding, activation=act),
        layers.MaxPooling2D(pool)])
    assert isinstance(model._call_plan()[0], conv_pool.ConvMaxPool)
    _check(model, _x((2, 7, 8, 2)), lambda x, k, b: ref.pool2d(
        ref.conv2d(x, k, b, strides, padding, act), pool, pool, "valid", "max"))

"""Element-wise activations (one switch on an integer code) and row-wise softmax.

Each element-wise function has a forward ``f(x)`` and a derivative written in
terms of both ``x`` and ``y = f(x)``, whichever is cheaper and more stable.
Bias addition is fused in (``b`` may be empty), and the backward pass also
reduces the bias gradient, so a Dense or Conv2D epilogue is one pass.
"""
import math

import numpy as np
from numba import prange

from ._jit import kernel
from ..codes import (LINEAR, RELU, SIGMOID, TANH, LEAKY_RELU, ELU, SELU, GELU,
                     SILU, SOFTPLUS, SOFTSIGN, HARD_SIGMOID, EXPONENTIAL)

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_SELU_ALPHA = np.float32(1.6732632423543772)
_SELU_SCALE = np.float32(1.0507009873554805)
_INV_SQRT2 = np.float32(0.7071067811865476)
_INV_SQRT2PI = np.float32(0.3989422804014327)
_SIXTH = np.float32(1.0 / 6.0)
_THREE = np.float32(3.0)
# Row chunks of a parallel column reduction: enough to balance any thread count.
REDUCTION_CHUNKS = 64


@kernel
def _sigmoid(x):
    if x >= _ZERO:
        return _ONE / (_ONE + np.float32(math.exp(-x)))
    e = np.float32(math.exp(x))
    return e / (_ONE + e)


@kernel
def activate(code, x, alpha):
    """f(x) for activation ``code``; ``alpha`` is leaky_relu's slope or elu's alpha."""
    if code == RELU:
        return x if x > _ZERO else _ZERO
    if code == SIGMOID:
        return _sigmoid(x)
    if code == TANH:
        return np.float32(math.tanh(x))
    if code == LEAKY_RELU:
        return x if x > _ZERO else alpha * x
    if code == ELU:
        return x if x > _ZERO else alpha * np.float32(math.expm1(x))
    if code == SELU:
        return _SELU_SCALE * (x if x > _ZERO else _SELU_ALPHA * np.float32(math.expm1(x)))
    if code == GELU:
        return _HALF * x * (_ONE + np.float32(math.erf(x * _INV_SQRT2)))
    if code == SILU:
        return x * _sigmoid(x)
    if code == SOFTPLUS:
        return np.float32(math.log1p(math.exp(-abs(x)))) + (x if x > _ZERO else _ZERO)
    if code == SOFTSIGN:
        return x / (_ONE + abs(x))
    if code == HARD_SIGMOID:
        return min(max(x * _SIXTH + _HALF, _ZERO), _ONE)
    if code == EXPONENTIAL:
        return np.float32(math.exp(x))
    return x


@kernel
def derivative(code, x, y, alpha):
    """f'(x) for activation ``code``, given the input ``x`` and output ``y``."""
    if code == RELU:
        return _ONE if x > _ZERO else _ZERO
    if code == SIGMOID:
        return y * (_ONE - y)
    if code == TANH:
        return _ONE - y * y
    if code == LEAKY_RELU:
        return _ONE if x > _ZERO else alpha
    if code == ELU:
        return _ONE if x > _ZERO else y + alpha
    if code == SELU:
        return _SELU_SCALE if x > _ZERO else y + _SELU_SCALE * _SELU_ALPHA
    if code == GELU:
        cdf = _HALF * (_ONE + np.float32(math.erf(x * _INV_SQRT2)))
        return cdf + x * _INV_SQRT2PI * np.float32(math.exp(-_HALF * x * x))
    if code == SILU:
        s = _sigmoid(x)
        return s * (_ONE + x * (_ONE - s))
    if code == SOFTPLUS:
        return _sigmoid(x)
    if code == SOFTSIGN:
        d = _ONE + abs(x)
        return _ONE / (d * d)
    if code == HARD_SIGMOID:
        return _SIXTH if (x > -_THREE and x < _THREE) else _ZERO
    if code == EXPONENTIAL:
        return y
    return _ONE


@kernel(parallel=True)
def bias_activation_forward(z, b, code, alpha, y):
    """y[r, :] = f(z[r, :] + b) for a (rows, features) array; ``b`` may be empty.

    ``y`` may be ``z`` itself. When ``b`` is given, ``z`` is updated to z + b so
    the backward pass sees the true pre-activation.
    """
    rows, cols = z.shape
    has_bias = b.shape[0] > 0
    for r in prange(rows):
        for c in range(cols):
            v = z[r, c]
            if has_bias:
                v += b[c]
                z[r, c] = v
            y[r, c] = activate(code, v, alpha)


@kernel(parallel=True)
def bias_activation_backward(z, y, dy, code, alpha, dz, db):
    """dz = dy * f'(z) and, when ``db`` is non-empty, db = column sums of dz.

    ``dz`` may be ``dy`` itself. Rows are split into a fixed number of chunks;
    each chunk sums into its own row of a partial buffer (no shared writes).
    """
    rows, cols = z.shape
    chunks = max(1, min(REDUCTION_CHUNKS, rows))
    partial = np.zeros((chunks, cols), dtype=np.float32)
    step = (rows + chunks - 1) // chunks
    for t in prange(chunks):
        for r in range(t * step, min(rows, (t + 1) * step)):
            for c in range(cols):
                if code == LINEAR:
                    g = dy[r, c]
                else:
                    g = dy[r, c] * derivative(code, z[r, c], y[r, c], alpha)
                dz[r, c] = g
                partial[t, c] += g
    if db.shape[0] > 0:
        for c in range(cols):
            s = _ZERO
            for t in range(chunks):
                s += partial[t, c]
            db[c] = s


@kernel(parallel=True)
def softmax_forward(z, y):
    """Row-wise softmax of a (rows, classes) array, max-shifted for stability."""
    rows, cols = z.shape
    for r in prange(rows):
        m = z[r, 0]
        for c in range(1, cols):
            m = max(m, z[r, c])
        s = _ZERO
        for c in range(cols):
            e = np.float32(math.exp(z[r, c] - m))
            y[r, c] = e
            s += e
        inv = _ONE / s
        for c in range(cols):
            y[r, c] *= inv


@kernel(parallel=True)
def softmax_backward(y, dy, dz):
    """dz = y * (dy - sum(dy * y)) row by row (the softmax Jacobian-vector product)."""
    rows, cols = y.shape
    for r in prange(rows):
        s = _ZERO
        for c in range(cols):
            s += dy[r, c] * y[r, c]
        for c in range(cols):
            dz[r, c] = y[r, c] * (dy[r, c] - s)

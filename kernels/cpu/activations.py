"""Element-wise activations (one switch on an integer code) and row-wise softmax.

Each element-wise function has a forward ``f(x)`` and a derivative written in
terms of both ``x`` and ``y = f(x)``, whichever is cheaper and more stable.
The ``*_rows`` helpers work on a row range serially; Dense and Conv2D call them
inside their own parallel loops (one parallel region per layer), the public
kernels wrap them in a parallel loop of their own.
"""
import math

import numpy as np
from numba import prange

from ._jit import kernel
from .scalars import larger, smaller
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


def row_range(rows, chunks, t):
    """Rows [r0, r1) of chunk ``t`` when ``rows`` are split into ``chunks`` parts."""
    step = (rows + chunks - 1) // chunks
    r0 = smaller(rows, t * step)
    return r0, smaller(rows, r0 + step)


row_range = kernel(inner=True)(row_range)


@kernel(inner=True)
def _sigmoid(x):
    if x >= _ZERO:
        return _ONE / (_ONE + np.float32(math.exp(-x)))
    e = np.float32(math.exp(x))
    return e / (_ONE + e)


@kernel(inner=True)
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
        return smaller(larger(x * _SIXTH + _HALF, _ZERO), _ONE)
    if code == EXPONENTIAL:
        return np.float32(math.exp(x))
    return x


@kernel(inner=True)
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


@kernel(inner=True)
def bias_activation_rows(z, b, code, alpha, y, r0, r1):
    """Rows [r0, r1): z += b (when ``b`` is non-empty), y = f(z). ``y`` may be ``z``.

    ReLU and linear, the common cases, get loops of their own so they vectorise.
    In place (``y`` is ``z``) they touch one array only: LLVM's run-time overlap
    check would otherwise see y and z overlap and take its scalar loop.
    """
    cols = z.shape[1]
    has_bias = b.shape[0] > 0
    same = y.ctypes.data == z.ctypes.data
    if code == RELU and same:
        for r in range(r0, r1):
            if has_bias:
                for c in range(cols):
                    z[r, c] = larger(z[r, c] + b[c], _ZERO)
            else:
                for c in range(cols):
                    z[r, c] = larger(z[r, c], _ZERO)
        return
    for r in range(r0, r1):
        if has_bias:
            for c in range(cols):
                z[r, c] += b[c]
        if code == RELU:
            for c in range(cols):
                y[r, c] = larger(z[r, c], _ZERO)
        elif code == LINEAR:
            if not same:
                for c in range(cols):
                    y[r, c] = z[r, c]
        else:
            for c in range(cols):
                y[r, c] = activate(code, z[r, c], alpha)


@kernel(inner=True)
def activation_grad_rows(z, y, dy, code, alpha, dz, r0, r1, db_partial):
    """Rows [r0, r1): dz = dy * f'(z); adds the column sums of dz into ``db_partial``
    (skipped when it is empty). ``dz`` may be ``dy``. ReLU and linear get
    vectorisable loops over the rows' flat range; in place they read ``dz``
    only (see ``bias_activation_rows``)."""
    cols = z.shape[1]
    in_place = dz.ctypes.data == dy.ctypes.data
    # flat slices indexed from 0: an index Numba cannot prove non-negative gets
    # a wraparound select that stops LLVM from vectorising the loop
    i0, i1 = r0 * cols, r1 * cols
    zf, dzf, dyf = z.reshape(-1)[i0:i1], dz.reshape(-1)[i0:i1], dy.reshape(-1)[i0:i1]
    count = i1 - i0
    if code == RELU:
        if in_place:
            for i in range(count):
                dzf[i] = dzf[i] if zf[i] > _ZERO else _ZERO
        else:
            for i in range(count):
                dzf[i] = dyf[i] if zf[i] > _ZERO else _ZERO
    elif code == LINEAR:
        if not in_place:
            for i in range(count):
                dzf[i] = dyf[i]
    else:
        yf = y.reshape(-1)[i0:i1]
        for i in range(count):
            dzf[i] = dyf[i] * derivative(code, zf[i], yf[i], alpha)
    if db_partial.shape[0] > 0:
        for r in range(r0, r1):
            for c in range(cols):
                db_partial[c] += dz[r, c]


@kernel
def sum_partials(partial, out):
    """out = partial.sum(axis=0), serially (the reduction of per-chunk results).
    Flat loops: the array-expression form took seconds to compile."""
    total = out.reshape(-1)
    parts = partial.reshape(partial.shape[0], total.shape[0])
    first = parts[0]
    for k in range(total.shape[0]):
        total[k] = first[k]
    for t in range(1, parts.shape[0]):
        part = parts[t]
        for k in range(total.shape[0]):
            total[k] += part[k]


@kernel(parallel=True)
def bias_activation_forward(z, b, code, alpha, y, chunks):
    """y = f(z + b) for a (rows, features) array; z is updated to z + b."""
    for t in prange(chunks):
        r0, r1 = row_range(z.shape[0], chunks, t)
        bias_activation_rows(z, b, code, alpha, y, r0, r1)


@kernel(parallel=True)
def bias_activation_backward(z, y, dy, code, alpha, dz, db, chunks):
    """dz = dy * f'(z) and, when ``db`` is non-empty, db = column sums of dz."""
    # zeroed by each thread: np.zeros in a parallel kernel is a parallel loop
    # of its own, one more launch on every call (and more to compile)
    partial = np.empty((chunks, db.shape[0]), dtype=np.float32)
    for t in prange(chunks):
        part = partial[t]
        for k in range(part.shape[0]):
            part[k] = _ZERO
        r0, r1 = row_range(z.shape[0], chunks, t)
        activation_grad_rows(z, y, dy, code, alpha, dz, r0, r1, part)
    if db.shape[0] > 0:
        sum_partials(partial, db)


@kernel
def softmax_forward(z, y):
    """Row-wise softmax of a (rows, classes) array, max-shifted for stability.
    Serial, like the losses it feeds (see ``losses.py``)."""
    rows, cols = z.shape
    for r in range(rows):
        m = z[r, 0]
        for c in range(1, cols):
            m = larger(m, z[r, c])
        s = _ZERO
        for c in range(cols):
            e = np.float32(math.exp(z[r, c] - m))
            y[r, c] = e
            s += e
        inv = _ONE / s
        for c in range(cols):
            y[r, c] *= inv


@kernel
def softmax_backward(y, dy, dz):
    """dz = y * (dy - sum(dy * y)) row by row (the softmax Jacobian-vector product)."""
    rows, cols = y.shape
    for r in range(rows):
        s = _ZERO
        for c in range(cols):
            s += dy[r, c] * y[r, c]
        for c in range(cols):
            dz[r, c] = y[r, c] * (dy[r, c] - s)

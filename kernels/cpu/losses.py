"""Loss kernels: per-sample losses and the gradient, in one pass over (rows, classes).

Formulas are Keras 3's: probabilities are renormalised (categorical) and clipped
to [eps, 1 - eps] before the log; the gradient of a clipped entry is zero, as
automatic differentiation gives it. Each kernel writes ``losses[r]`` (the mean
over the last axis, Keras's per-sample loss) and ``grad = scale * dL/d(input)``
where ``scale`` carries the batch reduction (1/rows for sum_over_batch_size).
With ``FUSED_OUTPUT`` the gradient is carried through the final softmax/sigmoid,
so that layer skips its own activation backward.

The kernels are serial: a loss touches (rows, classes) once, a few microseconds
for a batch, and a parallel loop would cost more to start than it saves, and
about a second more to compile (every new user pays that on the first epoch).
"""
import math

import numpy as np

from ._jit import kernel
from .scalars import larger, smaller
from ..codes import (FROM_LOGITS, FUSED_OUTPUT, MEAN_SQUARED_ERROR,
                     MEAN_ABSOLUTE_ERROR)

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)


def categorical_crossentropy(out, target, mode, epsilon, scale, losses, grad):
    """-sum(t * log p) per row; ``out`` holds probabilities or logits per ``mode``.

    Host code: each kind of ``out`` is a kernel of its own, so a model compiles
    only the one it uses (both in one kernel took 0.40 s to compile, the
    probabilities' alone 0.25 s: AMD EPYC Zen 4)."""
    if mode == FROM_LOGITS:
        _crossentropy_of_logits(out, target, scale, losses, grad)
    else:
        _crossentropy_of_probabilities(out, target, mode, epsilon, scale, losses, grad)


@kernel
def _crossentropy_of_logits(out, target, scale, losses, grad):
    """categorical_crossentropy of logits, through a log-sum-exp (no clipping)."""
    rows, cols = out.shape
    for r in range(rows):
        m = out[r, 0]
        for c in range(1, cols):
            m = larger(m, out[r, c])
        s = _ZERO
        for c in range(cols):
            s += np.float32(math.exp(out[r, c] - m))
        lse = m + np.float32(math.log(s))
        loss = _ZERO
        tsum = _ZERO
        for c in range(cols):
            loss += target[r, c] * (lse - out[r, c])
            tsum += target[r, c]
        for c in range(cols):
            p = np.float32(math.exp(out[r, c] - lse))
            grad[r, c] = scale * (p * tsum - target[r, c])
        losses[r] = loss


@kernel
def _crossentropy_of_probabilities(out, target, mode, epsilon, scale, losses, grad):
    """categorical_crossentropy of probabilities: renormalised, clipped; with
    FUSED_OUTPUT the gradient is carried through the softmax that made them."""
    rows, cols = out.shape
    hi = _ONE - epsilon
    for r in range(rows):
        total = _ZERO
        for c in range(cols):
            total += out[r, c]
        loss = _ZERO
        masked_t = _ZERO
        for c in range(cols):
            q = out[r, c] / total
            inside = q > epsilon and q < hi
            q = smaller(larger(q, epsilon), hi)
            loss -= target[r, c] * np.float32(math.log(q))
            # dL/dp_c = -t_c m_c / p_c + sum_k(t_k m_k) / S
            if inside:
                grad[r, c] = -target[r, c] / out[r, c]
                masked_t += target[r, c]
            else:
                grad[r, c] = _ZERO
        inv_total = masked_t / total
        dot = _ZERO
        for c in range(cols):
            g = grad[r, c] + inv_total
            grad[r, c] = g
            dot += g * out[r, c]
        for c in range(cols):
            if mode == FUSED_OUTPUT:
                grad[r, c] = scale * out[r, c] * (grad[r, c] - dot)
            else:
                grad[r, c] *= scale
        losses[r] = loss


@kernel
def binary_crossentropy(out, target, mode, epsilon, scale, losses, grad):
    """Mean over the last axis of -(t log p + (1 - t) log(1 - p))."""
    rows, cols = out.shape
    hi = _ONE - epsilon
    inv_cols = _ONE / np.float32(cols)
    for r in range(rows):
        loss = _ZERO
        for c in range(cols):
            t = target[r, c]
            v = out[r, c]
            if mode == FROM_LOGITS:
                # t * softplus(-v) + (1 - t) * softplus(v), written stably
                sp = np.float32(math.log1p(math.exp(-abs(v))))
                loss += t * (sp + larger(-v, _ZERO)) + (_ONE - t) * (sp + larger(v, _ZERO))
                if v >= _ZERO:
                    p = _ONE / (_ONE + np.float32(math.exp(-v)))
                else:
                    e = np.float32(math.exp(v))
                    p = e / (_ONE + e)
                g = p - t
            else:
                o = smaller(larger(v, epsilon), hi)
                loss -= t * np.float32(math.log(o)) + (_ONE - t) * np.float32(math.log(_ONE - o))
                if v > epsilon and v < hi:
                    g = -t / v + (_ONE - t) / (_ONE - v)
                else:
                    g = _ZERO
                if mode == FUSED_OUTPUT:
                    g *= v * (_ONE - v)
            grad[r, c] = scale * inv_cols * g
        losses[r] = loss * inv_cols


@kernel
def regression_loss(out, target, kind, delta, scale, losses, grad):
    """Mean squared / absolute error or Huber(delta) over the last axis."""
    rows, cols = out.shape
    inv_cols = _ONE / np.float32(cols)
    for r in range(rows):
        loss = _ZERO
        for c in range(cols):
            e = out[r, c] - target[r, c]
            if kind == MEAN_SQUARED_ERROR:
                loss += e * e
                g = np.float32(2.0) * e
            elif kind == MEAN_ABSOLUTE_ERROR:
                loss += abs(e)
                g = _ONE if e > _ZERO else (-_ONE if e < _ZERO else _ZERO)
            else:
                a = abs(e)
                if a <= delta:
                    loss += _HALF * e * e
                    g = e
                else:
                    loss += delta * a - _HALF * delta * delta
                    g = delta if e > _ZERO else -delta
            grad[r, c] = scale * inv_cols * g
        losses[r] = loss * inv_cols


def sparse_to_onehot(labels, classes, onehot):
    """onehot[r, labels[r]] = 1 (rows of zeros elsewhere); labels already range-checked.

    Host NumPy, not a kernel: a few microseconds a batch either way, and the
    kernel cost every new user half a second of compiling."""
    onehot[:, :classes] = _ZERO
    onehot[np.arange(labels.shape[0]), labels] = _ONE

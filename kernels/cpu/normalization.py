"""Batch normalization (statistics per channel) and layer normalization (per row).

Both work on 2-D, C-contiguous float32 arrays: the caller flattens every axis
but the normalized one(s). Batch norm sees ``x`` as (rows, C) and reduces over
the rows; layer norm sees ``x`` as (rows, F) and reduces each row over its F
features.

Conventions (so that each kernel compiles once):

- ``epsilon`` is a Python float, rounded to float32 once at the top of the
  kernel (an ``np.float32`` would work too, as a second compilation);
  ``chunks`` (the thread count) is a Python int;
- an optional array is passed empty (``np.empty(0, np.float32)`` for a vector,
  ``np.empty((0, 0), np.float32)`` for ``dx``), never ``None``: empty ``gamma``
  means a scale of 1, empty ``beta`` an offset of 0, an empty gradient output
  is not computed;
- outputs are overwritten, never accumulated into; ``y`` may be ``x`` and
  ``dx`` may be ``dy`` (every element is read before it is written);
- statistics are two-pass ones, accumulated in float32 (the mean first, then the mean
  of squared deviations from it); the variance is the biased one, as in Keras.

Column sums over rows are split over ``chunks`` threads, each summing its own
rows into its own row of a (chunks, C) partial array; ``sum_partials`` adds the
rows up afterwards. Partial arrays come from ``np.empty`` and are zeroed by the
thread that owns them (``np.zeros`` would be one more parallel loop to compile).
"""
import math

import numpy as np
from numba import prange

from ._jit import kernel
from .activations import row_range, sum_partials

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)


@kernel(inner=True)
def _column_sums(x, r0, r1, out):
    """out[c] = sum of x[r0:r1, c]."""
    cols = x.shape[1]
    for c in range(cols):
        out[c] = _ZERO
    for r in range(r0, r1):
        for c in range(cols):
            out[c] += x[r, c]


@kernel(inner=True)
def _column_square_deviations(x, mean, r0, r1, out):
    """out[c] = sum of (x[r0:r1, c] - mean[c])**2."""
    cols = x.shape[1]
    for c in range(cols):
        out[c] = _ZERO
    for r in range(r0, r1):
        for c in range(cols):
            d = x[r, c] - mean[c]
            out[c] += d * d


@kernel(inner=True)
def _scale_shift_rows(x, center, scale, shift, y, r0, r1):
    """Rows [r0, r1): y = (x - center) * scale + shift, per column."""
    cols = x.shape[1]
    for r in range(r0, r1):
        for c in range(cols):
            y[r, c] = (x[r, c] - center[c]) * scale[c] + shift[c]


@kernel(inner=True)
def _affine(gamma, beta, inv_std, scale, shift):
    """scale = inv_std * gamma, shift = beta (gamma/beta empty: 1/0)."""
    has_gamma = gamma.shape[0] > 0
    has_beta = beta.shape[0] > 0
    for c in range(scale.shape[0]):
        scale[c] = inv_std[c] * gamma[c] if has_gamma else inv_std[c]
        shift[c] = beta[c] if has_beta else _ZERO


@kernel(inner=True)
def _batchnorm_grad_sums(x, mean, inv_std, dy, r0, r1, out):
    """out[:C] = column sums of dy, out[C:] = column sums of dy * xhat, rows [r0, r1)."""
    cols = x.shape[1]
    for k in range(2 * cols):
        out[k] = _ZERO
    sdy = out[:cols]
    sdx = out[cols:]
    for r in range(r0, r1):
        for c in range(cols):
            d = dy[r, c]
            sdy[c] += d
            sdx[c] += d * ((x[r, c] - mean[c]) * inv_std[c])


@kernel(inner=True)
def _batchnorm_dx_rows(x, mean, dy, scale, a, b, dx, r0, r1):
    """Rows [r0, r1): dx = scale * (dy - a - (x - mean) * b), per column."""
    cols = x.shape[1]
    for r in range(r0, r1):
        for c in range(cols):
            dx[r, c] = scale[c] * (dy[r, c] - a[c] - (x[r, c] - mean[c]) * b[c])


@kernel(parallel=True)
def batchnorm_train_forward(x, gamma, beta, epsilon, y, mean, var, inv_std, chunks):
    """Batch statistics of x (rows, C) per channel into ``mean``, ``var`` (biased)
    and ``inv_std = 1 / sqrt(var + epsilon)``; y = (x - mean) * inv_std * gamma + beta."""
    rows, cols = x.shape
    eps32 = np.float32(epsilon)
    inv_rows = _ONE / np.float32(rows)
    partial = np.empty((chunks, cols), dtype=np.float32)
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        _column_sums(x, r0, r1, partial[t])
    sum_partials(partial, mean)
    for c in range(cols):
        mean[c] *= inv_rows
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        _column_square_deviations(x, mean, r0, r1, partial[t])
    sum_partials(partial, var)
    for c in range(cols):
        v = var[c] * inv_rows
        var[c] = v
        inv_std[c] = _ONE / np.float32(math.sqrt(v + eps32))
    scale = np.empty(cols, dtype=np.float32)
    shift = np.empty(cols, dtype=np.float32)
    _affine(gamma, beta, inv_std, scale, shift)
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        _scale_shift_rows(x, mean, scale, shift, y, r0, r1)


@kernel(parallel=True)
def batchnorm_infer_forward(x, gamma, beta, moving_mean, moving_var, epsilon, y, chunks):
    """y = (x - moving_mean) / sqrt(moving_var + epsilon) * gamma + beta, x (rows, C)."""
    rows, cols = x.shape
    eps32 = np.float32(epsilon)
    inv_std = np.empty(cols, dtype=np.float32)
    for c in range(cols):
        inv_std[c] = _ONE / np.float32(math.sqrt(moving_var[c] + eps32))
    scale = np.empty(cols, dtype=np.float32)
    shift = np.empty(cols, dtype=np.float32)
    _affine(gamma, beta, inv_std, scale, shift)
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        _scale_shift_rows(x, moving_mean, scale, shift, y, r0, r1)


@kernel(parallel=True)
def batchnorm_backward(x, gamma, mean, inv_std, dy, dx, dgamma, dbeta, chunks):
    """Backward of ``batchnorm_train_forward`` (batch statistics), x and dy (rows, C).

    With xhat = (x - mean) * inv_std: dbeta = sum_rows(dy), dgamma =
    sum_rows(dy * xhat), dx = gamma * inv_std * (dy - mean_rows(dy) - xhat *
    mean_rows(dy * xhat)). Each of dx, dgamma, dbeta is skipped when empty.
    """
    rows, cols = x.shape
    inv_rows = _ONE / np.float32(rows)
    partial = np.empty((chunks, 2 * cols), dtype=np.float32)
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        _batchnorm_grad_sums(x, mean, inv_std, dy, r0, r1, partial[t])
    sums = np.empty(2 * cols, dtype=np.float32)
    sum_partials(partial, sums)
    if dbeta.shape[0] > 0:
        for c in range(cols):
            dbeta[c] = sums[c]
    if dgamma.shape[0] > 0:
        for c in range(cols):
            dgamma[c] = sums[cols + c]
    # the dx pass runs over no rows when dx is empty (not a prange inside an `if`:
    # see conv2d_forward on what Numba 0.68 makes of that)
    dx_rows = rows if dx.size > 0 else 0
    has_gamma = gamma.shape[0] > 0
    scale = np.empty(cols, dtype=np.float32)
    a = np.empty(cols, dtype=np.float32)
    b = np.empty(cols, dtype=np.float32)
    for c in range(cols):
        scale[c] = gamma[c] * inv_std[c] if has_gamma else inv_std[c]
        a[c] = sums[c] * inv_rows
        b[c] = sums[cols + c] * inv_rows * inv_std[c]
    for t in prange(chunks):
        r0, r1 = row_range(dx_rows, chunks, t)
        _batchnorm_dx_rows(x, mean, dy, scale, a, b, dx, r0, r1)


@kernel(inner=True)
def _layernorm_rows(x, gamma, beta, eps32, y, mean, inv_std, r0, r1):
    """Rows [r0, r1) of ``layernorm_forward``."""
    cols = x.shape[1]
    inv_cols = _ONE / np.float32(cols)
    has_gamma = gamma.shape[0] > 0
    has_beta = beta.shape[0] > 0
    has_stats = mean.shape[0] > 0
    for r in range(r0, r1):
        s = _ZERO
        for c in range(cols):
            s += x[r, c]
        m = s * inv_cols
        q = _ZERO
        for c in range(cols):
            d = x[r, c] - m
            q += d * d
        inv = _ONE / np.float32(math.sqrt(q * inv_cols + eps32))
        if has_stats:
            mean[r] = m
            inv_std[r] = inv
        for c in range(cols):
            y[r, c] = (x[r, c] - m) * inv
        if has_gamma:
            for c in range(cols):
                y[r, c] *= gamma[c]
        if has_beta:
            for c in range(cols):
                y[r, c] += beta[c]


@kernel(inner=True)
def _layernorm_grad_rows(x, gamma, mean, inv_std, dy, dx, pgamma, pbeta, r0, r1):
    """Rows [r0, r1) of ``layernorm_backward``; dgamma/dbeta sums of these rows
    into ``pgamma``/``pbeta`` (zeroed here; skipped when empty). Each loop over a
    row is branch-free, so that it vectorises (the row stays in cache)."""
    cols = x.shape[1]
    inv_cols = _ONE / np.float32(cols)
    scale = gamma if gamma.shape[0] > 0 else np.ones(cols, dtype=np.float32)
    has_dx = dx.size > 0
    has_pg = pgamma.shape[0] > 0
    has_pb = pbeta.shape[0] > 0
    for c in range(pgamma.shape[0]):
        pgamma[c] = _ZERO
    for c in range(pbeta.shape[0]):
        pbeta[c] = _ZERO
    for r in range(r0, r1):
        m = mean[r]
        inv = inv_std[r]
        if has_pg:
            for c in range(cols):
                pgamma[c] += dy[r, c] * ((x[r, c] - m) * inv)
        if has_pb:
            for c in range(cols):
                pbeta[c] += dy[r, c]
        if has_dx:
            sg = _ZERO
            sgx = _ZERO
            for c in range(cols):
                g = dy[r, c] * scale[c]
                sg += g
                sgx += g * ((x[r, c] - m) * inv)
            a = sg * inv_cols
            b = sgx * inv_cols
            for c in range(cols):
                dx[r, c] = inv * (dy[r, c] * scale[c] - a - (x[r, c] - m) * inv * b)


@kernel(parallel=True)
def layernorm_forward(x, gamma, beta, epsilon, y, mean, inv_std, chunks):
    """Each row of x (rows, F) normalized over its F features: mean[r], inv_std[r]
    = 1 / sqrt(biased var[r] + epsilon), y = (x - mean) * inv_std * gamma + beta.
    ``gamma``/``beta`` (length F) may be empty; ``mean`` and ``inv_std`` (length
    rows) may both be empty when the backward pass will not need them."""
    rows = x.shape[0]
    eps32 = np.float32(epsilon)
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        _layernorm_rows(x, gamma, beta, eps32, y, mean, inv_std, r0, r1)


@kernel(parallel=True)
def layernorm_backward(x, gamma, mean, inv_std, dy, dx, dgamma, dbeta, chunks):
    """Backward of ``layernorm_forward``. Per row, with xhat = (x - mean) * inv_std
    and g = dy * gamma: dx = inv_std * (g - mean_F(g) - xhat * mean_F(g * xhat));
    dgamma = sum_rows(dy * xhat), dbeta = sum_rows(dy). Each skipped when empty."""
    rows = x.shape[0]
    pgamma = np.empty((chunks, dgamma.shape[0]), dtype=np.float32)
    pbeta = np.empty((chunks, dbeta.shape[0]), dtype=np.float32)
    for t in prange(chunks):
        r0, r1 = row_range(rows, chunks, t)
        _layernorm_grad_rows(x, gamma, mean, inv_std, dy, dx, pgamma[t], pbeta[t], r0, r1)
    if dgamma.shape[0] > 0:
        sum_partials(pgamma, dgamma)
    if dbeta.shape[0] > 0:
        sum_partials(pbeta, dbeta)

"""Fused optimizer updates and gradient clipping over a flat parameter arena.

Every function works in place on flat, C-contiguous, float32 1-D arrays: the
weights ``w``, their gradients ``g`` and the optimizer's slot arrays (moments,
accumulators), all of the same length. One call is one parallel loop over the
whole arena: each element's weight, gradient and slots are read once and
written once. The updates are thread bodies run by the product kernels' one
parallel launcher (``products.over_arena``): each parallel loop of their own
cost about a second of compiling.

The update rules are Keras 3's, term for term (``keras/src/optimizers/*.py``),
including the decoupled weight decay that Keras's base optimizer applies before
the update (``w <- w - w * weight_decay * lr``); ``weight_decay == 0`` means
none.

Scalar conventions (so that each kernel compiles once):

- hyperparameters (``lr``, ``beta_1``, ``epsilon``, ...) are passed as Python
  floats and rounded to float32 once, on the host before the update body
  runs, exactly where Keras casts them; derived constants such as ``1 - beta_1`` are formed in
  double precision first, as Keras's Python arithmetic does;
- ``step`` (Adam) is the 1-based step number, Keras's ``local_step =
  iterations + 1``;
- flags are Python bools;
- a slot array that the chosen options do not use (SGD's momentum when
  ``momentum == 0``, Adam's ``vhat`` without amsgrad, ...) may be an empty
  float32 array.

Norms for clipping are accumulated in float64 and rounded to float32.
"""
import numba
import numpy as np
from numba import prange

from ._jit import kernel
from .activations import row_range
from .products import over_arena
from .scalars import larger

__all__ = [
    "sgd_update",
    "adagrad_update",
    "rmsprop_update",
    "adam_update",
    "clip_by_value",
    "clip_by_norm_segments",
    "clip_by_global_norm",
    "scale_inplace",
]


@kernel(inner=True)
def _decayed(wi, wd32, lr32, decay):
    """Keras's decoupled weight decay, applied before the update: w - w*wd*lr."""
    return wi - wi * wd32 * lr32 if decay else wi


#: bits of an update body's ``flags``
_DECAY, _MOMENTUM, _NESTEROV, _CENTERED, _AMSGRAD = 1, 2, 4, 8, 16
#: the fewest elements per thread: a share of ~2 us of work pays for waking a thread
_MIN_EACH = 4096


def _run(body, w, g, slots, constants, flags):
    """``body`` over the arena on the kernels' threads (``products.over_arena``)."""
    chunks = max(1, min(numba.get_num_threads(), w.shape[0] // _MIN_EACH))
    over_arena(body, w, g, slots, constants, flags, chunks)


def _bit(flag, on):
    return flag if on else 0


@kernel(inline=True)
def _share(t, chunks, target, a, z, y, dy):
    """Thread t's elements of an update body's arrays (``over_arena``): the
    weights, their gradients and the three slots, as flat slices."""
    i0, i1 = row_range(target.shape[0], chunks, t)
    return (target[i0:i1], a[i0:i1], z.reshape(-1)[i0:i1], y.reshape(-1)[i0:i1],
            dy.reshape(-1)[i0:i1])


def sgd_update(w, g, m, lr, momentum, nesterov, weight_decay):
    """SGD (Keras 3), in place.

    ``momentum == 0``: ``w -= g * lr`` (``m`` is not touched, may be empty).
    Otherwise ``m = m * momentum - g * lr`` then ``w += m`` or, with
    ``nesterov``, ``w += m * momentum - g * lr``.
    """
    _run(_sgd_body, w, g, (m,), (lr, momentum, weight_decay),
         _bit(_DECAY, weight_decay != 0.0) | _bit(_MOMENTUM, momentum != 0.0)
         | _bit(_NESTEROV, nesterov))


@kernel(inner=True)
def _sgd_body(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw_partial,
              db_partial, chunks, group, arg, origins, runs, target, callees):
    """Thread t's share of sgd_update: w, g = target, a; m = z; bias = (lr,
    momentum, weight_decay)."""
    w, g, m, _, _ = _share(t, chunks, target, a, z, y, dy)
    lr32, mom32, wd32 = bias[0], bias[1], bias[2]
    decay = code & _DECAY != 0
    use_m = code & _MOMENTUM != 0
    nesterov = code & _NESTEROV != 0
    for i in range(w.shape[0]):
        wi = _decayed(w[i], wd32, lr32, decay)
        gi = g[i]
        if use_m:
            mi = m[i] * mom32 - gi * lr32
            m[i] = mi
            if nesterov:
                wi = wi + (mi * mom32 - gi * lr32)
            else:
                wi = wi + mi
        else:
            wi = wi - gi * lr32
        w[i] = wi


def adagrad_update(w, g, acc, lr, epsilon, weight_decay):
    """Adagrad (Keras 3), in place: ``acc += g*g; w -= lr*g / sqrt(acc + eps)``.

    ``acc`` starts at ``initial_accumulator_value`` (Keras: 0.1), set by the caller.
    """
    _run(_adagrad_body, w, g, (acc,), (lr, epsilon, weight_decay),
         _bit(_DECAY, weight_decay != 0.0))


@kernel(inner=True)
def _adagrad_body(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw_partial,
                  db_partial, chunks, group, arg, origins, runs, target, callees):
    """Thread t's share of adagrad_update: w, g = target, a; acc = z; bias = (lr,
    epsilon, weight_decay)."""
    w, g, acc, _, _ = _share(t, chunks, target, a, z, y, dy)
    lr32, eps32, wd32 = bias[0], bias[1], bias[2]
    decay = code & _DECAY != 0
    for i in range(w.shape[0]):
        wi = _decayed(w[i], wd32, lr32, decay)
        gi = g[i]
        ai = acc[i] + gi * gi
        acc[i] = ai
        w[i] = wi - (lr32 * gi) / np.sqrt(ai + eps32)


def rmsprop_update(w, g, velocity, momentum_buf, average_grad, lr, rho,
                   momentum, epsilon, centered, weight_decay):
    """RMSprop (Keras 3), in place.

    ``velocity = rho*velocity + (1-rho)*g^2``; centered:
    ``average_grad = rho*average_grad + (1-rho)*g`` and
    ``denominator = velocity - average_grad^2 + eps``, else
    ``denominator = velocity + eps``; ``increment = lr*g / sqrt(denominator)``;
    ``momentum > 0``: ``momentum_buf = momentum*momentum_buf + increment;
    w -= momentum_buf``, else ``w -= increment``. Unused slots may be empty.
    """
    _run(_rmsprop_body, w, g, (velocity, momentum_buf, average_grad),
         (lr, rho, 1.0 - rho, momentum, epsilon, weight_decay),
         _bit(_DECAY, weight_decay != 0.0) | _bit(_MOMENTUM, momentum > 0.0)
         | _bit(_CENTERED, centered))


@kernel(inner=True)
def _rmsprop_body(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw_partial,
                  db_partial, chunks, group, arg, origins, runs, target, callees):
    """Thread t's share of rmsprop_update: w, g = target, a; velocity, momentum_buf,
    average_grad = z, y, dy; bias = (lr, rho, 1 - rho, momentum, epsilon,
    weight_decay)."""
    w, g, velocity, momentum_buf, average_grad = _share(t, chunks, target, a, z, y, dy)
    lr32, rho32, one_m_rho, mom32, eps32, wd32 = bias[0], bias[1], bias[2], bias[3], bias[4], bias[5]
    decay = code & _DECAY != 0
    use_m = code & _MOMENTUM != 0
    centered = code & _CENTERED != 0
    for i in range(w.shape[0]):
        wi = _decayed(w[i], wd32, lr32, decay)
        gi = g[i]
        vi = rho32 * velocity[i] + one_m_rho * (gi * gi)
        velocity[i] = vi
        if centered:
            ai = rho32 * average_grad[i] + one_m_rho * gi
            average_grad[i] = ai
            denom = vi - ai * ai + eps32
        else:
            denom = vi + eps32
        inc = (lr32 * gi) / np.sqrt(denom)
        if use_m:
            mi = mom32 * momentum_buf[i] + inc
            momentum_buf[i] = mi
            wi = wi - mi
        else:
            wi = wi - inc
        w[i] = wi


def adam_update(w, g, m, v, vhat, lr, beta_1, beta_2, epsilon, step, amsgrad,
                weight_decay):
    """Adam / AdamW (Keras 3), in place; ``step`` is 1-based (iterations + 1).

    ``alpha = lr * sqrt(1 - beta_2^step) / (1 - beta_1^step)``;
    ``m += (g - m)*(1 - beta_1)``; ``v += (g*g - v)*(1 - beta_2)``; amsgrad:
    ``vhat = max(vhat, v)`` and ``vhat`` replaces ``v`` below;
    ``w -= alpha * m / (sqrt(v) + eps)`` (epsilon outside the sqrt).
    AdamW is this with ``weight_decay`` (decoupled: ``w -= w*wd*lr`` first).
    """
    f32 = np.float32
    lr32, t32 = f32(lr), f32(step)
    b1p, b2p = f32(beta_1) ** t32, f32(beta_2) ** t32
    alpha = lr32 * np.sqrt(f32(1.0) - b2p) / (f32(1.0) - b1p)
    _run(_adam_body, w, g, (m, v, vhat),
         (alpha, 1.0 - beta_1, 1.0 - beta_2, epsilon, weight_decay, lr32),
         _bit(_DECAY, weight_decay != 0.0) | _bit(_AMSGRAD, amsgrad))


@kernel(inner=True)
def _adam_body(t, a, row_off, col_off, b, ldb, bias, code, alpha, z, y, dy, dz, dw_partial,
               db_partial, chunks, group, arg, origins, runs, target, callees):
    """Thread t's share of adam_update: w, g = target, a; m, v, vhat = z, y, dy;
    bias = (alpha, 1 - beta_1, 1 - beta_2, epsilon, weight_decay, lr)."""
    w, g, m, v, vhat = _share(t, chunks, target, a, z, y, dy)
    step_size, one_m_b1, one_m_b2, eps32, wd32, lr32 = (bias[0], bias[1], bias[2], bias[3],
                                                        bias[4], bias[5])
    decay = code & _DECAY != 0
    # (AMSGrad in a loop of its own: the common one then reads four arrays
    # and vectorises)
    if code & _AMSGRAD == 0:
        for i in range(w.shape[0]):
            wi = _decayed(w[i], wd32, lr32, decay)
            mi, vi = _moments(g[i], m[i], v[i], one_m_b1, one_m_b2)
            m[i], v[i] = mi, vi
            w[i] = wi - (mi * step_size) / (np.sqrt(vi) + eps32)
        return
    for i in range(w.shape[0]):
        wi = _decayed(w[i], wd32, lr32, decay)
        mi, vi = _moments(g[i], m[i], v[i], one_m_b1, one_m_b2)
        hi = larger(vhat[i], vi)
        m[i], v[i], vhat[i] = mi, vi, hi
        w[i] = wi - (mi * step_size) / (np.sqrt(hi) + eps32)


@kernel(inline=True)
def _moments(gi, mi, vi, one_m_b1, one_m_b2):
    """Adam's first and second moments after the gradient ``gi``."""
    return mi + (gi - mi) * one_m_b1, vi + (gi * gi - vi) * one_m_b2


@kernel(parallel=True)
def clip_by_value(g, clipvalue):
    """``g = clip(g, -clipvalue, clipvalue)`` in place (NaN stays NaN)."""
    hi = np.float32(clipvalue)
    lo = -hi
    for i in prange(g.shape[0]):
        x = g[i]
        if x > hi:
            g[i] = hi
        elif x < lo:
            g[i] = lo


@kernel(parallel=True)
def _sum_squares(g, start, stop):
    s = 0.0
    for i in prange(start, stop):
        x = np.float64(g[i])
        s += x * x
    return s


@kernel(parallel=True)
def _scale_range(g, start, stop, scale):
    for i in prange(start, stop):
        g[i] = g[i] * scale


@kernel
def clip_by_norm_segments(g, offsets, clipnorm):
    """Per-variable clipnorm (Keras ``_clip_by_norm``), in place.

    Variable ``k`` is ``g[offsets[k]:offsets[k+1]]`` (``offsets``: int64,
    length ``n_variables + 1``, ``offsets[0] == 0``). Each segment whose L2 norm
    exceeds ``clipnorm`` is scaled by ``clipnorm / norm``; a zero-norm segment
    is left alone; an inf or NaN norm turns the segment to 0/NaN like Keras.
    Returns the float32 norms of the segments (before clipping).
    """
    c32 = np.float32(clipnorm)
    nseg = offsets.shape[0] - 1
    norms = np.empty(nseg, dtype=np.float32)
    for k in range(nseg):
        a = offsets[k]
        b = offsets[k + 1]
        n = np.float32(np.sqrt(_sum_squares(g, a, b)))
        norms[k] = n
        if not n <= c32:  # norm > clipnorm, or NaN
            _scale_range(g, a, b, c32 / n)
    return norms


@kernel
def clip_by_global_norm(g, clipnorm):
    """Keras ``clip_by_global_norm`` over the whole arena, in place.

    Scales ``g`` by ``clipnorm / norm`` when ``norm > clipnorm``; a non-finite
    norm makes every gradient NaN (as Keras does). Returns the float32 norm.
    """
    c32 = np.float32(clipnorm)
    start = np.int64(0)  # not a literal 0: reuse the per-segment compilations
    stop = np.int64(g.shape[0])
    n = np.float32(np.sqrt(_sum_squares(g, start, stop)))
    if not np.isfinite(n):
        _scale_range(g, start, stop, np.float32(np.nan))
    elif n > c32:
        _scale_range(g, start, stop, c32 / n)
    return n


@kernel(parallel=True)
def scale_inplace(x, factor):
    """``x *= factor`` in place (``factor`` rounded to float32)."""
    f32 = np.float32(factor)
    for i in prange(x.shape[0]):
        x[i] = x[i] * f32

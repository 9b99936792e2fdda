"""Keras 3's math and linear-algebra ops used by models: logsumexp, erf, norm."""
import numpy as np

from .. import backend
from .op import Op
from .numpy import _axis_arg, _axis_tuple, _expand_reduced

_F32 = np.float32


def _logsumexp_forward(ctx, x, axis=None, keepdims=False):
    x = np.asarray(x, dtype=_F32)
    m = np.max(x, axis=_axis_arg(axis), keepdims=True)
    m = np.where(np.isfinite(m), m, _F32(0))
    s = np.sum(np.exp(x - m), axis=_axis_arg(axis), keepdims=True)
    with np.errstate(divide="ignore"):  # all -inf: log(0) = -inf, the right answer
        out = np.log(s) + m
    ctx.x, ctx.axis, ctx.keepdims, ctx.full = x, axis, keepdims, out
    if not keepdims:
        out = np.squeeze(out, axis=_axis_arg(axis)) if axis is not None else out.reshape(())
    return out


def _logsumexp_backward(ctx, g):
    g = _expand_reduced(g, ctx.x.shape, ctx.axis, ctx.keepdims)
    return g * np.exp(ctx.x - ctx.full)


_LOGSUMEXP = Op("logsumexp", _logsumexp_forward, _logsumexp_backward)


def logsumexp(x, axis=None, keepdims=False):
    return _LOGSUMEXP(x, axis=axis, keepdims=keepdims)


def _erf_forward(ctx, x):
    # (np.ascontiguousarray makes a 0-d array 1-d: reshape it back)
    x = np.ascontiguousarray(x, dtype=_F32).reshape(np.shape(x))
    out = np.empty_like(x)
    backend.ops().erf(x.reshape(-1), out.reshape(-1), backend.num_threads())
    ctx.x = x
    return out


_TWO_OVER_SQRT_PI = _F32(2.0 / np.sqrt(np.pi))
_ERF = Op("erf", _erf_forward,
          lambda ctx, g: g * _TWO_OVER_SQRT_PI * np.exp(-ctx.x * ctx.x))


def erf(x):
    return _ERF(x)


def _norm_kind(ord, n_axes):
    """Which norm ``ord`` names over ``n_axes`` axes (1: a vector norm, 2: a matrix norm;
    more: the flattened 2-norm of ``ord=None``), as ``numpy.linalg.norm`` reads it."""
    if n_axes != 2:
        if ord is None or (not isinstance(ord, str) and ord == 2):
            return "l2"
        if isinstance(ord, str):
            raise ValueError(f"norm: invalid ord {ord!r} for a vector norm.")
        if ord == 1:
            return "l1"
        if ord == np.inf:
            return "max"
        if ord == -np.inf:
            return "min"
        return "zero" if ord == 0 else "p"
    if ord is None or ord == "fro":
        return "l2"
    if ord in (1, -1, np.inf, -np.inf):
        return "matrix"
    if ord in (2, -2, "nuc"):
        raise NotImplementedError(f"norm: the matrix norm ord={ord!r} (from singular values) "
                                  f"is not supported; use ord='fro', 1 or inf.")
    raise ValueError(f"norm: invalid ord {ord!r} for a matrix norm.")


def _norm_forward(ctx, x, ord=None, axis=None, keepdims=False):
    x = np.asarray(x, dtype=_F32)
    if axis is None and x.ndim > 2 and ord is not None:
        raise ValueError(f"norm: ord={ord!r} of a {x.ndim}-D input needs `axis` (one axis "
                         f"for a vector norm, two for a matrix norm).")
    axes = _axis_tuple(axis, x.ndim)
    kind = _norm_kind(ord, len(axes))
    a = np.abs(x)
    if kind == "l2":
        out = np.sqrt(np.sum(x * x, axis=axes, keepdims=True))
    elif kind == "l1":
        out = np.sum(a, axis=axes, keepdims=True)
    elif kind in ("max", "min"):
        out = (np.max if kind == "max" else np.min)(a, axis=axes, keepdims=True)
    elif kind == "zero":
        out = np.sum(x != 0, axis=axes, keepdims=True).astype(_F32)
    elif kind == "p":
        p = _F32(ord)
        with np.errstate(divide="ignore"):
            out = np.sum(a ** p, axis=axes, keepdims=True) ** (_F32(1) / p)
    else:  # matrix 1-norm (max column sum) or inf-norm (max row sum); min for -1, -inf
        rows, cols = axes
        summed, picked = (rows, cols) if ord in (1, -1) else (cols, rows)
        ctx.sums = np.sum(a, axis=summed, keepdims=True)
        ctx.picked = picked
        out = (np.max if ord > 0 else np.min)(ctx.sums, axis=picked, keepdims=True)
    ctx.x, ctx.kind, ctx.ord, ctx.axes, ctx.keepdims, ctx.out = x, kind, ord, axes, keepdims, out
    return out if keepdims else np.squeeze(out, axis=axes)


def _norm_backward(ctx, g):
    x, out = ctx.x, ctx.out
    if not ctx.keepdims:
        g = np.expand_dims(g, ctx.axes)
    if ctx.kind == "l2":
        d = np.where(out > 0, x / np.where(out > 0, out, _F32(1)), _F32(0))
    elif ctx.kind == "l1":
        d = np.sign(x)
    elif ctx.kind == "zero":
        d = np.zeros_like(x)
    elif ctx.kind == "p":
        p = _F32(ctx.ord)
        a = np.abs(x)
        safe = (a > 0) & (out > 0)
        d = np.where(safe, np.sign(x) * (np.where(safe, a, _F32(1)) /
                                         np.where(safe, out, _F32(1))) ** (p - 1), _F32(0))
    else:  # the selected element(s), column or row: ties share the gradient
        if ctx.kind == "matrix":
            hit = (ctx.sums == out).astype(_F32)
            hit = hit / np.sum(hit, axis=ctx.picked, keepdims=True)
        else:
            hit = (np.abs(x) == out).astype(_F32)
            hit = hit / np.sum(hit, axis=ctx.axes, keepdims=True)
        d = np.sign(x) * hit
    return (g * d).astype(_F32)


_NORM = Op("norm", _norm_forward, _norm_backward)


def norm(x, ord=None, axis=None, keepdims=False):
    return _NORM(x, ord=ord, axis=axis, keepdims=keepdims)

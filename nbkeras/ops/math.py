"""Keras 3's math and linear-algebra ops used by models: logsumexp, erf, norm."""
import numpy as np

from .. import backend
from .op import Op
from .numpy import _axis_arg, _expand_reduced

_F32 = np.float32


def _logsumexp_forward(ctx, x, axis=None, keepdims=False):
    x = np.asarray(x, dtype=_F32)
    m = np.max(x, axis=_axis_arg(axis), keepdims=True)
    m = np.where(np.isfinite(m), m, _F32(0))
    s = np.sum(np.exp(x - m), axis=_axis_arg(axis), keepdims=True)
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
    x = np.ascontiguousarray(x, dtype=_F32)
    out = np.empty_like(x)
    backend.ops().erf(x.reshape(-1), out.reshape(-1), backend.num_threads())
    ctx.x = x
    return out


_TWO_OVER_SQRT_PI = _F32(2.0 / np.sqrt(np.pi))
_ERF = Op("erf", _erf_forward,
          lambda ctx, g: g * _TWO_OVER_SQRT_PI * np.exp(-ctx.x * ctx.x))


def erf(x):
    return _ERF(x)


def _norm_forward(ctx, x, ord=None, axis=None, keepdims=False):
    x = np.asarray(x, dtype=_F32)
    if axis is None and x.ndim > 2 and ord is None:
        axis = tuple(range(x.ndim))
    vector = (axis is None and x.ndim <= 1) or isinstance(axis, int) or (
        isinstance(axis, (tuple, list)) and len(axis) == 1)
    if ord in (None, 2, "fro") if not vector else ord in (None, 2):
        if not vector and ord == 2:
            raise NotImplementedError("norm: the matrix 2-norm (largest singular value) "
                                      "is not supported; use ord='fro'.")
        ctx.kind = "l2"
        out = np.sqrt(np.sum(x * x, axis=_axis_arg(axis), keepdims=keepdims))
    elif vector and ord == 1:
        ctx.kind = "l1"
        out = np.sum(np.abs(x), axis=_axis_arg(axis), keepdims=keepdims)
    elif vector and ord in (np.inf, float("inf")):
        ctx.kind = "inf"
        out = np.max(np.abs(x), axis=_axis_arg(axis), keepdims=keepdims)
    else:
        raise NotImplementedError(f"norm: ord={ord!r} is not supported (None, 1, 2, inf for "
                                  f"vectors; None or 'fro' for matrices).")
    ctx.x, ctx.axis, ctx.keepdims, ctx.out = x, axis, keepdims, out
    return out


def _norm_backward(ctx, g):
    x = ctx.x
    g = _expand_reduced(g, x.shape, ctx.axis, ctx.keepdims)
    out = _expand_reduced(ctx.out, x.shape, ctx.axis, ctx.keepdims)
    if ctx.kind == "l2":
        return g * np.where(out > 0, x / np.where(out > 0, out, _F32(1)), _F32(0))
    if ctx.kind == "l1":
        return g * np.sign(x)
    hit = (np.abs(x) == out).astype(_F32)
    return g * np.sign(x) * hit / np.sum(hit, axis=_axis_arg(ctx.axis), keepdims=True)


_NORM = Op("norm", _norm_forward, _norm_backward)


def norm(x, ord=None, axis=None, keepdims=False):
    return _NORM(x, ord=ord, axis=axis, keepdims=keepdims)

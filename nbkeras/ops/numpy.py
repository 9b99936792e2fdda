"""Keras 3's NumPy-like ops (``keras.ops.add``, ``matmul``, ``sum``, ``reshape``, ...),
each with its vector-Jacobian product.

Element-wise arithmetic with broadcasting runs on NumPy's ufuncs on the CPU;
matrix products run on the nbkeras GEMM kernels (the same two a Dense layer
uses), reached through the backend. Gradients of broadcast operands are summed
back to their shapes (``unbroadcast``).
"""
import builtins

import numpy as np

from .. import backend
from .op import Op, unbroadcast, to_array

_F32 = np.float32
# this module defines ops named max, min, sum and abs: the builtins, by their full names
_max = builtins.max


def _shapes(ctx, *arrays):
    ctx.shapes = tuple(np.shape(a) for a in arrays)


def _axis_tuple(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        return tuple(a % ndim for a in axis)
    return (axis % ndim,)


def _expand_reduced(g, shape, axis, keepdims):
    """A reduction's output gradient reshaped so it broadcasts against its input."""
    if keepdims or not shape:
        return g
    axes = _axis_tuple(axis, len(shape))
    return np.expand_dims(g, axes)


# ----------------------------------------------------------------------------
# element-wise arithmetic
# ----------------------------------------------------------------------------
def _binary(name, fn, grad_a, grad_b):
    """An element-wise op of two broadcast operands; grad_x(ctx, g) give the
    unreduced gradients (``ctx.a``, ``ctx.b``, ``ctx.out`` are saved)."""
    def forward(ctx, a, b):
        _shapes(ctx, a, b)
        ctx.a, ctx.b = a, b
        ctx.out = fn(a, b)
        return ctx.out

    def backward(ctx, g):
        sa, sb = ctx.shapes
        da = unbroadcast(grad_a(ctx, g), sa) if ctx.needs[0] else None
        db = unbroadcast(grad_b(ctx, g), sb) if ctx.needs[1] else None
        return da, db
    return Op(name, forward, backward)


def _same(ctx, g):
    return g


_ADD = _binary("add", np.add, _same, _same)
_SUBTRACT = _binary("subtract", np.subtract, _same, lambda ctx, g: -g)
_MULTIPLY = _binary("multiply", np.multiply, lambda ctx, g: g * ctx.b, lambda ctx, g: g * ctx.a)
_DIVIDE = _binary("divide", np.true_divide, lambda ctx, g: g / ctx.b,
                  lambda ctx, g: -g * ctx.out / ctx.b)


def _power_grad_b(ctx, g):
    a = np.asarray(ctx.a)
    safe = np.where(a > 0, a, 1)
    return np.where(a > 0, g * ctx.out * np.log(safe), 0)


_POWER = _binary("power", np.power,
                 lambda ctx, g: g * ctx.b * np.power(ctx.a, np.asarray(ctx.b) - 1),
                 _power_grad_b)
_MAXIMUM = _binary("maximum", np.maximum,
                   lambda ctx, g: g * (np.asarray(ctx.a) >= ctx.b),
                   lambda ctx, g: g * (np.asarray(ctx.a) < ctx.b))
_MINIMUM = _binary("minimum", np.minimum,
                   lambda ctx, g: g * (np.asarray(ctx.a) <= ctx.b),
                   lambda ctx, g: g * (np.asarray(ctx.a) > ctx.b))
_FLOOR_DIVIDE = _binary("floor_divide", np.floor_divide, lambda ctx, g: g * 0,
                        lambda ctx, g: g * 0)
_MOD = _binary("mod", np.mod, _same, lambda ctx, g: -g * np.floor_divide(ctx.a, ctx.b))


def add(x1, x2):
    return _ADD(x1, x2)


def subtract(x1, x2):
    return _SUBTRACT(x1, x2)


def multiply(x1, x2):
    return _MULTIPLY(x1, x2)


def divide(x1, x2):
    return _DIVIDE(x1, x2)


true_divide = divide


def power(x1, x2):
    return _POWER(x1, x2)


def maximum(x1, x2):
    return _MAXIMUM(x1, x2)


def minimum(x1, x2):
    return _MINIMUM(x1, x2)


def floor_divide(x1, x2):
    return _FLOOR_DIVIDE(x1, x2)


def mod(x1, x2):
    return _MOD(x1, x2)


def _unary(name, fn, grad):
    """An element-wise op of one operand; grad(ctx, g) with ``ctx.x``, ``ctx.out``."""
    def forward(ctx, x):
        ctx.x = x
        ctx.out = fn(x)
        return ctx.out
    return Op(name, forward, lambda ctx, g: grad(ctx, g))


_NEGATIVE = _unary("negative", np.negative, lambda ctx, g: -g)
_SQRT = _unary("sqrt", np.sqrt, lambda ctx, g: g * _F32(0.5) / ctx.out)
_SQUARE = _unary("square", np.square, lambda ctx, g: g * _F32(2) * ctx.x)
_EXP = _unary("exp", np.exp, lambda ctx, g: g * ctx.out)
_LOG = _unary("log", np.log, lambda ctx, g: g / ctx.x)
_LOG1P = _unary("log1p", np.log1p, lambda ctx, g: g / (_F32(1) + ctx.x))
_ABS = _unary("absolute", np.abs, lambda ctx, g: g * np.sign(ctx.x))
_SIGN = _unary("sign", np.sign, lambda ctx, g: g * 0)
_COS = _unary("cos", np.cos, lambda ctx, g: -g * np.sin(ctx.x))
_SIN = _unary("sin", np.sin, lambda ctx, g: g * np.cos(ctx.x))


def negative(x):
    return _NEGATIVE(x)


def sqrt(x):
    return _SQRT(x)


def square(x):
    return _SQUARE(x)


def exp(x):
    return _EXP(x)


def log(x):
    return _LOG(x)


def log1p(x):
    return _LOG1P(x)


def abs(x):  # noqa: A001 (Keras's name)
    return _ABS(x)


absolute = abs


def sign(x):
    return _SIGN(x)


def cos(x):
    return _COS(x)


def sin(x):
    return _SIN(x)


def _clip_forward(ctx, x, x_min, x_max):
    _shapes(ctx, x, x_min, x_max)
    ctx.x, ctx.lo, ctx.hi = x, x_min, x_max
    return np.clip(x, x_min, x_max)


def _clip_backward(ctx, g):
    """The gradient goes to x inside [x_min, x_max] (bounds included), to a bound where
    it is the result; each summed back to its operand's (broadcast) shape."""
    sx, slo, shi = ctx.shapes
    below, above = ctx.x < ctx.lo, ctx.x > ctx.hi
    dx = unbroadcast(g * ~(below | above), sx) if ctx.needs[0] else None
    dlo = unbroadcast(g * below, slo) if ctx.needs[1] else None
    dhi = unbroadcast(g * (above & ~below), shi) if ctx.needs[2] else None
    return dx, dlo, dhi


_CLIP = Op("clip", _clip_forward, _clip_backward)


def clip(x, x_min, x_max):
    return _CLIP(x, x_min, x_max)


def _where_forward(ctx, condition, x1, x2):
    ctx.cond = np.asarray(condition).astype(bool)
    _shapes(ctx, condition, x1, x2)
    return np.where(ctx.cond, x1, x2)


def _where_backward(ctx, g):
    _, s1, s2 = ctx.shapes
    d1 = unbroadcast(np.where(ctx.cond, g, _F32(0)), s1) if ctx.needs[1] else None
    d2 = unbroadcast(np.where(ctx.cond, _F32(0), g), s2) if ctx.needs[2] else None
    return None, d1, d2


_WHERE = Op("where", _where_forward, _where_backward)


def where(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return np.nonzero(to_array(condition))
    return _WHERE(condition, x1, x2)


def _comparison(name, fn):
    return Op(name, lambda ctx, a, b: fn(a, b))


_LESS = _comparison("less", np.less)
_LESS_EQUAL = _comparison("less_equal", np.less_equal)
_GREATER = _comparison("greater", np.greater)
_GREATER_EQUAL = _comparison("greater_equal", np.greater_equal)
_EQUAL = _comparison("equal", np.equal)
_NOT_EQUAL = _comparison("not_equal", np.not_equal)


def less(x1, x2):
    return _LESS(x1, x2)


def less_equal(x1, x2):
    return _LESS_EQUAL(x1, x2)


def greater(x1, x2):
    return _GREATER(x1, x2)


def greater_equal(x1, x2):
    return _GREATER_EQUAL(x1, x2)


def equal(x1, x2):
    return _EQUAL(x1, x2)


def not_equal(x1, x2):
    return _NOT_EQUAL(x1, x2)


# ----------------------------------------------------------------------------
# matrix products
# ----------------------------------------------------------------------------
def _gemm_ready(a, b):
    return (a.ndim >= 2 and b.ndim == 2 and a.dtype == _F32 and b.dtype == _F32
            and a.shape[-1] == b.shape[0] and a.size and b.size)


def _matmul_forward(ctx, a, b):
    a, b = np.asarray(a), np.asarray(b)
    ctx.a, ctx.b = a, b
    if _gemm_ready(a, b):
        x = np.ascontiguousarray(a).reshape(-1, a.shape[-1])
        w = np.ascontiguousarray(b)
        out = np.empty((x.shape[0], w.shape[1]), dtype=_F32)
        backend.ops().matmul(x, w, out, backend.num_threads())
        ctx.x, ctx.w = x, w
        return out.reshape(a.shape[:-1] + (w.shape[1],))
    ctx.x = None
    return np.matmul(a, b)


def _matmul_backward(ctx, g):
    a, b = ctx.a, ctx.b
    if ctx.x is not None:
        x, w = ctx.x, ctx.w
        g2 = np.ascontiguousarray(g, dtype=_F32).reshape(x.shape[0], w.shape[1])
        dx = np.empty(x.shape, _F32) if ctx.needs[0] else np.empty((0, 0), _F32)
        dw = np.empty(w.shape, _F32)
        empty = np.empty(0, _F32)
        backend.ops().dense_backward(x, w, g2, g2, g2, 0, _F32(0), g2, dw, empty, dx,
                                     backend.num_threads())
        return (dx.reshape(a.shape) if ctx.needs[0] else None,
                dw if ctx.needs[1] else None)
    # general case: NumPy's batched matmul (1-D operands promoted as NumPy does)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g
    if b.ndim == 1:  # first: for 1-D @ 1-D, g is 0-d and becomes (1, 1)
        g2 = np.expand_dims(g2, -1)
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2)
    da = db = None
    if ctx.needs[0]:
        da = np.matmul(g2, np.swapaxes(b2, -1, -2))
        da = unbroadcast(da, a2.shape).reshape(a.shape)
    if ctx.needs[1]:
        db = np.matmul(np.swapaxes(a2, -1, -2), g2)
        db = unbroadcast(db, b2.shape).reshape(b.shape)
    return da, db


_MATMUL = Op("matmul", _matmul_forward, _matmul_backward)


def matmul(x1, x2):
    return _MATMUL(x1, x2)


def dot(x1, x2):
    """NumPy's ``dot``: a matrix product for 1-D/2-D operands, the last axis of x1
    against the second-to-last of x2 beyond that."""
    a, b = np.ndim(to_array(x1)), np.ndim(to_array(x2))
    if a == 0 or b == 0:
        return multiply(x1, x2)
    if b <= 2:
        return matmul(x1, x2)
    letters = "abcdefghijklmnopqrstuvw"
    sa = letters[:a - 1] + "z"
    sb = letters[a - 1:a + b - 3] + "z" + letters[a + b - 3]
    return einsum(f"{sa},{sb}->{sa[:-1]}{sb.replace('z', '')}", x1, x2)


def _einsum_parse(subscripts, ndims):
    """Explicit subscripts without ellipses: (['ij', 'jk'], 'ik')."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, out = subscripts.split("->")
    else:
        lhs = subscripts
        letters = lhs.replace(",", "").replace(".", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        if "..." in lhs:  # implicit mode keeps the broadcast axes, in front (NumPy)
            out = "..." + out
    ins = lhs.split(",")
    if "." in subscripts:
        ins, out = _expand_ellipses(ins, out, ndims)
    return ins, out


def _expand_ellipses(ins, out, ndims):
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in "".join(ins) + out]
    width = _max(n - (len(s) - 3) for s, n in zip(ins, ndims) if "..." in s)
    fill = "".join(spare[:width])
    new_ins = []
    for s, n in zip(ins, ndims):
        if "..." in s:
            k = n - (len(s) - 3)
            s = s.replace("...", fill[width - k:])
        new_ins.append(s)
    return new_ins, out.replace("...", fill)


def _einsum_operand_grad(g, out, other_sub, other, own_sub, own_shape):
    """Gradient of one operand of an einsum: the output gradient contracted with the
    other operand, broadcast along the letters summed inside this operand alone."""
    if len(set(own_sub)) != len(own_sub):
        raise NotImplementedError(f"einsum: no gradient for a repeated index in one "
                                  f"operand ('{own_sub}').")
    kept = "".join(c for c in own_sub if c in out or c in other_sub)
    if other is None:
        grad = np.einsum(f"{out}->{kept}", g)
    else:
        grad = np.einsum(f"{out},{other_sub}->{kept}", g, other)
    # this operand's size-1 axes that broadcast against the other's: summed back
    axes = tuple(i for i, c in enumerate(kept)
                 if own_shape[own_sub.index(c)] == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if kept != own_sub:
        missing = tuple(i for i, c in enumerate(own_sub) if c not in kept)
        grad = np.expand_dims(grad, missing)
    return np.broadcast_to(grad, own_shape)


def _einsum_forward(ctx, a, b, subscripts):
    ins, out = _einsum_parse(subscripts, (np.ndim(a), np.ndim(b)))
    ctx.a, ctx.b, ctx.ins, ctx.out = a, b, ins, out
    return np.einsum(f"{ins[0]},{ins[1]}->{out}", a, b)


def _einsum_backward(ctx, g):
    (sa, sb), out = ctx.ins, ctx.out
    da = (_einsum_operand_grad(g, out, sb, ctx.b, sa, np.shape(ctx.a))
          if ctx.needs[0] else None)
    db = (_einsum_operand_grad(g, out, sa, ctx.a, sb, np.shape(ctx.b))
          if ctx.needs[1] else None)
    return da, db


def _einsum1_forward(ctx, a, subscripts):
    ins, out = _einsum_parse(subscripts, (np.ndim(a),))
    ctx.a, ctx.ins, ctx.out = a, ins, out
    return np.einsum(f"{ins[0]}->{out}", a)


def _einsum1_backward(ctx, g):
    return _einsum_operand_grad(g, ctx.out, "", None, ctx.ins[0], np.shape(ctx.a))


_EINSUM = Op("einsum", _einsum_forward, _einsum_backward)
_EINSUM1 = Op("einsum", _einsum1_forward, _einsum1_backward)


def einsum(subscripts, *operands):
    """Einstein summation over one or two operands (``ops.einsum("ij,jk->ik", a, b)``)."""
    if len(operands) == 2:
        return _EINSUM(*operands, subscripts=subscripts)
    if len(operands) == 1:
        return _EINSUM1(operands[0], subscripts=subscripts)
    raise NotImplementedError(f"einsum of {len(operands)} operands is not supported yet "
                              f"(one or two).")


# ----------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------
def _int_result(x):
    """Keras's dtype for an integer sum, product or cumsum: the input's own (bool and
    narrow ints widen to int32 / uint32), where NumPy would give int64."""
    dtype = np.asarray(x).dtype
    if dtype.kind not in "iub":
        return None
    if dtype.kind == "b" or (dtype.kind == "i" and dtype.itemsize < 4):
        return np.int32
    if dtype.kind == "u" and dtype.itemsize < 4:
        return np.uint32
    return dtype


def _sum_forward(ctx, x, axis=None, keepdims=False):
    ctx.shape, ctx.axis, ctx.keepdims = np.shape(x), axis, keepdims
    return np.sum(x, axis=_axis_arg(axis), keepdims=keepdims, dtype=_int_result(x))


def _sum_backward(ctx, g):
    return np.broadcast_to(_expand_reduced(g, ctx.shape, ctx.axis, ctx.keepdims),
                           ctx.shape).astype(_F32)


def _mean_forward(ctx, x, axis=None, keepdims=False):
    ctx.shape, ctx.axis, ctx.keepdims = np.shape(x), axis, keepdims
    x = np.asarray(x)
    if x.dtype.kind in "iub":
        x = x.astype(_F32)
    out = np.mean(x, axis=_axis_arg(axis), keepdims=keepdims)
    ctx.count = _max(x.size, 1) // _max(np.size(out), 1) if x.size else 1
    return out


def _mean_backward(ctx, g):
    g = _expand_reduced(g, ctx.shape, ctx.axis, ctx.keepdims) / _F32(ctx.count)
    return np.broadcast_to(g, ctx.shape).astype(_F32)


def _extreme(name, fn):
    def forward(ctx, x, axis=None, keepdims=False, initial=None):
        ctx.x, ctx.axis, ctx.keepdims = x, axis, keepdims
        kw = {} if initial is None else {"initial": initial}
        ctx.out = fn(x, axis=_axis_arg(axis), keepdims=keepdims, **kw)
        return ctx.out

    def backward(ctx, g):
        shape = np.shape(ctx.x)
        out = _expand_reduced(ctx.out, shape, ctx.axis, ctx.keepdims)
        g = _expand_reduced(g, shape, ctx.axis, ctx.keepdims)
        hit = (ctx.x == out).astype(_F32)  # ties share the gradient, as in JAX
        # (no hit at all where ``initial`` won: no gradient there)
        count = np.maximum(np.sum(hit, axis=_axis_arg(ctx.axis), keepdims=True), _F32(1))
        return g * hit / count
    return Op(name, forward, backward)


def _prod_forward(ctx, x, axis=None, keepdims=False):
    ctx.x, ctx.axis, ctx.keepdims = x, axis, keepdims
    ctx.out = np.prod(x, axis=_axis_arg(axis), keepdims=keepdims, dtype=_int_result(x))
    return ctx.out


def _prod_backward(ctx, g):
    shape = np.shape(ctx.x)
    axes = _axis_tuple(ctx.axis, len(shape))
    g = _expand_reduced(g, shape, ctx.axis, ctx.keepdims)
    # product of all the other elements, without dividing (zeros allowed)
    x = np.moveaxis(np.asarray(ctx.x, dtype=_F32), axes, range(-len(axes), 0))
    lead = x.shape[:x.ndim - len(axes)]
    flat = x.reshape(lead + (-1,))
    left = np.cumprod(np.concatenate([np.ones(lead + (1,), _F32), flat[..., :-1]], -1), -1)
    right = np.flip(np.cumprod(np.concatenate(
        [np.ones(lead + (1,), _F32), np.flip(flat, -1)[..., :-1]], -1), -1), -1)
    others = np.moveaxis((left * right).reshape(x.shape), range(-len(axes), 0), axes)
    return g * others


def _var_forward(ctx, x, axis=None, keepdims=False):
    x = np.asarray(x, dtype=_F32)
    ctx.x, ctx.axis, ctx.keepdims = x, axis, keepdims
    ctx.mean = np.mean(x, axis=_axis_arg(axis), keepdims=True)
    out = np.mean(np.square(x - ctx.mean), axis=_axis_arg(axis), keepdims=keepdims)
    ctx.count = _max(x.size, 1) // _max(np.size(out), 1)
    return out


def _var_backward(ctx, g):
    g = _expand_reduced(g, ctx.x.shape, ctx.axis, ctx.keepdims)
    return g * _F32(2) * (ctx.x - ctx.mean) / _F32(ctx.count)


def _axis_arg(axis):
    return tuple(axis) if isinstance(axis, list) else axis


_SUM = Op("sum", _sum_forward, _sum_backward)
_MEAN = Op("mean", _mean_forward, _mean_backward)
_MAX = _extreme("max", np.max)
_MIN = _extreme("min", np.min)
_PROD = Op("prod", _prod_forward, _prod_backward)
_VAR = Op("var", _var_forward, _var_backward)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return _SUM(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return _MEAN(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    return _MAX(x, axis=axis, keepdims=keepdims, initial=initial)


amax = max


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    return _MIN(x, axis=axis, keepdims=keepdims, initial=initial)


amin = min


def prod(x, axis=None, keepdims=False, dtype=None):
    out = _PROD(x, axis=axis, keepdims=keepdims)
    return out if dtype is None else cast(out, dtype)


def var(x, axis=None, keepdims=False):
    """The biased variance (divided by the element count), as Keras computes it."""
    return _VAR(x, axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def _argext(name, fn):
    def forward(ctx, x, axis=None, keepdims=False):
        out = fn(x, axis=axis)
        if keepdims:
            out = np.expand_dims(out, tuple(range(np.ndim(x))) if axis is None else axis)
        return out.astype(np.int32)
    return Op(name, forward)


_ARGMAX = _argext("argmax", np.argmax)
_ARGMIN = _argext("argmin", np.argmin)


def argmax(x, axis=None, keepdims=False):
    return _ARGMAX(x, axis=axis, keepdims=keepdims)


def argmin(x, axis=None, keepdims=False):
    return _ARGMIN(x, axis=axis, keepdims=keepdims)


def _cumsum_forward(ctx, x, axis=None):
    ctx.shape, ctx.axis = np.shape(x), axis
    return np.cumsum(x, axis=axis, dtype=_int_result(x))


def _cumsum_backward(ctx, g):
    if ctx.axis is None:
        return np.flip(np.cumsum(np.flip(g))).reshape(ctx.shape)
    return np.flip(np.cumsum(np.flip(g, ctx.axis), axis=ctx.axis), ctx.axis)


_CUMSUM = Op("cumsum", _cumsum_forward, _cumsum_backward)


def cumsum(x, axis=None, dtype=None):
    out = _CUMSUM(x, axis=axis)
    return out if dtype is None else cast(out, dtype)


# ----------------------------------------------------------------------------
# shapes
# ----------------------------------------------------------------------------
def _shape_op(name, fn, inverse):
    """An op that only moves values around: backward(ctx, g) = inverse(ctx, g)."""
    def forward(ctx, x, **static):
        ctx.shape = np.shape(x)
        ctx.static = static
        return fn(np.asarray(x), **static)
    return Op(name, forward, inverse)


def _undo_reshape(ctx, g):
    return np.reshape(g, ctx.shape)


_RESHAPE = _shape_op("reshape", lambda x, newshape: np.reshape(x, newshape), _undo_reshape)
_EXPAND_DIMS = _shape_op("expand_dims", lambda x, axis: np.expand_dims(x, axis), _undo_reshape)
_SQUEEZE = _shape_op("squeeze", lambda x, axis: np.squeeze(x, axis), _undo_reshape)
_TRANSPOSE = _shape_op(
    "transpose", lambda x, axes: np.transpose(x, axes),
    lambda ctx, g: np.transpose(g, None if ctx.static["axes"] is None
                                else np.argsort([a % len(ctx.shape)
                                                 for a in ctx.static["axes"]])))
_BROADCAST_TO = _shape_op("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                          lambda ctx, g: unbroadcast(g, ctx.shape))
_FLIP = _shape_op("flip", lambda x, axis: np.flip(x, axis),
                  lambda ctx, g: np.flip(g, ctx.static["axis"]))
_TILE = _shape_op("tile", lambda x, repeats: np.tile(x, repeats),
                  lambda ctx, g: _untile(g, ctx.shape, ctx.static["repeats"]))


def _untile(g, shape, repeats):
    reps = tuple(np.atleast_1d(repeats))
    nd = g.ndim
    reps = (1,) * (nd - len(reps)) + reps
    padded = (1,) * (nd - len(shape)) + tuple(shape)
    split = []
    for r, s in zip(reps, padded):
        split += [r, s]
    return g.reshape(split).sum(axis=tuple(range(0, 2 * nd, 2))).reshape(shape)


def reshape(x, newshape):
    return _RESHAPE(x, newshape=tuple(newshape) if isinstance(newshape, list) else newshape)


def expand_dims(x, axis):
    return _EXPAND_DIMS(x, axis=axis)


def squeeze(x, axis=None):
    return _SQUEEZE(x, axis=axis)


def transpose(x, axes=None):
    return _TRANSPOSE(x, axes=None if axes is None else tuple(axes))


def broadcast_to(x, shape):
    return _BROADCAST_TO(x, shape=tuple(shape))


def flip(x, axis=None):
    return _FLIP(x, axis=axis)


def tile(x, repeats):
    return _TILE(x, repeats=repeats)


def swapaxes(x, axis1, axis2):
    axes = list(range(np.ndim(to_array(x))))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def _concatenate_forward(ctx, *xs, axis=0):
    ctx.sizes = [np.shape(x)[axis] for x in xs]
    ctx.axis = axis
    return np.concatenate(xs, axis=axis)


def _concatenate_backward(ctx, g):
    cuts = np.cumsum(ctx.sizes)[:-1]
    parts = np.split(g, cuts, axis=ctx.axis)
    return _per_input(parts, ctx.needs)


def _per_input(parts, needs):
    """A variadic op's input gradients: a tuple, or the one gradient of a one-input call
    (the tape's convention for single-input entries)."""
    grads = tuple(p if n else None for p, n in zip(parts, needs))
    return grads[0] if len(grads) == 1 else grads


_CONCATENATE = Op("concatenate", _concatenate_forward, _concatenate_backward)


def concatenate(xs, axis=0):
    return _CONCATENATE(*xs, axis=axis)


def _stack_forward(ctx, *xs, axis=0):
    ctx.axis = axis
    return np.stack(xs, axis=axis)


def _stack_backward(ctx, g):
    parts = np.moveaxis(g, ctx.axis, 0)
    return _per_input(parts, ctx.needs)


_STACK = Op("stack", _stack_forward, _stack_backward)


def stack(x, axis=0):
    return _STACK(*x, axis=axis)


def _split_forward(ctx, x, indices_or_sections, axis=0):
    ctx.axis = axis
    return tuple(np.split(x, indices_or_sections, axis=axis))


def _split_backward(ctx, *grads):
    return np.concatenate(grads, axis=ctx.axis)


_SPLIT = Op("split", _split_forward, _split_backward)


def split(x, indices_or_sections, axis=0):
    out = _SPLIT(x, indices_or_sections=indices_or_sections, axis=axis)
    return list(out)


def _take_forward(ctx, x, indices, axis=None):
    x = np.asarray(x)
    ctx.shape, ctx.axis, ctx.dtype = x.shape, axis, x.dtype
    ctx.indices = np.asarray(indices)
    return np.take(x, ctx.indices, axis=axis)


def _take_backward(ctx, g):
    dx = np.zeros(ctx.shape, dtype=_F32)
    if ctx.axis is None:
        np.add.at(dx.reshape(-1), ctx.indices.reshape(-1) % dx.size, g.reshape(-1))
        return dx, None
    axis = ctx.axis % len(ctx.shape)
    moved = np.moveaxis(dx, axis, 0)
    gm = np.moveaxis(g.reshape(ctx.shape[:axis] + ctx.indices.shape + ctx.shape[axis + 1:]),
                     range(axis, axis + ctx.indices.ndim), range(ctx.indices.ndim))
    np.add.at(moved, ctx.indices % ctx.shape[axis], gm)
    return dx, None


_TAKE = Op("take", _take_forward, _take_backward)


def take(x, indices, axis=None):
    return _TAKE(x, indices, axis=axis)


def _take_along_forward(ctx, x, indices, axis=None):
    x = np.asarray(x)
    ctx.shape, ctx.axis = x.shape, axis
    ctx.indices = np.asarray(indices)
    if axis is None:
        return np.take_along_axis(x.reshape(-1), ctx.indices.reshape(-1), axis=0)
    return np.take_along_axis(x, ctx.indices, axis=axis)


def _take_along_backward(ctx, g):
    dx = np.zeros(ctx.shape, dtype=_F32)
    if ctx.axis is None:
        np.add.at(dx.reshape(-1), ctx.indices.reshape(-1), g.reshape(-1))
        return dx, None
    axis = ctx.axis % len(ctx.shape)
    # the indices broadcast against x along the other axes, as the gradient's shape shows
    idx = list(np.indices(g.shape, sparse=True))
    idx[axis] = ctx.indices
    np.add.at(dx, tuple(idx), g)
    return dx, None


_TAKE_ALONG_AXIS = Op("take_along_axis", _take_along_forward, _take_along_backward)


def take_along_axis(x, indices, axis=None):
    return _TAKE_ALONG_AXIS(x, indices, axis=axis)


def _get_item_forward(ctx, x, key):
    x = np.asarray(x)
    ctx.shape, ctx.key = x.shape, key
    return x[key]


def _get_item_backward(ctx, g):
    dx = np.zeros(ctx.shape, dtype=_F32)
    np.add.at(dx, ctx.key, g)
    return dx


_GET_ITEM = Op("get_item", _get_item_forward, _get_item_backward)


def get_item(x, key):
    """``x[key]`` (basic and integer-array indexing)."""
    if isinstance(key, list):
        key = np.asarray(key)
    if isinstance(key, tuple):
        key = tuple(np.asarray(k) if isinstance(k, list) else to_array(k)
                    if hasattr(k, "shape") else k for k in key)
    elif hasattr(key, "shape"):
        key = to_array(key)
    return _GET_ITEM(x, key=key)


# ----------------------------------------------------------------------------
# conversion and creation (no gradient flows into integer or constant results)
# ----------------------------------------------------------------------------
def _cast_forward(ctx, x, dtype):
    return np.asarray(x).astype(dtype)


_CAST = Op("cast", _cast_forward, lambda ctx, g: g)


def cast(x, dtype):
    from ..engine.keras_tensor import standardize_dtype
    return _CAST(x, dtype=standardize_dtype(dtype))


def zeros(shape, dtype=None):
    return np.zeros(shape, dtype=dtype or _F32)


def ones(shape, dtype=None):
    return np.ones(shape, dtype=dtype or _F32)


def full(shape, fill_value, dtype=None):
    """``shape`` filled with ``fill_value``; float32 (Keras's floatx) unless ``dtype``."""
    return np.full(shape, to_array(fill_value), dtype=dtype or _F32)


def zeros_like(x, dtype=None):
    return np.zeros(np.shape(to_array(x)), dtype=dtype or _dtype_of(x))


def ones_like(x, dtype=None):
    return np.ones(np.shape(to_array(x)), dtype=dtype or _dtype_of(x))


def full_like(x, fill_value, dtype=None):
    return np.full(np.shape(to_array(x)), fill_value, dtype=dtype or _dtype_of(x))


def _dtype_of(x):
    a = to_array(x)
    return np.asarray(a).dtype if not isinstance(a, float) else _F32


def arange(start, stop=None, step=1, dtype=None):
    if dtype is None:
        values = [v for v in (start, stop, step) if v is not None]
        dtype = _F32 if any(isinstance(v, float) for v in values) else np.int32
    return np.arange(start, stop, step, dtype=dtype)


def eye(N, M=None, k=0, dtype=None):
    return np.eye(N, M, k, dtype=dtype or _F32)


def one_hot(x, num_classes, axis=-1, dtype=None):
    x = np.asarray(to_array(x)).astype(np.int64)
    out = (x[..., None] == np.arange(num_classes)).astype(dtype or _F32)
    return out if axis == -1 else np.moveaxis(out, -1, axis)


def shape(x):
    return tuple(np.shape(to_array(x)))


def size(x):
    return int(np.size(to_array(x)))


def ndim(x):
    return int(np.ndim(to_array(x)))

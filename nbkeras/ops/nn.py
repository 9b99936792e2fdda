"""Keras 3's neural-network ops (``keras.ops.relu``, ``softmax``, ...; also reachable
as ``keras.ops.nn.*``), each with its gradient.

The element-wise activations run on the same activation kernel the layers fuse
into their epilogues (one integer code per function), so an activation computed
through ops gives exactly the numbers a layer's ``activation=`` gives.
"""
import numpy as np

from .. import backend
from .op import Op
from .numpy import one_hot  # noqa: F401 (Keras has it in ops.nn too)

ACTIVATION_CODES = backend.codes.ACTIVATION_CODES
_F32 = np.float32
_EMPTY = np.zeros(0, dtype=_F32)


def _rows(x):
    """``x`` as a C-contiguous float32 (rows, last axis) array."""
    if not np.ndim(x):
        return np.ascontiguousarray(x, dtype=_F32).reshape(1, 1)
    x = np.ascontiguousarray(x, dtype=_F32)
    return x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1])  # (-1 fails on a 0 last axis)


def _activation_forward(ctx, x, code, alpha):
    x = np.asarray(x)
    z = _rows(x).copy()
    y = np.empty_like(z)
    backend.ops().bias_activation_forward(z, _EMPTY, code, _F32(alpha), y,
                                          backend.num_threads())
    ctx.z, ctx.y, ctx.code, ctx.alpha, ctx.shape = z, y, code, _F32(alpha), x.shape
    return y.reshape(x.shape)


def _activation_backward(ctx, g):
    dz = np.empty_like(ctx.z)
    g = np.ascontiguousarray(g, dtype=_F32).reshape(ctx.z.shape)
    backend.ops().bias_activation_backward(ctx.z, ctx.y, g, ctx.code, ctx.alpha, dz, _EMPTY,
                                           backend.num_threads())
    return dz.reshape(ctx.shape)


_ACTIVATION = Op("activation", _activation_forward, _activation_backward)


def _activation(name, alpha=0.0):
    code = ACTIVATION_CODES[name]

    def fn(x):
        return _ACTIVATION(x, code=code, alpha=alpha)
    fn.__name__ = name
    fn.__doc__ = f"The {name} activation, element-wise (with its gradient)."
    return fn


relu = _activation("relu")
sigmoid = _activation("sigmoid")
tanh = _activation("tanh")
softplus = _activation("softplus")
softsign = _activation("softsign")
silu = _activation("silu")
swish = silu
selu = _activation("selu")
hard_sigmoid = _activation("hard_sigmoid")


def elu(x, alpha=1.0):
    return _ACTIVATION(x, code=ACTIVATION_CODES["elu"], alpha=alpha)


def leaky_relu(x, negative_slope=0.2):
    return _ACTIVATION(x, code=ACTIVATION_CODES["leaky_relu"], alpha=negative_slope)


_SQRT_2_OVER_PI = _F32(np.sqrt(2.0 / np.pi))
_GELU_C = _F32(0.044715)


def _gelu_tanh_forward(ctx, x):
    x = np.asarray(x, dtype=_F32)
    inner = _SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)
    t = np.tanh(inner)
    ctx.x, ctx.t = x, t
    return _F32(0.5) * x * (_F32(1) + t)


def _gelu_tanh_backward(ctx, g):
    x, t = ctx.x, ctx.t
    d_inner = _SQRT_2_OVER_PI * (_F32(1) + _F32(3) * _GELU_C * x * x)
    return g * (_F32(0.5) * (_F32(1) + t) + _F32(0.5) * x * (_F32(1) - t * t) * d_inner)


_GELU_TANH = Op("gelu", _gelu_tanh_forward, _gelu_tanh_backward)


def gelu(x, approximate=True):
    """GELU; ``approximate=True`` (Keras's default for ``ops.gelu``) is the tanh form,
    ``False`` the exact erf form."""
    if approximate:
        return _GELU_TANH(x)
    return _ACTIVATION(x, code=ACTIVATION_CODES["gelu"], alpha=0.0)


def _last_axis_rows(x, axis):
    x = np.moveaxis(np.asarray(x, dtype=_F32), axis, -1)
    return x, _rows(x)


def _softmax_forward(ctx, x, axis=-1):
    moved, rows = _last_axis_rows(x, axis)
    y = np.empty_like(rows)
    if y.size:  # (the kernel reads each row's first element)
        backend.ops().softmax_forward(rows, y)
    ctx.y, ctx.moved_shape, ctx.axis = y, moved.shape, axis
    return np.moveaxis(y.reshape(moved.shape), -1, axis)


def _softmax_backward(ctx, g):
    gm = np.ascontiguousarray(np.moveaxis(np.asarray(g, dtype=_F32), ctx.axis, -1))
    dz = np.empty_like(ctx.y)
    if dz.size:
        backend.ops().softmax_backward(ctx.y, gm.reshape(ctx.y.shape), dz)
    return np.moveaxis(dz.reshape(ctx.moved_shape), -1, ctx.axis)


_SOFTMAX = Op("softmax", _softmax_forward, _softmax_backward)


def softmax(x, axis=-1):
    return _SOFTMAX(x, axis=axis)


def _log_softmax_forward(ctx, x, axis=-1):
    x = np.asarray(x, dtype=_F32)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    ctx.out, ctx.axis = out, axis
    return out


def _log_softmax_backward(ctx, g):
    return g - np.exp(ctx.out) * np.sum(g, axis=ctx.axis, keepdims=True)


_LOG_SOFTMAX = Op("log_softmax", _log_softmax_forward, _log_softmax_backward)


def log_softmax(x, axis=-1):
    return _LOG_SOFTMAX(x, axis=axis)


def log_sigmoid(x):
    from .numpy import negative
    return negative(softplus(negative(x)))


def relu6(x):
    from .numpy import minimum
    return minimum(relu(x), 6.0)

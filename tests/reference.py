"""Plain NumPy versions of every kernel, written to be obviously right, not fast.

Computed in float64; tests compare the float32 kernels against them. Optimizer
references live in ``reference_optimizers.py``.
"""
import math

import numpy as np
from scipy.special import erf

EPS = 1e-7


def activation(name, x, alpha=None):
    x = np.asarray(x, dtype=np.float64)
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "leaky_relu":
        return np.where(x > 0, x, (0.2 if alpha is None else alpha) * x)
    if name == "elu":
        return np.where(x > 0, x, (1.0 if alpha is None else alpha) * np.expm1(x))
    if name == "selu":
        a, s = 1.6732632423543772, 1.0507009873554805
        return s * np.where(x > 0, x, a * np.expm1(x))
    if name == "gelu":
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    if name in ("silu", "swish"):
        return x / (1 + np.exp(-x))
    if name == "softplus":
        return np.logaddexp(0, x)
    if name == "softsign":
        return x / (1 + np.abs(x))
    if name == "hard_sigmoid":
        return np.clip(x / 6 + 0.5, 0, 1)
    if name == "exponential":
        return np.exp(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise KeyError(name)


def dense(x, w, b, act="linear"):
    z = x.astype(np.float64) @ w.astype(np.float64)
    if b is not None:
        z = z + b
    return activation(act, z)


def same_padding(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def pad_nhwc(x, kh, kw, sh, sw, padding, value=0.0):
    n, h, w, c = x.shape
    if padding == "valid":
        return x.astype(np.float64), (h - kh) // sh + 1, (w - kw) // sw + 1
    oh, pt, pb = same_padding(h, kh, sh)
    ow, pl, pr = same_padding(w, kw, sw)
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)),
                constant_values=value)
    return xp, oh, ow


def conv2d(x, kernel, b, strides, padding, act="linear"):
    """Direct convolution: out[n,p,q,f] = sum_{i,j,c} x[n,p*s+i,q*s+j,c] k[i,j,c,f]."""
    kh, kw, _, f = kernel.shape
    sh, sw = strides
    xp, oh, ow = pad_nhwc(x, kh, kw, sh, sw, padding)
    out = np.zeros((x.shape[0], oh, ow, f))
    for p in range(oh):
        for q in range(ow):
            patch = xp[:, p * sh:p * sh + kh, q * sw:q * sw + kw, :]
            out[:, p, q, :] = np.tensordot(patch, kernel.astype(np.float64), axes=3)
    if b is not None:
        out += b
    return activation(act, out)


def pool2d(x, pool, strides, padding, kind):
    """Max (padding never wins) or average (over real inputs only) pooling."""
    ph, pw = pool
    sh, sw = strides
    n, h, w, c = x.shape
    if padding == "valid":
        oh, ow, pt, pl = (h - ph) // sh + 1, (w - pw) // sw + 1, 0, 0
    else:
        oh, pt, _ = same_padding(h, ph, sh)
        ow, pl, _ = same_padding(w, pw, sw)
    out = np.zeros((n, oh, ow, c))
    for p in range(oh):
        for q in range(ow):
            i0, i1 = max(p * sh - pt, 0), min(p * sh - pt + ph, h)
            j0, j1 = max(q * sw - pl, 0), min(q * sw - pl + pw, w)
            window = x[:, i0:i1, j0:j1, :].astype(np.float64)
            out[:, p, q, :] = window.max(axis=(1, 2)) if kind == "max" else window.mean(axis=(1, 2))
    return out


def categorical_crossentropy(t, p, from_logits=False):
    p = np.asarray(p, np.float64)
    if from_logits:
        logp = p - p.max(-1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    else:
        logp = np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))
    return -(t * logp).sum(-1)


def binary_crossentropy(t, p, from_logits=False):
    p = np.asarray(p, np.float64)
    if from_logits:
        return (t * np.logaddexp(0, -p) + (1 - t) * np.logaddexp(0, p)).mean(-1)
    o = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(o) + (1 - t) * np.log(1 - o)).mean(-1)


def regression(kind, t, p, delta=1.0):
    e = np.asarray(p, np.float64) - t
    if kind == "mse":
        return (e * e).mean(-1)
    if kind == "mae":
        return np.abs(e).mean(-1)
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta).mean(-1)


def numeric_grad(f, x, h=1e-3):
    """Central finite differences of scalar f at float64 array x."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def conv2d_backward(x, kernel, dz, strides, padding):
    """(dx, dkernel) of the linear convolution for an upstream gradient ``dz``."""
    kh, kw, _, _ = kernel.shape
    sh, sw = strides
    n, h, w, c = x.shape
    xp, oh, ow = pad_nhwc(x, kh, kw, sh, sw, padding)
    dxp = np.zeros_like(xp)
    dk = np.zeros(kernel.shape)
    k64 = kernel.astype(np.float64)
    for p in range(oh):
        for q in range(ow):
            patch = xp[:, p * sh:p * sh + kh, q * sw:q * sw + kw, :]
            dk += np.einsum("nijc,nf->ijcf", patch, dz[:, p, q, :])
            dxp[:, p * sh:p * sh + kh, q * sw:q * sw + kw, :] += np.einsum(
                "ijcf,nf->nijc", k64, dz[:, p, q, :])
    if padding == "same":
        _, pt, _ = same_padding(h, kh, sh)
        _, pl, _ = same_padding(w, kw, sw)
        dxp = dxp[:, pt:pt + h, pl:pl + w, :]
    return dxp, dk


def batchnorm_train(x, gamma, beta, eps):
    """Batch norm of x (rows, C) with batch statistics: (y, mean, biased var).
    ``gamma``/``beta`` None: scale 1, offset 0."""
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    var = ((x - mean) ** 2).mean(0)
    y = (x - mean) / np.sqrt(var + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y, mean, var


def batchnorm_infer(x, gamma, beta, mean, var, eps):
    """Batch norm of x (rows, C) with given (moving) statistics."""
    y = (np.asarray(x, np.float64) - mean) / np.sqrt(np.asarray(var, np.float64) + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


def batchnorm_train_backward(x, gamma, eps, dy):
    """(dx, dgamma, dbeta) of ``batchnorm_train``: with xhat = (x - mean) / std,
    dL/dxhat = dy * gamma and, through mean and var,
    dx = gamma / std * (dy - mean(dy) - xhat * mean(dy * xhat))."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    _, mean, var = batchnorm_train(x, None, None, eps)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    g = 1.0 if gamma is None else gamma
    dx = g * inv_std * (dy - dy.mean(0) - xhat * (dy * xhat).mean(0))
    return dx, (dy * xhat).sum(0), dy.sum(0)


def layernorm(x, gamma, beta, eps):
    """Layer norm of each row of x (rows, F): (y, mean, inv_std) per row."""
    x = np.asarray(x, np.float64)
    mean = x.mean(1)
    var = ((x - mean[:, None]) ** 2).mean(1)
    inv_std = 1 / np.sqrt(var + eps)
    y = (x - mean[:, None]) * inv_std[:, None]
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y, mean, inv_std


def layernorm_backward(x, gamma, eps, dy):
    """(dx, dgamma, dbeta) of ``layernorm``: per row, with g = dy * gamma,
    dx = inv_std * (g - mean_F(g) - xhat * mean_F(g * xhat))."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    _, mean, inv_std = layernorm(x, None, None, eps)
    xhat = (x - mean[:, None]) * inv_std[:, None]
    g = dy if gamma is None else dy * gamma
    dx = inv_std[:, None] * (g - g.mean(1, keepdims=True)
                             - xhat * (g * xhat).mean(1, keepdims=True))
    return dx, (dy * xhat).sum(0), dy.sum(0)

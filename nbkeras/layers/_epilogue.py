"""The activation epilogue shared by Dense, Conv2D and Activation.

Element-wise activations run inside the fused bias + activation kernel; softmax
runs after a linear epilogue, over the last axis. When the loss has already
taken the gradient through the final softmax/sigmoid (``fused_output_grad``),
the epilogue's backward is the identity. Buffers come from the call's context.
"""
import numpy as np

from .. import backend

LINEAR = backend.codes.LINEAR


def output_buffers(ctx, activation, shape):
    """(z, y, y_elementwise): the pre-activation, the output, and what the fused
    kernel writes (``z`` itself when softmax still has to run). Activations whose
    derivative needs only the output (linear, ReLU, sigmoid, tanh, exponential)
    write it over the pre-activation: one buffer, one pass less."""
    z = ctx.workspace("z", shape)
    if activation.in_place:
        return z, z, z
    y = ctx.workspace("y", shape)
    return z, y, (z if activation.is_softmax else y)


def finish_forward(activation, z, y):
    if activation.is_softmax:
        backend.ops().softmax_forward(z, y)


def pre_activation_grad(ctx, activation, y, dy):
    """(gradient to feed the fused kernel, activation code it should apply).

    The fused kernels overwrite the gradient they are given (the tape hands every
    backward a gradient of its own); a non-contiguous one is copied first."""
    if not (dy.flags.c_contiguous and dy.dtype == np.float32):
        dy = _own(ctx, dy)
    if ctx.fused_output_grad:
        return dy, LINEAR
    if activation.is_softmax:
        d = ctx.workspace("dsoftmax", y.shape)
        backend.ops().softmax_backward(y, dy, d)
        return d, LINEAR
    return dy, activation.code


def empty_like_rank(ndim):
    """A zero-size float32 array of rank ``ndim``: tells a kernel to skip an output."""
    return backend.empty((0,) * ndim)


def check_last_dim(layer, shape, expected):
    if shape[-1] != expected:
        raise ValueError(
            f"Input 0 of layer '{layer.name}' is incompatible with the layer: expected "
            f"axis -1 of input shape to have value {expected}, but received input with "
            f"shape {tuple(shape)}.")


def _own(ctx, g):
    buf = ctx.workspace("dy", g.shape)
    buf[...] = g
    return buf

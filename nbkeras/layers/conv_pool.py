"""Conv2D followed by MaxPooling2D, run as one op.

When a max pooling of non-overlapping windows (strides = pool size) is the only
reader of a convolution whose activation is non-decreasing (linear, ReLU,
sigmoid, tanh, exponential), the pair runs as one kernel pass: each block of
the convolution's output is pooled while it is in cache, so the full-size
output is never written, read back and kept for the backward pass (for the
seed CNN's first layer at batch 128: 14.7 MB, four times a step). The results
are the unfused ones exactly: bias and activation commute with the max.

Models plan their layer calls with :func:`plan_calls` (Sequential: a Conv2D and
the MaxPooling2D after it; functional: a Conv2D node whose output only one
MaxPooling2D node reads). Each fused call checks the geometry and falls back to
the two layers (their own errors included) when it does not fit.
"""
import numpy as np

from .. import backend
from ..engine import call_context
from ..engine import tape as tape_module
from ..engine.tensor import Tensor
from ._epilogue import empty_like_rank
from ._geometry import window_2d
from .conv2d import Conv2D
from .pooling import MaxPooling2D

#: the window index is kept as an int8
_MAX_WINDOW = 127


def fusable(conv, pool):
    """True when ``pool(conv(x))`` may run as one op (for inputs whose geometry fits)."""
    return (type(conv) is Conv2D and type(pool) is MaxPooling2D
            and conv.activation.in_place and not conv.activation.is_softmax
            and pool.strides == pool.pool_size
            and pool.pool_size[0] * pool.pool_size[1] <= _MAX_WINDOW)


def plan_calls(layers):
    """``layers`` (a Sequential's stack) as the calls to make: each fusable
    Conv2D + MaxPooling2D pair replaced by one :class:`ConvMaxPool`."""
    calls, i = [], 0
    while i < len(layers):
        if i + 1 < len(layers) and fusable(layers[i], layers[i + 1]):
            calls.append(ConvMaxPool(layers[i], layers[i + 1]))
            i += 2
        else:
            calls.append(layers[i])
            i += 1
    return calls


def plan_nodes(nodes, outputs):
    """A functional graph's ``nodes`` as the calls to make: (node whose arguments
    to pass, operation, node whose outputs it gives). A Conv2D node whose one
    output only a fusable MaxPooling2D node reads (and is not a model output,
    one of ``outputs``) is folded into that node's call."""
    readers = {}
    for node in nodes:
        for t in node.input_tensors:
            readers.setdefault(id(t), []).append(node)
    returned = {id(t) for t in outputs}
    conv_of = {}   # pool node -> the conv node it absorbs
    for node in nodes:
        if not node._single or len(node.output_tensors) != 1:
            continue
        out = node.output_tensors[0]
        users = readers.get(id(out), [])
        if id(out) not in returned and len(users) == 1 and users[0]._single \
                and fusable(node.operation, users[0].operation):
            conv_of[id(users[0])] = node
    absorbed = {id(node) for node in conv_of.values()}
    plan = []
    for node in nodes:
        conv = conv_of.get(id(node))
        if conv is not None:
            plan.append((conv, ConvMaxPool(conv.operation, node.operation), node))
        elif id(node) not in absorbed:
            plan.append((node, node.operation, node))
    return plan


class ConvMaxPool:
    """``pool(conv(x))`` as one op; the layers keep their weights and names."""

    def __init__(self, conv, pool):
        self.conv, self.pool = conv, pool

    def __call__(self, x):
        conv, pool = self.conv, self.pool
        if not (conv.built and fusable(conv, pool) and self._fits(x)):
            return pool(conv(x))
        return conv._fused_call(x, bool(call_context.training()), op=self)

    def _fits(self, x):
        """True for a concrete NHWC input the conv accepts whose pooled windows
        tile the conv's output from its top-left corner, without padding."""
        if not isinstance(x, (np.ndarray, Tensor)) or len(x.shape) != 4 \
                or x.shape[3] != self.conv.in_channels:
            return False
        conv, pool = self.conv, self.pool
        try:
            oh, ow, _, _ = window_2d(conv, x.shape, conv.kernel_size, conv.strides, conv.padding)
            poh, pow_, pt, pl = window_2d(pool, (x.shape[0], oh, ow, conv.filters),
                                          pool.pool_size, pool.strides, pool.padding)
        except ValueError:
            return False
        ph, pw = pool.pool_size
        return (pt == 0 and pl == 0 and 0 < poh and poh * ph <= oh
                and 0 < pow_ and pow_ * pw <= ow)

    def forward(self, ctx, inputs, training):
        conv = self.conv
        (oh, ow, pt, pl), xpad, w2, b = conv.prepare(ctx, inputs)
        ph, pw = self.pool.pool_size
        shape = (inputs.shape[0], oh // ph, ow // pw, conv.filters)
        y = ctx.workspace("y", shape)
        # where each maximum was, for the backward pass (none in inference)
        arg = ctx.workspace("arg", shape if tape_module.recording() else (0, 0, 0, 0), np.int8)
        kh, kw = conv.kernel_size
        backend.ops().conv2d_pool_forward(inputs, w2, b, kh, kw, *conv.strides, pt, pl, ph, pw,
                                          conv.activation.code, conv.activation.alpha, xpad,
                                          y, arg, backend.num_threads())
        ctx.y, ctx.arg = y, arg
        return y

    def backward(self, ctx, grad_output):
        conv = self.conv
        oh, ow, pt, pl = ctx.geometry
        kh, kw = conv.kernel_size
        dy = np.ascontiguousarray(grad_output, dtype=np.float32)
        dx = ctx.workspace("dx", ctx.in_shape) if ctx.needs_input_grad else empty_like_rank(4)
        db = ctx.param_grad(conv.bias) if conv.use_bias else empty_like_rank(1)
        backend.ops().conv2d_pool_backward(
            conv.kernel.value.reshape(-1, conv.filters), ctx.source, ctx.y, ctx.arg, dy,
            kh, kw, *conv.strides, pt, pl, oh, ow, *self.pool.pool_size,
            conv.activation.code, conv.activation.alpha,
            ctx.param_grad(conv.kernel).reshape(-1, conv.filters), db, dx,
            backend.num_threads())
        return dx if ctx.needs_input_grad else None

"""Max/average pooling 2-D and their global versions (NHWC)."""
import numpy as np

from .. import backend
from ._geometry import pair, normalize_padding, window_2d
from .layer import Layer


class _Pooling2D(Layer):
    """Shared constructor and geometry; subclasses pick max or average."""
    _config_keys = ("pool_size", "padding", "strides", "data_format")
    _built_at_init = True

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__} '{self.name}': only "
                             f"data_format='channels_last' is supported, received {data_format!r}.")
        self.pool_size = pair(pool_size, "pool_size", self.name)
        self.strides = pair(strides if strides is not None else self.pool_size,
                            "strides", self.name)
        self.padding = normalize_padding(padding, self.name)
        self.data_format = "channels_last"

    def compute_output_shape(self, input_shape):
        oh, ow, _, _ = window_2d(self, input_shape, self.pool_size, self.strides, self.padding)
        return (input_shape[0], oh, ow, input_shape[3])

    def _prepare(self, ctx, inputs):
        oh, ow, pt, pl = window_2d(self, inputs.shape, self.pool_size, self.strides, self.padding)
        ctx.pads, ctx.in_shape = (pt, pl), inputs.shape
        return ctx.workspace("y", (inputs.shape[0], oh, ow, inputs.shape[3])), pt, pl


class MaxPooling2D(_Pooling2D):
    def forward(self, ctx, inputs, training):
        y, pt, pl = self._prepare(ctx, inputs)
        backend.ops().maxpool2d_forward(inputs, *self.pool_size, *self.strides, pt, pl, y)
        ctx.x, ctx.y = inputs, y
        return y

    def backward(self, ctx, grad_output):
        dx = ctx.workspace("dx", ctx.in_shape)
        backend.ops().maxpool2d_backward(ctx.x, ctx.y, _contiguous(grad_output),
                                         *self.pool_size, *self.strides, *ctx.pads, dx)
        return dx


class AveragePooling2D(_Pooling2D):
    def forward(self, ctx, inputs, training):
        y, pt, pl = self._prepare(ctx, inputs)
        backend.ops().avgpool2d_forward(inputs, *self.pool_size, *self.strides, pt, pl, y)
        return y

    def backward(self, ctx, grad_output):
        dx = ctx.workspace("dx", ctx.in_shape)
        backend.ops().avgpool2d_backward(_contiguous(grad_output), *self.pool_size,
                                         *self.strides, *ctx.pads, dx)
        return dx


class _GlobalPooling2D(Layer):
    _config_keys = ("data_format", "keepdims")
    _built_at_init = True

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__} '{self.name}': only "
                             f"data_format='channels_last' is supported.")
        self.data_format = "channels_last"
        self.keepdims = keepdims

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            window_2d(self, input_shape, (1, 1), (1, 1), "valid")
        n, c = input_shape[0], input_shape[3]
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def _prepare(self, ctx, inputs):
        if inputs.ndim != 4:
            window_2d(self, inputs.shape, (1, 1), (1, 1), "valid")
        ctx.in_shape = inputs.shape
        return ctx.workspace("y", (inputs.shape[0], inputs.shape[3]))

    def _out(self, y):
        return y.reshape(y.shape[0], 1, 1, y.shape[1]) if self.keepdims else y


class GlobalAveragePooling2D(_GlobalPooling2D):
    def forward(self, ctx, inputs, training):
        y = self._prepare(ctx, inputs)
        backend.ops().global_avgpool2d_forward(inputs, y)
        return self._out(y)

    def backward(self, ctx, grad_output):
        dx = ctx.workspace("dx", ctx.in_shape)
        backend.ops().global_avgpool2d_backward(
            _contiguous(grad_output).reshape(ctx.in_shape[0], ctx.in_shape[3]), dx)
        return dx


class GlobalMaxPooling2D(_GlobalPooling2D):
    def forward(self, ctx, inputs, training):
        y = self._prepare(ctx, inputs)
        ctx.argmax = ctx.workspace("argmax", y.shape, np.int32)
        backend.ops().global_maxpool2d_forward(inputs, y, ctx.argmax)
        return self._out(y)

    def backward(self, ctx, grad_output):
        dx = ctx.workspace("dx", ctx.in_shape)
        backend.ops().global_maxpool2d_backward(
            _contiguous(grad_output).reshape(ctx.in_shape[0], ctx.in_shape[3]), ctx.argmax, dx)
        return dx


def _contiguous(g):
    return np.ascontiguousarray(g, dtype=np.float32)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D

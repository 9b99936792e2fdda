"""Conv2D: NHWC, kernel (kh, kw, in, filters), implicit GEMM with a fused epilogue."""
from .. import backend
from ..engine import tape as tape_module
from ._epilogue import (output_buffers, finish_forward, pre_activation_grad,
                        empty_like_rank, check_last_dim)
from ._geometry import pair, normalize_padding, window_2d
from ._kernel_options import set_kernel_options
from .layer import Layer


class Conv2D(Layer):
    _config_keys = ("filters", "kernel_size", "strides", "padding", "data_format",
                    "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer",
                    "bias_initializer", "kernel_regularizer", "bias_regularizer",
                    "activity_regularizer", "kernel_constraint", "bias_constraint")

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"Conv2D '{self.name}': `filters` must be a positive integer, "
                             f"received {filters!r}.")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Conv2D '{self.name}': only data_format='channels_last' "
                             f"(NHWC) is supported, received {data_format!r}.")
        if pair(dilation_rate, "dilation_rate", self.name) != (1, 1) or groups != 1:
            raise NotImplementedError(
                f"Conv2D '{self.name}': dilation_rate != 1 and groups != 1 are not supported yet.")
        self.filters = filters
        self.kernel_size = pair(kernel_size, "kernel_size", self.name)
        self.strides = pair(strides, "strides", self.name)
        self.padding = normalize_padding(padding, self.name)
        self.data_format, self.dilation_rate, self.groups = "channels_last", (1, 1), 1
        set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer,
                           kernel_regularizer=kernel_regularizer,
                           bias_regularizer=bias_regularizer,
                           activity_regularizer=activity_regularizer,
                           kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint)

    def build(self, input_shape):
        if len(input_shape) != 4:
            window_2d(self, input_shape, self.kernel_size, self.strides, self.padding)
        self.in_channels = int(input_shape[-1])
        kh, kw = self.kernel_size
        self.kernel = self.add_weight(shape=(kh, kw, self.in_channels, self.filters),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = (self.add_weight(shape=(self.filters,), initializer=self.bias_initializer,
                                     name="bias") if self.use_bias else None)
        self.built = True

    def compute_output_shape(self, input_shape):
        oh, ow, _, _ = window_2d(self, input_shape, self.kernel_size, self.strides, self.padding)
        return (input_shape[0], oh, ow, self.filters)

    def prepare(self, ctx, inputs):
        """Check ``inputs`` and take the forward's operands: (geometry (oh, ow,
        pad_top, pad_left), xpad (empty when the patches read the input itself),
        w2, b). Saves on ``ctx`` what the backward reads. Shared with the fused
        convolution + pooling (``conv_pool.py``)."""
        geometry = window_2d(self, inputs.shape, self.kernel_size, self.strides, self.padding)
        check_last_dim(self, inputs.shape, self.in_channels)
        oh, ow, pt, pl = geometry
        n = inputs.shape[0]
        kh, kw = self.kernel_size
        # the region the patches read: the input itself, or a zero-bordered copy
        hp = (oh - 1) * self.strides[0] + kh
        wp = (ow - 1) * self.strides[1] + kw
        padded = pt > 0 or pl > 0 or hp > inputs.shape[1] or wp > inputs.shape[2]
        xpad = ctx.workspace("xpad", (n, hp, wp, self.in_channels) if padded
                              else (0, 0, 0, self.in_channels))
        ctx.source = xpad if padded else inputs
        ctx.in_shape, ctx.geometry = inputs.shape, geometry
        w2 = self.kernel.value.reshape(-1, self.filters)
        b = self.bias.value if self.use_bias else empty_like_rank(1)
        return geometry, xpad, w2, b

    def forward(self, ctx, inputs, training):
        (oh, ow, pt, pl), xpad, w2, b = self.prepare(ctx, inputs)
        n = inputs.shape[0]
        kh, kw = self.kernel_size
        z, y, y_kernel = output_buffers(ctx, self.activation, (n * oh * ow, self.filters))
        backend.ops().conv2d_forward(inputs, w2, b, kh, kw, self.strides[0], self.strides[1],
                                     pt, pl, oh, ow, self.activation.code,
                                     self.activation.alpha, xpad, z, y_kernel,
                                     backend.num_threads(), tape_module.recording())
        finish_forward(self.activation, z, y)
        ctx.z, ctx.y = z, y
        return y.reshape(n, oh, ow, self.filters)

    def backward(self, ctx, grad_output):
        oh, ow, pt, pl = ctx.geometry
        kh, kw = self.kernel_size
        dy, code = pre_activation_grad(ctx, self.activation, ctx.y,
                                       grad_output.reshape(ctx.z.shape))
        dx = ctx.workspace("dx", ctx.in_shape) if ctx.needs_input_grad else empty_like_rank(4)
        db = ctx.param_grad(self.bias) if self.use_bias else empty_like_rank(1)
        backend.ops().conv2d_backward(
            self.kernel.value.reshape(-1, self.filters), ctx.source, ctx.z, ctx.y, dy,
            kh, kw, self.strides[0], self.strides[1], pt, pl, oh, ow, code,
            self.activation.alpha, dy, ctx.param_grad(self.kernel).reshape(-1, self.filters),
            db, dx, backend.num_threads())
        return dx if ctx.needs_input_grad else None

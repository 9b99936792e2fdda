"""Dense: y = activation(x @ kernel + bias) over the last axis; kernel (in, units)."""
import numpy as np

from .. import backend
from ._epilogue import (output_buffers, finish_forward, pre_activation_grad,
                        empty_like_rank, check_last_dim)
from ._kernel_options import set_kernel_options
from .layer import Layer


class Dense(Layer):
    _config_keys = ("units", "activation", "use_bias", "kernel_initializer",
                    "bias_initializer", "kernel_regularizer", "bias_regularizer",
                    "kernel_constraint", "bias_constraint", "quantization_config")

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        self._reject_unsupported(lora_rank=lora_rank, lora_alpha=lora_alpha)
        self._keep_unsupported(quantization_config=quantization_config)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense '{self.name}': `units` must be a positive integer, "
                             f"received units={units!r}.")
        self.units = int(units)
        set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer,
                           kernel_regularizer=kernel_regularizer,
                           bias_regularizer=bias_regularizer,
                           activity_regularizer=activity_regularizer,
                           kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense '{self.name}' needs a known last input dimension, "
                             f"received input shape {tuple(input_shape)}.")
        self.input_dim = int(input_shape[-1])
        self.kernel = self.add_weight(shape=(self.input_dim, self.units),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = (self.add_weight(shape=(self.units,), initializer=self.bias_initializer,
                                     name="bias") if self.use_bias else None)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, ctx, inputs, training):
        check_last_dim(self, inputs.shape, self.input_dim)
        x = inputs.reshape(-1, self.input_dim)
        z, y, y_kernel = output_buffers(ctx, self.activation, (x.shape[0], self.units))
        b = self.bias.value if self.use_bias else empty_like_rank(1)
        backend.ops().dense_forward(x, self.kernel.value, b, self.activation.code,
                                    self.activation.alpha, z, y_kernel,
                                    backend.num_threads())
        finish_forward(self.activation, z, y)
        ctx.x, ctx.z, ctx.y, ctx.in_shape = x, z, y, inputs.shape
        return y.reshape(inputs.shape[:-1] + (self.units,))

    def backward(self, ctx, grad_output):
        dy, code = pre_activation_grad(ctx, self.activation, ctx.y,
                                       grad_output.reshape(ctx.z.shape))
        dx = ctx.workspace("dx", ctx.x.shape) if ctx.needs_input_grad else empty_like_rank(2)
        db = ctx.param_grad(self.bias) if self.use_bias else empty_like_rank(1)
        backend.ops().dense_backward(ctx.x, self.kernel.value, ctx.z, ctx.y, dy, code,
                                     self.activation.alpha, dy, ctx.param_grad(self.kernel),
                                     db, dx, backend.num_threads())
        return dx.reshape(ctx.in_shape) if ctx.needs_input_grad else None

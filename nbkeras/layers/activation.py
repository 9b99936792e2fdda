"""Activation layer: applies an activation to its input (softmax over the last axis)."""
from .. import activations, backend
from ._epilogue import output_buffers, finish_forward, pre_activation_grad, empty_like_rank
from .layer import Layer


class Activation(Layer):
    _config_keys = ("activation",)
    _built_at_init = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, ctx, inputs, training):
        ctx.in_shape = inputs.shape
        x = inputs.reshape(-1, inputs.shape[-1] if inputs.ndim else 1)
        z, y, y_kernel = output_buffers(ctx, self.activation, x.shape)
        z[...] = x
        backend.ops().bias_activation_forward(z, empty_like_rank(1), self.activation.code,
                                              self.activation.alpha, y_kernel,
                                              backend.num_threads())
        finish_forward(self.activation, z, y)
        ctx.z, ctx.y = z, y
        return y.reshape(inputs.shape)

    def backward(self, ctx, grad_output):
        dy, code = pre_activation_grad(ctx, self.activation, ctx.y,
                                       grad_output.reshape(ctx.z.shape))
        dx = ctx.workspace("dx", ctx.z.shape)
        backend.ops().bias_activation_backward(ctx.z, ctx.y, dy, code,
                                               self.activation.alpha, dx, empty_like_rank(1),
                                               backend.num_threads())
        return dx.reshape(ctx.in_shape)

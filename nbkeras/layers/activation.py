"""Activation layer: applies an activation to its input (softmax over the last axis)."""
from .. import activations, backend
from ._epilogue import output_buffers, finish_forward, pre_activation_grad, empty_like_rank
from .layer import Layer


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs, training=False):
        self._in_shape = inputs.shape
        x = inputs.reshape(-1, inputs.shape[-1])
        z, y, y_kernel = output_buffers(self, self.activation, x.shape)
        z[...] = x
        backend.ops().bias_activation_forward(z, empty_like_rank(1), self.activation.code,
                                              self.activation.alpha, y_kernel,
                                              backend.num_threads())
        finish_forward(self.activation, z, y)
        self._z, self._y = z, y
        return y.reshape(inputs.shape)

    def backward(self, grad_output):
        dy, code = pre_activation_grad(self, self.activation, self._y,
                                       grad_output.reshape(self._z.shape))
        dx = self.workspace("dx", self._z.shape)
        backend.ops().bias_activation_backward(self._z, self._y, dy, code,
                                               self.activation.alpha, dx, empty_like_rank(1),
                                               backend.num_threads())
        return dx.reshape(self._in_shape)

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation.name
        return config

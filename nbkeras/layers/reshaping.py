"""Flatten and Reshape: views of the same data, so forward and backward are free."""
import numpy as np

from .layer import Layer


class Flatten(Layer):
    _config_keys = ("data_format",)

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))

    def forward(self, ctx, inputs, training):
        ctx.in_shape = inputs.shape
        return inputs.reshape(inputs.shape[0], -1)

    def backward(self, ctx, grad_output):
        return grad_output.reshape(ctx.in_shape)


class Reshape(Layer):
    _config_keys = ("target_shape",)
    _built_at_init = True

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def _resolve(self, per_sample_shape):
        size = int(np.prod(per_sample_shape))
        target = list(self.target_shape)
        if target.count(-1) > 1:
            raise ValueError(f"Reshape '{self.name}': at most one -1 in target_shape, "
                             f"received {self.target_shape}.")
        known = int(np.prod([d for d in target if d != -1]))
        if -1 in target:
            if known == 0 or size % known:
                raise ValueError(self._mismatch(per_sample_shape))
            target[target.index(-1)] = size // known
        elif known != size:
            raise ValueError(self._mismatch(per_sample_shape))
        return tuple(target)

    def _mismatch(self, per_sample_shape):
        return (f"Reshape '{self.name}': cannot reshape an input of per-sample shape "
                f"{tuple(per_sample_shape)} ({int(np.prod(per_sample_shape))} values) "
                f"into target_shape {self.target_shape}.")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape[1:])

    def forward(self, ctx, inputs, training):
        ctx.in_shape = inputs.shape
        return inputs.reshape((inputs.shape[0],) + self._resolve(inputs.shape[1:]))

    def backward(self, ctx, grad_output):
        return grad_output.reshape(ctx.in_shape)

"""Dropout: zero a fraction ``rate`` of inputs while training, scaling the rest by
1 / (1 - rate) (inverted dropout) so inference is the identity."""
import numpy as np

from .. import random as nb_random
from .layer import Layer


class Dropout(Layer):
    _config_keys = ("rate", "seed", "noise_shape")
    _built_at_init = True
    _keras_call_kwargs = {"training": False}

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout '{self.name}': `rate` must be in [0, 1), "
                             f"received rate={rate!r}.")
        if noise_shape is not None:
            raise NotImplementedError(f"Dropout '{self.name}': `noise_shape` is not supported yet.")
        self.rate = float(rate)
        self.seed = seed
        self.noise_shape = None
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def forward(self, ctx, inputs, training):
        if not training or self.rate == 0:
            ctx.mask = None
            return inputs
        rng = self._rng or nb_random.generator()
        keep = rng.random(inputs.shape, dtype=np.float32) >= np.float32(self.rate)
        mask = ctx.workspace("mask", inputs.shape)
        np.multiply(keep, np.float32(1.0 / (1.0 - self.rate)), out=mask)
        y = ctx.workspace("y", inputs.shape)
        np.multiply(inputs, mask, out=y)
        ctx.mask = mask
        return y

    def backward(self, ctx, grad_output):
        if ctx.mask is None:
            return grad_output
        dx = ctx.workspace("dx", grad_output.shape)
        np.multiply(grad_output, ctx.mask, out=dx)
        return dx

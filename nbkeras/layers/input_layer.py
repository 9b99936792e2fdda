"""Symbolic tensors and the Input layer: what the functional graph is made of."""
import numpy as np

from .layer import Layer


class KerasTensor:
    """A symbolic tensor: a shape (batch dimension None) and the layer that made it."""

    def __init__(self, shape, producer=None, inbound=()):
        self.shape = tuple(shape)
        self.producer = producer
        self.inbound = list(inbound)
        self.dtype = "float32"

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        who = self.producer.name if self.producer is not None else "?"
        return f"<KerasTensor shape={self.shape}, name={who}>"


class InputLayer(Layer):
    """The placeholder a model's data enters through."""

    def __init__(self, shape=None, batch_size=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if shape is None and self._declared_input_shape is not None:
            shape = self._declared_input_shape
        if shape is None:
            raise ValueError("InputLayer needs a `shape`, e.g. Input(shape=(32, 32, 3)).")
        if isinstance(shape, int):
            shape = (shape,)
        if isinstance(shape, str) or not all(
                d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                              and d > 0) for d in shape):
            raise ValueError(f"Input `shape` must be a tuple of positive ints (or None), "
                             f"e.g. shape=(32, 32, 3); received shape={shape!r}.")
        self.batch_shape = (batch_size,) + tuple(shape)
        self.built = True
        self.output = KerasTensor(self.batch_shape, producer=self)
        self.output_shape = self.batch_shape

    def call(self, inputs, training=False):
        return inputs

    def backward(self, grad_output):
        return grad_output

    def get_config(self):
        return {"name": self.name, "batch_shape": self.batch_shape, "dtype": "float32"}


def Input(shape=None, batch_size=None, name=None, dtype=None):
    """A symbolic input of per-sample ``shape`` (Keras's ``keras.Input``)."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name).output

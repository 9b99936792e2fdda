"""The Input layer: where a functional model's data enters (``keras.Input``)."""
import numpy as np

from ..engine.keras_tensor import KerasTensor, standardize_dtype
from ..engine.node import Node
from .layer import Layer


class InputLayer(Layer):
    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, ragged=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if sparse or ragged:
            raise NotImplementedError(f"InputLayer '{self.name}': sparse and ragged inputs "
                                      f"are not supported.")
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
            shape, batch_size = batch_shape[1:], batch_shape[0]
        if shape is None and self._declared_input_shape is not None:
            shape = self._declared_input_shape
        if shape is None:
            raise ValueError("InputLayer needs a `shape`, e.g. Input(shape=(32, 32, 3)).")
        if isinstance(shape, (int, np.integer)):
            shape = (shape,)
        if isinstance(shape, str) or not all(
                d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                              and d > 0) for d in shape):
            raise ValueError(f"Input `shape` must be a tuple of positive ints (or None), "
                             f"e.g. shape=(32, 32, 3); received shape={shape!r}.")
        self.batch_shape = (batch_size,) + tuple(None if d is None else int(d) for d in shape)
        self._dtype = standardize_dtype(dtype)
        self.optional = optional
        self.built = True
        output = KerasTensor(self.batch_shape, self._dtype, name=self.name)
        Node(self, (), {}, output)

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self._dtype, "sparse": False,
                "ragged": False, "name": self.name, "optional": self.optional}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """A symbolic input of per-sample ``shape`` (Keras's ``keras.Input``); ``dtype``
    is kept, so integer ids stay integers."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name, optional=optional)
    return layer.output

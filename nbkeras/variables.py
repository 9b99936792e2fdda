"""Variable: a named weight (float32 unless told otherwise), Keras's ``keras.Variable``.

Layers read ``variable.value`` at every call, never caching the array, so a
model can rebind every trainable variable to a view of one contiguous buffer
(the parameter arena; its gradient to a view of a second one) without the layers
noticing. Operators and slicing go through ``nbkeras.ops``, so a variable used
in a custom layer's ``call`` is differentiated like any op input.
"""
import numpy as np

from .engine.keras_tensor import standardize_dtype
from .engine.operators import TensorOperators
from .utils import naming


class Variable(TensorOperators):
    _nbkeras_variable = True

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, autocast=True,
                 aggregation="none", synchronization="auto", name=None, path=None):
        if callable(initializer) or isinstance(initializer, str):
            from . import initializers
            if shape is None:
                raise ValueError(f"Variable '{name}': an initializer needs a `shape`.")
            value = initializers.get(initializer)(tuple(shape), dtype=standardize_dtype(dtype))
        else:
            value = initializer
        value = np.asarray(value)
        if dtype is None:
            dtype = "float32" if value.dtype.kind == "f" else value.dtype
        value = np.array(value, dtype=standardize_dtype(dtype), order="C")  # 0-d stays 0-d
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise ValueError(f"Variable '{name}': initial value has shape {value.shape}, "
                             f"expected shape {tuple(shape)}.")
        self._value = value
        self.name = name or naming.unique_name("variable")
        self.path = path or self.name
        self._trainable = bool(trainable) and value.dtype.kind == "f"
        self.grad = np.zeros_like(self._value) if self._trainable else None
        self._arena = None

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value) and self._value.dtype.kind == "f"
        if value and self.grad is None:
            self.grad = np.zeros_like(self._value)
        self._trainable = value

    @property
    def value(self):
        return self._value

    @property
    def shape(self):
        return self._value.shape

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def dtype(self):
        return self._value.dtype.name

    @property
    def size(self):
        return self._value.size

    def numpy(self):
        """A copy of the current value."""
        return self._value.copy()

    def assign(self, value):
        """Write ``value`` in place (keeps arena views valid); shapes must match."""
        value = np.asarray(getattr(value, "value", value))
        if value.shape != self._value.shape:
            raise ValueError(
                f"Cannot assign to variable '{self.path}': expected shape "
                f"{self._value.shape}, received {value.shape}.")
        self._value[...] = value
        return self

    def assign_add(self, value):
        self._value += np.asarray(getattr(value, "value", value), dtype=self._value.dtype)
        return self

    def assign_sub(self, value):
        self._value -= np.asarray(getattr(value, "value", value), dtype=self._value.dtype)
        return self

    def rebind(self, value_view, grad_view, arena=None):
        """Move storage to the given views (the model's arena), keeping the value."""
        value_view[...] = self._value
        self._value = value_view
        if grad_view is not None:
            grad_view[...] = 0.0
            self.grad = grad_view
        self._arena = arena

    def __array__(self, dtype=None, copy=None):
        return self._value if dtype is None else self._value.astype(dtype)

    def __len__(self):
        return len(self._value)

    def __float__(self):
        return float(self._value)

    def __int__(self):
        return int(self._value)

    def __bool__(self):
        return bool(self._value)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"

"""Variable: a named float32 weight whose storage may move into a parameter arena.

Layers read ``variable.value`` at every call, never caching the array, so a
model can rebind every trainable variable to a view of one contiguous buffer
(and its gradient to a view of a second one) without the layers noticing.
"""
import numpy as np


class Variable:
    def __init__(self, value, name, trainable=True, path=None):
        self._value = np.ascontiguousarray(value, dtype=np.float32)
        self.grad = np.zeros_like(self._value) if trainable else None
        self.name = name
        self.path = path or name
        self.trainable = trainable

    @property
    def value(self):
        return self._value

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return "float32"

    @property
    def size(self):
        return self._value.size

    def numpy(self):
        """A copy of the current value."""
        return self._value.copy()

    def assign(self, value):
        """Write ``value`` in place (keeps arena views valid); shapes must match."""
        value = np.asarray(value)
        if value.shape != self._value.shape:
            raise ValueError(
                f"Cannot assign to variable '{self.path}': expected shape "
                f"{self._value.shape}, received {value.shape}.")
        self._value[...] = value

    def rebind(self, value_view, grad_view):
        """Move storage to the given views (the model's arena), keeping the value."""
        value_view[...] = self._value
        self._value = value_view
        if grad_view is not None:
            grad_view[...] = 0.0
            self.grad = grad_view

    def __array__(self, dtype=None, copy=None):
        return self._value if dtype is None else self._value.astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype=float32>"

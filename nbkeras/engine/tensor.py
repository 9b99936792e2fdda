"""Tensor: an eager value computed while a tape records, with the entry that made it.

Outside a recording tape everything is a plain NumPy array; under one, an op or
layer whose inputs need a gradient returns a Tensor so the tape can find the
entry that produced it when it walks back. ``value`` is the array.
"""
import numpy as np

from ..variables import Variable
from .operators import TensorOperators


class Tensor(TensorOperators):
    __slots__ = ("value", "entry", "requires_grad", "uses", "__weakref__")

    def __init__(self, value, entry=None, requires_grad=True):
        self.value = value
        self.entry = entry
        self.requires_grad = requires_grad
        self.uses = 0  # how many recorded calls consume it

    @property
    def shape(self):
        return self.value.shape

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def dtype(self):
        return self.value.dtype.name

    @property
    def size(self):
        return self.value.size

    def numpy(self):
        return np.array(self.value)

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __len__(self):
        return len(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __bool__(self):
        return bool(self.value)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        return f"<Tensor shape={self.shape}, dtype={self.dtype}>\n{self.value!r}"


def value_of(x):
    """The array behind a Tensor or Variable; anything else unchanged."""
    if isinstance(x, (Tensor, Variable)):
        return x.value
    return x

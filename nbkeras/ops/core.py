"""Keras 3's core ops: conversion between tensors and arrays, stopping gradients."""
import numpy as np

from ..engine.keras_tensor import KerasTensor, standardize_dtype
from ..engine.tensor import Tensor
from .op import to_array


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """A tensor of ``x``: an array (float64 data becomes float32, as Keras's floatx);
    tensors on a tape and symbolic tensors are returned as they are."""
    if isinstance(x, (Tensor, KerasTensor)) and dtype is None:
        return x
    a = np.asarray(to_array(x))
    if dtype is not None:
        a = a.astype(standardize_dtype(dtype))
    elif a.dtype == np.float64:
        a = a.astype(np.float32)
    elif a.dtype == np.int64 and isinstance(x, (int, list, tuple)):
        a = a.astype(np.int32)  # Python ints: Keras's int32
    return a


def convert_to_numpy(x):
    """A NumPy array of ``x``'s current value."""
    return np.array(to_array(x))


def stop_gradient(variable):
    """The value of ``variable`` with no gradient flowing back through it."""
    return np.asarray(to_array(variable))


def is_tensor(x):
    return isinstance(x, (np.ndarray, Tensor, KerasTensor))


def dtype(x):
    return standardize_dtype(np.asarray(to_array(x)).dtype)

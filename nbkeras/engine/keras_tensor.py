"""KerasTensor: a symbolic tensor of the functional API (shape, dtype, history).

``_keras_history = (operation, node_index, tensor_index)`` names the call event
that made it (``operation._inbound_nodes[node_index]``) and which of that
call's outputs it is, as in Keras; a model input's history points at its
InputLayer's node. Operators on a KerasTensor add graph nodes (``x + 1``).
"""
import numpy as np

from .operators import TensorOperators


def standardize_dtype(dtype):
    """A dtype name (``"float32"``, ``"int64"``, ...) from a name, NumPy dtype or None."""
    if dtype is None:
        return "float32"
    return np.dtype(dtype).name


class KerasTensor(TensorOperators):
    def __init__(self, shape, dtype="float32", name=None, history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = standardize_dtype(dtype)
        if name is None:
            from ..utils import naming
            name = naming.unique_name("keras_tensor")
        self.name = name
        self._keras_history = history

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def node(self):
        """The call node that produced this tensor (None for a bare tensor)."""
        if self._keras_history is None:
            return None
        operation, node_index, _ = self._keras_history
        return operation._inbound_nodes[node_index]

    def __len__(self):
        raise TypeError("A symbolic KerasTensor has no length; use `tensor.shape`.")

    def __bool__(self):
        raise TypeError("A symbolic KerasTensor cannot be used as a Python bool (it has no "
                        "value until the model runs).")

    def __iter__(self):
        raise TypeError("A symbolic KerasTensor cannot be iterated over.")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"A symbolic KerasTensor {self!r} cannot be converted to a NumPy array: it is "
            f"a placeholder of the functional API. Use nbkeras.ops on it (or call a layer) "
            f"inside the model instead.")

    def __repr__(self):
        who = self._keras_history[0].name if self._keras_history else self.name
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={who}>"


def is_symbolic(structure):
    """True when any leaf of ``structure`` (lists, tuples, dicts) is a KerasTensor."""
    if isinstance(structure, KerasTensor):
        return True
    if isinstance(structure, (list, tuple)):
        return any(is_symbolic(v) for v in structure)
    if isinstance(structure, dict):
        return any(is_symbolic(v) for v in structure.values())
    return False

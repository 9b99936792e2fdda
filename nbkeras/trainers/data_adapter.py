"""Arrays, lists and dicts of arrays for fit / evaluate / predict, batched.

Data is checked once, up front, with errors that name the model and show the
expected and actual shapes; dicts are matched to the model's input and output
names (an unknown name is an error listing the valid ones). Batches are then
gathered one at a time and converted as the model's inputs declare them
(float data to float32, integer ids kept as integers), so a float64 or uint8
dataset is never copied whole.
"""
import numpy as np

from .. import tree


def as_array(x, what):
    """One numeric NumPy array from ``x``, or a clear ValueError."""
    try:
        arr = np.asarray(getattr(x, "value", x))
    except ValueError as e:
        raise ValueError(f"`{what}` could not be converted to one numeric array "
                         f"(received a {type(x).__name__}): {e}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise ValueError(f"`{what}` must hold numbers, received an array of dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"`{what}` must hold real numbers, received an array of dtype "
                         f"{arr.dtype}.")
    if arr.ndim == 0:
        raise ValueError(f"`{what}` must be an array of samples, received a scalar.")
    return arr


def unknown_and_missing(keys, names):
    """(keys that are not among ``names``, sorted; names with no key, in order)."""
    return sorted(set(keys) - set(names)), [n for n in names if n not in keys]


def _is_array_like(e):
    return hasattr(e, "__array__") and not np.isscalar(e)


def _structure(x, what, names, kind, model_name):
    """``x`` checked against the model's ``names`` (its inputs or outputs, when it has
    them): a dict by name, a list in order, or one array; leaves become arrays and a
    one-element list for a one-input model becomes its array."""
    if x is None:
        return None
    if isinstance(x, dict):
        if names is not None:
            unknown, missing = unknown_and_missing(x, names)
            if unknown:
                raise ValueError(f"`{what}` has key(s) {unknown} that match no {kind} of "
                                 f"model '{model_name}'; its {kind} are {names}.")
            if missing:
                raise ValueError(f"`{what}` has no data for the {kind} {missing} of model "
                                 f"'{model_name}'; its {kind} are {names}.")
        return {k: as_array(v, f"{what}['{k}']") for k, v in x.items()}
    several = names is not None and len(names) > 1
    if isinstance(x, (list, tuple)) and x and all(_is_array_like(e) for e in x):
        if several or (names is None and len(x) > 1):
            if several and len(x) != len(names):
                raise ValueError(f"Model '{model_name}' has {len(names)} {kind} {names}, but "
                                 f"`{what}` is a list of {len(x)} arrays.")
            return [as_array(e, f"{what}[{i}]") for i, e in enumerate(x)]
        if names is not None and len(x) != len(names):
            raise ValueError(f"Model '{model_name}' expects {len(names)} input(s) {names}, but "
                             f"`{what}` is a list of {len(x)} arrays." if kind == "inputs" else
                             f"Model '{model_name}' has {len(names)} output(s) {names}, but "
                             f"`{what}` is a list of {len(x)} arrays.")
        if len(x) == 1:
            x = x[0]
    if several:
        raise ValueError(f"Model '{model_name}' has {len(names)} {kind} {names}; pass `{what}` "
                         f"as a list or a dict with one array for each.")
    return as_array(x, what)


def _leaf_dtypes(x, names, dtypes):
    """The dtype each leaf of ``x`` (in flatten order) is fed to the model as."""
    if dtypes is None:
        return None
    if isinstance(x, dict):
        by_name = dict(zip(names, dtypes))
        return [by_name[k] for k in sorted(x)]
    return list(dtypes)


class ArrayData:
    """The samples of (x, y) for one call of fit, evaluate or predict."""

    def __init__(self, model, x, y=None, what="fit"):
        input_names = model._data_input_names()
        output_names = model._data_output_names()
        self.model = model
        self.x = (_structure(x, "x", input_names, "inputs", model.name) if x is not None
                  else as_array(x, "x"))
        self.y = _structure(y, "y", output_names, "outputs", model.name)
        self._input_dtypes = _leaf_dtypes(self.x, input_names, model._data_input_dtypes())
        self.n = self._check_lengths()
        if self.n == 0 and what != "predict":
            shapes = [np.shape(v) for v in tree.flatten(self.x)]
            raise ValueError(f"{what}() received no samples: `x` has shape "
                             f"{shapes[0] if len(shapes) == 1 else shapes}. Pass at least one "
                             f"sample.")
        model._check_data_shapes(tree.flatten(self.x))
        self._buffers = {}

    def _check_lengths(self):
        sizes = {}
        for name, part in (("x", self.x), ("y", self.y)):
            for i, leaf in enumerate(tree.flatten(part) if part is not None else []):
                sizes[f"{name} sizes" if len(tree.flatten(part)) == 1 else f"{name}[{i}] size"] \
                    = len(leaf)
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{k}: {v}" for k, v in sizes.items())
            raise ValueError(f"Data cardinality is ambiguous: {detail}. Make sure all arrays "
                             f"contain the same number of samples.")
        return next(iter(sizes.values()))

    def split(self, fraction):
        """Keras's validation_split: the LAST ``fraction`` of samples, before shuffling."""
        if not 0 < fraction < 1:
            raise ValueError(f"`validation_split` must be in (0, 1), received {fraction}.")
        cut = int(self.n * (1.0 - fraction))
        if cut == 0 or cut == self.n:
            raise ValueError(f"validation_split={fraction} leaves no training or no "
                             f"validation samples out of {self.n}.")
        return self._subset(slice(0, cut)), self._subset(slice(cut, None))

    def _subset(self, idx):
        part = object.__new__(ArrayData)
        part.__dict__.update(self.__dict__)
        part.x = tree.map_structure(lambda a: a[idx], self.x)
        part.y = None if self.y is None else tree.map_structure(lambda a: a[idx], self.y)
        part.n = len(tree.flatten(part.x)[0])
        part._buffers = {}
        return part

    def steps(self, batch_size):
        return -(-self.n // batch_size)

    def batches(self, batch_size, order=None):
        """(x, y) structures of consecutive batches (over ``order`` when shuffling)."""
        for start in range(0, self.n, batch_size):
            stop = min(start + batch_size, self.n)
            idx = slice(start, stop) if order is None else order[start:stop]
            yield self._gather_x(idx), (None if self.y is None
                                        else tree.map_structure(lambda a: a[idx], self.y))

    def _gather_x(self, idx):
        flat = tree.flatten(self.x)
        out = []
        for k, a in enumerate(flat):
            dtype = self._input_dtypes[k] if self._input_dtypes else None
            out.append(self._gather(k, a, idx, dtype))
        return tree.pack_sequence_as(self.x, out)

    def _gather(self, k, a, idx, dtype):
        part = a[idx]
        if dtype is None:
            dtype = "float32" if part.dtype.kind == "f" else part.dtype.name
        if part.dtype.name == dtype and part.flags.c_contiguous:
            return part
        slot = (k, part.shape)
        buf = self._buffers.get(slot)
        if buf is None or buf.dtype.name != dtype:
            buf = np.empty(part.shape, dtype=dtype)
            self._buffers[slot] = buf
        buf[...] = part
        return buf

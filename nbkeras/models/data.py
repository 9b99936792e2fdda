"""Input checking and batching for fit/evaluate/predict.

Data is validated once, up front, with errors that name the model and show the
expected and actual shapes; batches are then gathered and converted to float32
one at a time, so a float64 or uint8 dataset is never copied whole.
"""
import numpy as np


def as_array(x, what):
    # A list/tuple of arrays is Keras's structure of several inputs; a list of plain
    # values (numbers, strings, nested lists) is data and is converted as a whole.
    if isinstance(x, (list, tuple)) and x and all(_is_array(e) for e in x):
        if len(x) == 1:
            x = x[0]
        else:
            raise NotImplementedError(f"`{what}` must be a single array; models with several "
                                      f"inputs or outputs are not supported by fit yet.")
    if isinstance(x, dict):
        raise NotImplementedError(f"`{what}` must be a single array; models with several "
                                  f"inputs or outputs are not supported by fit yet.")
    try:
        arr = np.asarray(x)
    except ValueError as e:
        raise ValueError(f"`{what}` could not be converted to one numeric array "
                         f"(received a {type(x).__name__}): {e}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise ValueError(f"`{what}` must hold numbers, received an array of dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"`{what}` must hold real numbers, received an array of dtype "
                         f"{arr.dtype}.")
    return arr


def _is_array(e):
    return hasattr(e, "__array__") and not np.isscalar(e)


def check_not_empty(what, x):
    if len(x) == 0:
        raise ValueError(f"{what}() received no samples: `x` has shape {x.shape}. "
                         f"Pass at least one sample.")


def check_input_shape(model_name, expected, x):
    """``expected`` is the model's batch input shape, e.g. (None, 32, 32, 3)."""
    ok = x.ndim == len(expected) and all(
        e is None or e == a for e, a in zip(expected[1:], x.shape[1:]))
    if not ok:
        raise ValueError(
            f"Input 0 of model '{model_name}' is incompatible with the model: expected "
            f"shape={tuple(expected)}, found shape={x.shape}.")


def check_same_length(**arrays):
    sizes = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{name} sizes: {n}" for name, n in sizes.items())
        raise ValueError(f"Data cardinality is ambiguous: {detail}. Make sure all arrays "
                         f"contain the same number of samples.")


def batch_indices(n, batch_size, order=None):
    """Yield index arrays (or slices) of consecutive batches over ``order``."""
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield slice(start, stop) if order is None else order[start:stop]


def gather_float32(x, idx, out_cache):
    """x[idx] as a C-contiguous float32 array, reusing a buffer per batch shape."""
    part = x[idx]
    buf = out_cache.get(part.shape)
    if buf is None:
        buf = np.empty(part.shape, dtype=np.float32)
        out_cache[part.shape] = buf
    buf[...] = part
    return buf


def split_validation(x, y, fraction):
    """Keras's validation_split: the LAST ``fraction`` of samples, before shuffling."""
    if not 0 < fraction < 1:
        raise ValueError(f"`validation_split` must be in (0, 1), received {fraction}.")
    cut = int(len(x) * (1.0 - fraction))
    if cut == 0 or cut == len(x):
        raise ValueError(f"validation_split={fraction} leaves no training or no validation "
                         f"samples out of {len(x)}.")
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])

"""Sliding-window geometry shared by Conv2D and the pooling layers (Keras rules).

'valid': out = (n - k) // s + 1.  'same': out = ceil(n / s), padded with
max((out - 1) * s + k - n, 0) zeros split with the extra one after (TF/Keras).
An unknown (None) height or width gives an unknown output size.
"""
import numpy as np


def pair(value, what, layer_name):
    """(a, b) of positive ints from an int or a 2-sequence, with a clear error otherwise."""
    try:
        a, b = (value, value) if isinstance(value, (int, np.integer)) else value
        if not all(isinstance(v, (int, float, np.integer, np.floating))
                   and not isinstance(v, bool) and int(v) == v for v in (a, b)):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f"Layer '{layer_name}': `{what}` must be an int or a tuple of 2 "
                         f"ints, received {value!r}.") from None
    if a <= 0 or b <= 0:
        raise ValueError(f"Layer '{layer_name}': `{what}` must be positive, received "
                         f"{value!r}.")
    return (int(a), int(b))


def normalize_padding(padding, layer_name):
    p = str(padding).lower()
    if p not in ("valid", "same"):
        raise ValueError(f"Layer '{layer_name}': `padding` must be 'valid' or 'same', "
                         f"received {padding!r}.")
    return p


def window_1d(n, k, s, padding):
    """(output length, padding before) along one axis."""
    if n is None:
        return None, None
    if padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        return out, total // 2
    return (n - k) // s + 1, 0


def window_2d(layer, input_shape, kernel, strides, padding):
    """(oh, ow, pad_top, pad_left) for an NHWC input shape, or a clear ValueError."""
    if len(input_shape) != 4:
        raise ValueError(
            f"Input 0 of layer '{layer.name}' is incompatible with the layer: expected "
            f"ndim=4 (batch, height, width, channels), found ndim={len(input_shape)}. "
            f"Full shape received: {tuple(input_shape)}")
    h, w = input_shape[1], input_shape[2]
    oh, pt = window_1d(h, kernel[0], strides[0], padding)
    ow, pl = window_1d(w, kernel[1], strides[1], padding)
    if (oh is not None and oh <= 0) or (ow is not None and ow <= 0):
        raise ValueError(
            f"Layer '{layer.name}': a window of {kernel} with strides {strides} and "
            f"padding '{padding}' does not fit an input of height x width {h} x {w} "
            f"(input shape {tuple(input_shape)}): the output would be {oh} x {ow}.")
    return oh, ow, pt, pl

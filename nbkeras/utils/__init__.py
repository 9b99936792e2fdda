"""Utilities: seeding, the progress bar, file download, label encoding, and (as in
Keras) the serialization functions of :mod:`nbkeras.saving`."""
import numpy as np

from .. import random as _random
from .progbar import Progbar
from .file_utils import get_file
from ..saving import (CustomObjectScope, custom_object_scope, deserialize_keras_object,
                      get_custom_objects, get_registered_name, get_registered_object,
                      register_keras_serializable, serialize_keras_object)


def set_random_seed(seed):
    """Seed every random draw nbkeras makes (weights, shuffling, dropout).

    The same seed gives the same weights after training, bit for bit, on the CPU.
    """
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"set_random_seed expects an integer seed, received {seed!r}.")
    _random.seed(int(seed))


def to_categorical(x, num_classes=None):
    """One-hot encode integer labels (Keras's ``to_categorical``), float32."""
    x = np.asarray(x, dtype=np.int64)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.reshape(x.shape[:-1])
    num_classes = int(x.max()) + 1 if num_classes is None else num_classes
    out = np.zeros(x.shape + (num_classes,), dtype=np.float32)
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out

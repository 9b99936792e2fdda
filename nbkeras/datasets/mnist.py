"""MNIST handwritten digits, read from the same ``mnist.npz`` Keras caches."""

import numpy as np

from nbkeras.utils.file_utils import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_data(path="mnist.npz"):
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, like Keras.

    Images are uint8 ``(60000, 28, 28)`` / ``(10000, 28, 28)``, labels uint8
    ``(N,)``. ``path`` is the file name inside ``<keras cache>/datasets``;
    the file is downloaded there on first use.
    """
    local_path = get_file(path, origin=ORIGIN, file_hash=FILE_HASH)
    with np.load(local_path, allow_pickle=False) as archive:
        missing = [key for key in _KEYS if key not in archive.files]
        if missing:
            raise ValueError(f"{local_path} is not an MNIST archive: missing {missing}.")
        x_train, y_train, x_test, y_test = (archive[key] for key in _KEYS)
    return (x_train, y_train), (x_test, y_test)

"""CIFAR-10, read from the Python-2 pickled batches of the official archive.

Accepted cache layouts (under ``<keras cache>/datasets``):

* Keras 3: ``cifar-10-batches-py-target/cifar-10-batches-py/`` (extracted),
  from the archive kept as ``cifar-10-batches-py-target_archive``;
* Keras 2: ``cifar-10-batches-py/`` (extracted).

An archive that is present but not yet extracted is extracted safely.
The batches are unpickled with an allow-list limited to NumPy array
reconstruction, so a tampered file cannot run code.
"""

import os
import pickle

import numpy as np

from nbkeras.utils.file_utils import DatasetNotAvailableError, cache_path, get_file

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
KERAS3_NAME = "cifar-10-batches-py-target"  # fname Keras 3 passes to get_file
BATCHES_DIRNAME = "cifar-10-batches-py"  # top folder inside the archive
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_SHAPE_CHW = (3, 32, 32)


def _numpy_reconstruct():
    """NumPy's array-unpickling entry point (``numpy._core`` in 2.x, ``numpy.core`` before)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild NumPy arrays and plain containers, nothing else."""

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"Refusing to load global {module}.{name} from a CIFAR batch.") from None


def load_batch(path):
    """One CIFAR batch as images uint8 ``(N, 3, 32, 32)`` and labels uint8 ``(N,)``.

    The batches are Python 2 pickles: str fields load as bytes, so keys are
    ``b"data"`` (uint8 ``(N, 3072)``, channel-major) and ``b"labels"``.
    """
    with open(path, "rb") as f:
        batch = NumpyOnlyUnpickler(f, encoding="bytes").load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path} is not a CIFAR-10 batch (expected a dict with b'data' and b'labels').")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != np.prod(IMAGE_SHAPE_CHW) or len(data) != len(labels):
        raise ValueError(f"{path} holds data {data.shape} and {len(labels)} labels; expected (N, 3072) and N.")
    return data.reshape((len(data),) + IMAGE_SHAPE_CHW), labels


def _has_all_batches(directory):
    return all(os.path.isfile(os.path.join(directory, name)) for name in TRAIN_BATCHES + (TEST_BATCH,))


def _batches_dir():
    """Folder holding the batch files: an existing layout, else extract/download (Keras 3 layout)."""
    keras3_dir = os.path.join(cache_path(KERAS3_NAME), BATCHES_DIRNAME)
    keras2_dir = cache_path(BATCHES_DIRNAME)
    for directory in (keras3_dir, keras2_dir):
        if _has_all_batches(directory):
            return directory
    try:
        extraction_dir = get_file(KERAS3_NAME, origin=ORIGIN, extract=True, file_hash=FILE_HASH)
    except DatasetNotAvailableError as exc:
        hint = (
            "(Save cifar-10-python.tar.gz under that exact file name; it is extracted on first use. "
            f"Already-extracted batches are also accepted at {keras3_dir}/ or {keras2_dir}/.)"
        )
        raise DatasetNotAvailableError(exc.missing, reason=exc.reason, hint=hint) from exc
    return os.path.join(extraction_dir, BATCHES_DIRNAME)


def _load_batches(directory, names):
    missing = [name for name in names if not os.path.isfile(os.path.join(directory, name))]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 batch file(s) {missing} missing from {directory}.")
    parts = [load_batch(os.path.join(directory, name)) for name in names]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    return images, labels


def load_data():
    """Load CIFAR-10 as ``(x_train, y_train), (x_test, y_test)``, like Keras.

    Images are uint8 channels-last ``(50000, 32, 32, 3)`` / ``(10000, 32, 32, 3)``;
    labels are uint8 ``(N, 1)``.
    """
    directory = _batches_dir()
    x_train, y_train = _load_batches(directory, TRAIN_BATCHES)
    x_test, y_test = _load_batches(directory, (TEST_BATCH,))
    to_channels_last = (0, 2, 3, 1)
    x_train = np.ascontiguousarray(x_train.transpose(to_channels_last))
    x_test = np.ascontiguousarray(x_test.transpose(to_channels_last))
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.reshape(-1, 1))

"""Fashion-MNIST, read from the four IDX gz files Keras caches.

Each file is looked up in the Keras cache, then in Debian's
``dataset-fashion-mnist`` copy, and only then downloaded into the cache.
"""

import gzip
import os
import zlib

import numpy as np

from nbkeras.utils.file_utils import DatasetNotAvailableError, cache_path, get_file

ORIGIN_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CACHE_SUBDIR = os.path.join("datasets", "fashion-mnist")
# Same files, recompressed by Debian (so their hashes differ: never hash-check them).
DEBIAN_DATASET_DIR = "/usr/share/datasets/fashion-mnist"

TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"

# SHA-256 of the upstream files, checked on download only.
FILE_HASHES = {
    TRAIN_LABELS: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    TRAIN_IMAGES: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    TEST_LABELS: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    TEST_IMAGES: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
}

IDX_LABELS_MAGIC = 2049  # 0x0801: unsigned bytes, 1 dimension
IDX_IMAGES_MAGIC = 2051  # 0x0803: unsigned bytes, 3 dimensions
IMAGE_SIDE = 28


def read_idx_gz(path, expected_magic):
    """Parse a gzip'd IDX file of unsigned bytes into a uint8 array.

    Layout: big-endian int32 magic, one big-endian int32 per dimension, then
    the data. Raises ValueError naming ``path`` when the magic number, the
    header or the data length does not match.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is not a readable gzip file: {exc}") from exc
    if len(raw) < 4:
        raise ValueError(f"{path} is too short to be an IDX file ({len(raw)} bytes).")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise ValueError(f"{path} has IDX magic number {magic}, expected {expected_magic}.")
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path} is truncated inside its IDX header.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_size = header_size + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected_size:
        raise ValueError(f"{path} holds {len(raw)} bytes but its header {shape} implies {expected_size}.")
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header_size).reshape(shape)


def _local_or_downloaded(fname):
    """Keras cache first, then the Debian copy, else download into the cache."""
    cached = cache_path(fname, CACHE_SUBDIR)
    if os.path.exists(cached):
        return cached
    debian_copy = os.path.join(DEBIAN_DATASET_DIR, fname)
    if os.path.exists(debian_copy):
        return debian_copy
    return get_file(fname, origin=ORIGIN_BASE + fname, cache_subdir=CACHE_SUBDIR, file_hash=FILE_HASHES[fname])


def _resolve_all(fnames):
    """Paths for every file, or one error listing all that are missing."""
    paths, missing, reasons = {}, [], []
    for fname in fnames:
        try:
            paths[fname] = _local_or_downloaded(fname)
        except DatasetNotAvailableError as exc:
            missing.extend(exc.missing)
            reasons.append(exc.reason)
    if missing:
        hint = f"(Or install Debian's dataset-fashion-mnist package, which provides {DEBIAN_DATASET_DIR}/.)"
        raise DatasetNotAvailableError(missing, reason=reasons[0], hint=hint)
    return paths


def _load_split(labels_path, images_path):
    """Labels ``(N,)`` and images ``(N, 28, 28)``, checked against each other."""
    labels = read_idx_gz(labels_path, IDX_LABELS_MAGIC)
    images = read_idx_gz(images_path, IDX_IMAGES_MAGIC)
    if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"{images_path} holds {images.shape[1:]} images, expected 28x28.")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels.")
    return images, labels


def load_data():
    """Load Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``, like Keras.

    Images are uint8 ``(60000, 28, 28)`` / ``(10000, 28, 28)``, labels uint8
    ``(N,)``.
    """
    paths = _resolve_all([TRAIN_LABELS, TRAIN_IMAGES, TEST_LABELS, TEST_IMAGES])
    x_train, y_train = _load_split(paths[TRAIN_LABELS], paths[TRAIN_IMAGES])
    x_test, y_test = _load_split(paths[TEST_LABELS], paths[TEST_IMAGES])
    return (x_train, y_train), (x_test, y_test)

"""Dataset loaders against tiny files in the real on-disk formats; never touches the network."""

import gzip
import io
import os
import pickle
import pickletools
import struct
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest

from nbkeras.datasets import cifar10, fashion_mnist, mnist
from nbkeras.utils import file_utils

REAL_DEBIAN_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
DEFAULT_DEBIAN_DIR = fashion_mnist.DEBIAN_DATASET_DIR  # read before any test patches it


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own KERAS_HOME, no Debian copy and no network."""

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    keras_home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DATASET_DIR", str(tmp_path / "no_debian_copy"))
    return keras_home


class FakeResponse(io.BytesIO):
    """Stands in for urlopen's response: a readable context manager."""


def serve(monkeypatch, payload_by_url):
    """Make urlopen answer from a dict; record requested URLs."""
    requested = []

    def fake_urlopen(url, timeout=None):
        requested.append(url)
        return FakeResponse(payload_by_url[url])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return requested


# --- file_utils ---------------------------------------------------------------


def test_cache_root_prefers_keras_home(isolated_cache):
    assert file_utils.cache_root() == str(isolated_cache)
    assert isolated_cache.is_dir()


def test_cache_root_defaults_to_home_dot_keras(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert file_utils.cache_root() == str(tmp_path / "home" / ".keras")


def test_cache_root_falls_back_to_tmp_when_not_writable(monkeypatch):
    monkeypatch.setattr(file_utils, "_is_writable", lambda path: False)
    assert file_utils.cache_root() == os.path.join("/tmp", ".keras")


def test_get_file_returns_cached_file_without_network(isolated_cache):
    cached = isolated_cache / "datasets" / "thing.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"abc")
    assert file_utils.get_file("thing.bin", origin="https://example.invalid/thing.bin") == str(cached)


def test_get_file_downloads_into_cache_and_checks_hash(isolated_cache, monkeypatch):
    import hashlib

    url = "https://example.invalid/thing.bin"
    requested = serve(monkeypatch, {url: b"payload"})
    digest = hashlib.sha256(b"payload").hexdigest()
    path = file_utils.get_file("thing.bin", origin=url, file_hash=digest)
    assert path == str(isolated_cache / "datasets" / "thing.bin")
    assert open(path, "rb").read() == b"payload"
    assert file_utils.get_file("thing.bin", origin=url, file_hash=digest) == path
    assert requested == [url]  # second call served from the cache


def test_get_file_hash_mismatch_leaves_nothing(isolated_cache, monkeypatch):
    url = "https://example.invalid/thing.bin"
    serve(monkeypatch, {url: b"tampered"})
    with pytest.raises(ValueError, match="hash"):
        file_utils.get_file("thing.bin", origin=url, file_hash="0" * 64)
    assert os.listdir(isolated_cache / "datasets") == []


def test_get_file_interrupted_download_leaves_no_partial_file(isolated_cache, monkeypatch):
    class BrokenResponse(FakeResponse):
        def read(self, *args):
            if self.tell() > 0:
                raise ConnectionResetError("connection dropped")
            return super().read(3)

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: BrokenResponse(b"partial data"))
    with pytest.raises(file_utils.DatasetNotAvailableError, match="connection dropped"):
        file_utils.get_file("thing.bin", origin="https://example.invalid/thing.bin")
    assert os.listdir(isolated_cache / "datasets") == []


def test_get_file_offline_error_names_path_and_url(isolated_cache):
    url = "https://example.invalid/thing.bin"
    with pytest.raises(file_utils.DatasetNotAvailableError) as info:
        file_utils.get_file("thing.bin", origin=url)
    message = str(info.value)
    assert str(isolated_cache / "datasets" / "thing.bin") in message
    assert url in message
    assert isinstance(info.value, OSError)


def test_get_file_rejects_paths_as_fname():
    with pytest.raises(ValueError, match="not a path"):
        file_utils.get_file(os.path.join("sub", "thing.bin"), origin="https://example.invalid/x")


def test_extract_rejects_unsafe_members(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_tar_member(tar, "../escaped.txt", b"x")
    with pytest.raises(ValueError, match="escaped.txt"):
        file_utils.extract_tar_safely(str(archive), str(tmp_path / "out" / "dest"))
    assert not (tmp_path / "out" / "escaped.txt").exists()
    assert not (tmp_path / "out" / "dest").exists()

    with tarfile.open(archive, "w:gz") as tar:
        add_tar_member(tar, "/abs.txt", b"x")
    with pytest.raises(ValueError, match="absolute"):
        file_utils.extract_tar_safely(str(archive), str(tmp_path / "out" / "dest"))


# --- mnist ---------------------------------------------------------------------


def test_mnist_loads_cached_npz(isolated_cache):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 5, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    (isolated_cache / "datasets").mkdir(parents=True)
    np.savez(isolated_cache / "datasets" / "mnist.npz", **arrays)

    (x_train, y_train), (x_test, y_test) = mnist.load_data()

    for name, loaded in [("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)]:
        assert loaded.dtype == np.uint8
        np.testing.assert_array_equal(loaded, arrays[name])
    assert x_train.shape == (5, 28, 28) and y_test.shape == (3,)


def test_mnist_offline_error_names_cache_path(isolated_cache):
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_data()
    assert str(isolated_cache / "datasets" / "mnist.npz") in str(info.value)
    assert mnist.ORIGIN in str(info.value)


# --- fashion_mnist -------------------------------------------------------------


def idx_gz_bytes(magic, array):
    """A gzip'd IDX file exactly as the Fashion-MNIST distribution ships it."""
    header = struct.pack(">i", magic) + b"".join(struct.pack(">i", n) for n in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def make_fashion_split(rng, n):
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_fashion_files(directory, seed=0):
    """Write 5 train / 3 test samples as the four IDX gz files; return the arrays."""
    rng = np.random.default_rng(seed)
    (x_train, y_train), (x_test, y_test) = make_fashion_split(rng, 5), make_fashion_split(rng, 3)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / fashion_mnist.TRAIN_IMAGES).write_bytes(idx_gz_bytes(2051, x_train))
    (directory / fashion_mnist.TRAIN_LABELS).write_bytes(idx_gz_bytes(2049, y_train))
    (directory / fashion_mnist.TEST_IMAGES).write_bytes(idx_gz_bytes(2051, x_test))
    (directory / fashion_mnist.TEST_LABELS).write_bytes(idx_gz_bytes(2049, y_test))
    return (x_train, y_train), (x_test, y_test)


def assert_same_splits(loaded, expected):
    for got, want in zip(loaded[0] + loaded[1], expected[0] + expected[1]):
        assert got.dtype == np.uint8
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_fashion_mnist_from_keras_cache(isolated_cache):
    expected = write_fashion_files(isolated_cache / "datasets" / "fashion-mnist")
    loaded = fashion_mnist.load_data()
    assert_same_splits(loaded, expected)
    assert loaded[0][0].shape == (5, 28, 28) and loaded[1][1].shape == (3,)


def test_fashion_mnist_from_debian_dir(tmp_path, monkeypatch):
    debian_dir = tmp_path / "usr_share_datasets" / "fashion-mnist"
    expected = write_fashion_files(debian_dir)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DATASET_DIR", str(debian_dir))
    assert_same_splits(fashion_mnist.load_data(), expected)


def test_fashion_mnist_prefers_keras_cache_over_debian(isolated_cache, tmp_path, monkeypatch):
    expected = write_fashion_files(isolated_cache / "datasets" / "fashion-mnist", seed=1)
    debian_dir = tmp_path / "debian"
    write_fashion_files(debian_dir, seed=2)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DATASET_DIR", str(debian_dir))
    assert_same_splits(fashion_mnist.load_data(), expected)


def test_fashion_mnist_bad_magic_names_file(isolated_cache):
    directory = isolated_cache / "datasets" / "fashion-mnist"
    write_fashion_files(directory)
    bad = directory / fashion_mnist.TRAIN_IMAGES
    bad.write_bytes(idx_gz_bytes(2049, np.zeros((5, 28, 28), np.uint8)))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*magic number 2049"):
        fashion_mnist.load_data()


def test_fashion_mnist_truncated_data_names_file(isolated_cache):
    directory = isolated_cache / "datasets" / "fashion-mnist"
    write_fashion_files(directory)
    header = struct.pack(">iiii", 2051, 5, 28, 28)
    (directory / fashion_mnist.TEST_IMAGES).write_bytes(gzip.compress(header + b"\0" * 100))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        fashion_mnist.load_data()


def test_fashion_mnist_offline_error_lists_every_missing_file(isolated_cache):
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    fm = fashion_mnist
    for fname in (fm.TRAIN_LABELS, fm.TRAIN_IMAGES, fm.TEST_LABELS, fm.TEST_IMAGES):
        assert str(isolated_cache / "datasets" / "fashion-mnist" / fname) in message
        assert fashion_mnist.ORIGIN_BASE + fname in message


@pytest.mark.skipif(
    not os.path.isdir(REAL_DEBIAN_FASHION_DIR), reason="Debian dataset-fashion-mnist not installed"
)
def test_fashion_mnist_reads_real_debian_copy(monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DATASET_DIR", REAL_DEBIAN_FASHION_DIR)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert set(np.unique(y_train)) == set(range(10))


def test_fashion_mnist_default_debian_dir():
    assert DEFAULT_DEBIAN_DIR == REAL_DEBIAN_FASHION_DIR


# --- cifar10 -------------------------------------------------------------------


class Python2StylePickler(pickle._Pickler):
    """Writes protocol-2 streams the way Python 2's cPickle did for CIFAR.

    Python 3's own protocol 2 encodes bytes through ``_codecs.encode``; the
    real files instead hold Python 2 ``str`` opcodes (SHORT_BINSTRING /
    BINSTRING) and name ``numpy.core.multiarray``, so that is written here.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", None)
        name = name or obj.__qualname__
        if module == "numpy._core.multiarray":
            module = "numpy.core.multiarray"  # how NumPy of the Python 2 era named it
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))
        self.memoize(obj)


def python2_pickle(obj):
    buffer = io.BytesIO()
    Python2StylePickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def cifar_images(first_index, n):
    """Known channels-last pattern: every pixel/channel of every image differs."""
    i, h, w, c = np.meshgrid(
        np.arange(first_index, first_index + n), np.arange(32), np.arange(32), np.arange(3), indexing="ij"
    )
    return ((i * 37 + h * 5 + w * 3 + c * 101) % 256).astype(np.uint8)


def cifar_batch_bytes(images_hwc, labels, name):
    """A batch exactly like the official ones: bytes keys, CHW rows of 3072 uint8."""
    data = np.ascontiguousarray(images_hwc.transpose(0, 3, 1, 2)).reshape(len(images_hwc), 3072)
    return python2_pickle(
        {
            b"batch_label": b"training batch " + name.encode(),
            b"labels": [int(label) for label in labels],
            b"data": data,
            b"filenames": [f"img_{k}.png".encode() for k in range(len(images_hwc))],
        }
    )


TRAIN_PER_BATCH, TEST_SIZE = 2, 3


def cifar_files():
    """{file name: bytes} for the six batches, and the expected arrays."""
    files, x_parts, y_parts = {}, [], []
    for k, name in enumerate(cifar10.TRAIN_BATCHES):
        x = cifar_images(k * TRAIN_PER_BATCH, TRAIN_PER_BATCH)
        y = np.arange(k * TRAIN_PER_BATCH, (k + 1) * TRAIN_PER_BATCH) % 10
        files[name] = cifar_batch_bytes(x, y, name)
        x_parts.append(x)
        y_parts.append(y)
    x_test = cifar_images(100, TEST_SIZE)
    y_test = np.array([9, 0, 4])
    files[cifar10.TEST_BATCH] = cifar_batch_bytes(x_test, y_test, "test")
    expected = (np.concatenate(x_parts), np.concatenate(y_parts)), (x_test, y_test)
    return files, expected


def write_cifar_dir(directory):
    files, expected = cifar_files()
    directory.mkdir(parents=True)
    for name, payload in files.items():
        (directory / name).write_bytes(payload)
    return expected


def add_tar_member(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def assert_cifar_matches(loaded, expected):
    (x_train, y_train), (x_test, y_test) = loaded
    (ex_train, ey_train), (ex_test, ey_test) = expected
    assert x_train.shape == (5 * TRAIN_PER_BATCH, 32, 32, 3) and x_test.shape == (TEST_SIZE, 32, 32, 3)
    assert y_train.shape == (5 * TRAIN_PER_BATCH, 1) and y_test.shape == (TEST_SIZE, 1)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    np.testing.assert_array_equal(x_train, ex_train)
    np.testing.assert_array_equal(x_test, ex_test)
    np.testing.assert_array_equal(y_train[:, 0], ey_train)
    np.testing.assert_array_equal(y_test[:, 0], ey_test)


def test_python2_style_pickle_looks_like_the_real_batches():
    files, _ = cifar_files()
    opcodes = [(op.name, arg) for op, arg, _ in pickletools.genops(files[cifar10.TEST_BATCH])]
    assert opcodes[0] == ("PROTO", 2)
    globals_used = {arg for name, arg in opcodes if name == "GLOBAL"}
    assert globals_used == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    assert not any(name in ("BINUNICODE", "SHORT_BINUNICODE", "SHORT_BINBYTES", "BINBYTES") for name, _ in opcodes)


def test_load_batch_decodes_channel_major_rows(tmp_path):
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, 0, 1, 0] = 11  # red, row 0, column 1 -> CHW offset 1
    image[0, 0, 0, 1] = 22  # green, row 0, column 0 -> CHW offset 1024
    image[0, 1, 0, 2] = 33  # blue, row 1, column 0 -> CHW offset 2048 + 32
    raw = np.ascontiguousarray(image.transpose(0, 3, 1, 2)).reshape(1, 3072)
    assert (raw[0, 1], raw[0, 1024], raw[0, 2048 + 32]) == (11, 22, 33)
    path = tmp_path / "batch"
    path.write_bytes(cifar_batch_bytes(image, [7], "one"))

    chw, labels = cifar10.load_batch(str(path))
    assert chw.shape == (1, 3, 32, 32) and labels.tolist() == [7]
    np.testing.assert_array_equal(chw.transpose(0, 2, 3, 1), image)


def test_cifar10_extracts_keras3_archive(isolated_cache):
    files, expected = cifar_files()
    datasets = isolated_cache / "datasets"
    datasets.mkdir(parents=True)
    with tarfile.open(datasets / "cifar-10-batches-py-target_archive", "w:gz") as tar:
        for name, payload in files.items():
            add_tar_member(tar, f"cifar-10-batches-py/{name}", payload)

    assert_cifar_matches(cifar10.load_data(), expected)
    assert (datasets / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "test_batch").is_file()
    assert_cifar_matches(cifar10.load_data(), expected)  # second call reuses the extraction


def test_cifar10_keras3_extracted_layout(isolated_cache):
    expected = write_cifar_dir(isolated_cache / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    assert_cifar_matches(cifar10.load_data(), expected)


def test_cifar10_keras2_extracted_layout(isolated_cache):
    expected = write_cifar_dir(isolated_cache / "datasets" / "cifar-10-batches-py")
    assert_cifar_matches(cifar10.load_data(), expected)


class RunsShellCommand:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_restricted_unpickler_rejects_code_execution(isolated_cache):
    directory = isolated_cache / "datasets" / "cifar-10-batches-py"
    write_cifar_dir(directory)
    (directory / "data_batch_1").write_bytes(python2_pickle({b"data": RunsShellCommand()}))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        cifar10.load_data()


def test_cifar10_offline_error_names_archive_path(isolated_cache):
    with pytest.raises(FileNotFoundError) as info:
        cifar10.load_data()
    message = str(info.value)
    assert str(isolated_cache / "datasets" / "cifar-10-batches-py-target_archive") in message
    assert cifar10.ORIGIN in message

"""Compile the common kernels in a second process while the first compiles too.

Numba compiles on one core, and a new user's first epoch waits for about fifteen
kernels one after another. The order in which a Dense/Conv2D model compiles
them is recorded in ``prewarm_order.txt`` (kernel and signature, as the
seed CNN and an MLP compile them). When the kernel cache is cold, the training
process starts ``python -m nbkeras.kernels.cpu.prewarm``, which compiles that
list from its END into the same cache while the training process compiles
from its beginning: each finds in the cache what the other has already done,
and they meet in the middle. A wrong or stale entry only costs the helper time
(``tests/test_kernel_cache.py`` checks the list against what the models compile).

    python -m nbkeras.kernels.cpu.prewarm            # compile the list, last first
    python -m nbkeras.kernels.cpu.prewarm --record   # rewrite the list (developers;
                                                     # it uses a fresh, empty cache)
"""
import glob
import importlib
import os
import subprocess
import sys

from numba.core import types
from numba.core.registry import CPUDispatcher

ORDER_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prewarm_order.txt")
_PACKAGE = "nbkeras.kernels.cpu"
_MODULE = _PACKAGE + ".prewarm"                 # (``__name__`` is __main__ under -m)
_TYPES = dict(vars(types), bool=types.boolean)  # names in a signature's repr


def _dispatcher(module, name):
    """The kernel called ``name`` (its Python function's name) in ``module``."""
    mod = importlib.import_module(f"{_PACKAGE}.{module}")
    for obj in vars(mod).values():
        if isinstance(obj, CPUDispatcher) and obj.py_func.__name__ == name \
                and obj.__module__ == mod.__name__:
            return obj
    raise LookupError(f"no kernel {module}.{name}")


def read_order(path=ORDER_FILE):
    """[(module, kernel name, signature tuple)] in the order a model compiles them.
    Signatures with literal arguments (a callee's constant flag) are left out:
    they are compiled with their caller."""
    entries = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "Literal" not in line:
                where, sig = line.split("\t")
                module, name = where.rsplit(".", 1)
                entries.append((module, name, tuple(eval(sig, {"__builtins__": {}}, _TYPES))))
    return entries


def compile_from_end(entries, skip=(), wanted=lambda: True):
    """Compile ``entries`` last first (each a cache load if already there), while
    ``wanted()`` says so."""
    for module, name, sig in reversed(entries):
        if not wanted():
            return
        if f"{module}.{name}" in skip:
            continue
        try:
            _dispatcher(module, name).compile(sig)
        except Exception as exc:  # noqa: BLE001 (a stale entry must not stop the rest)
            print(f"prewarm: {module}.{name}{sig}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)


def cache_is_cold():
    """True when the product body every Dense/Conv2D layer runs on is not cached."""
    path = getattr(getattr(_dispatcher("products", "_chunk"), "_cache", None),
                   "_cache_path", None)
    if not isinstance(path, str):   # another Numba's internals: do not guess
        return False
    return not glob.glob(os.path.join(path, "*_chunk*.nbi"))


_started = []


def start_helper():
    """Start the helper process once per process, when it can help: a cold cache,
    a second core, and NBKERAS_PREWARM not set to 0. Returns the process or None."""
    if _started or os.environ.get("NBKERAS_PREWARM", "1") == "0":
        return None
    _started.append(None)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    if cores < 2 or not cache_is_cold():
        return None
    _started[0] = subprocess.Popen([sys.executable, "-m", _MODULE], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                   env=dict(os.environ, NBKERAS_PREWARM="0"))
    return _started[0]


def helper():
    """The helper process this process started, or None."""
    return _started[0] if _started else None


def compiled_by_workload():
    """Train and predict with a small CNN and an MLP (Conv2D, MaxPooling2D, Dense,
    ReLU, softmax, sparse CE, Adam) and return each kernel compile they caused,
    in the order it began: [(module, kernel name, signature)]."""
    from numba.core import event
    import numpy as np
    import nbkeras as keras
    from nbkeras import layers
    seen = []

    class Starts(event.Listener):
        def on_start(self, ev):
            d, sig = ev.data["dispatcher"], ev.data["args"]
            module = getattr(d, "__module__", "")
            if module.startswith(_PACKAGE + "."):
                entry = (module[len(_PACKAGE) + 1:], d.py_func.__name__, tuple(sig))
                if entry not in seen:
                    seen.append(entry)

        def on_end(self, ev):
            pass

    listener = Starts()
    event.register("numba:compile", listener)
    try:
        rng = np.random.default_rng(0)
        # the seed CNN's layers, smaller, taking the same paths: the first
        # convolution direct, the second (pooled) and third Winograd, with an
        # even output (``winograd.py``)
        cnn = keras.Sequential([
            keras.Input((22, 22, 3)), layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Conv2D(32, 3, activation="relu"),
            layers.Flatten(), layers.Dense(40, activation="relu"),
            layers.Dense(10, activation="softmax")])
        mlp = keras.Sequential([keras.Input((20,)), layers.Dense(40, activation="relu"),
                                layers.Dense(3, activation="softmax")])
        for model, shape in ((cnn, (22, 22, 3)), (mlp, (20,))):
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            x = rng.random((70,) + shape, dtype=np.float32)
            y = rng.integers(0, 3, 70)
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            model.predict(x, verbose=0)
        # whatever the vector width: weights packed once for many rows (pack_b),
        # and a plain product wide enough to be split by columns (``_columns``:
        # matmul, and a dense layer's input gradient at batch 128)
        ops = keras.backend.ops()
        a = rng.random((256, 64), dtype=np.float32)
        b = rng.random((64, 256), dtype=np.float32)
        z = np.empty((256, 256), dtype=np.float32)
        ops.dense_forward(a, b, np.zeros(256, dtype=np.float32), 0, 0.0, z, z, 2)
        ops.matmul(a, b, z, 2)
    finally:
        event.unregister("numba:compile", listener)
    return seen


def record(path=ORDER_FILE):
    """Rewrite the list (run with an empty cache, so that every kernel compiles)."""
    seen = compiled_by_workload()
    with open(path, "w") as f:
        f.write("# kernels in the order a Dense/Conv2D model compiles them; written by\n"
                "# python -m nbkeras.kernels.cpu.prewarm --record\n")
        for module, name, sig in seen:
            f.write(f"{module}.{name}\t{sig!r}\n")
    return seen


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--record" in argv:
        if os.environ.get("NBKERAS_RECORDING") != "1":
            import tempfile
            with tempfile.TemporaryDirectory() as cache:   # every kernel compiles
                env = dict(os.environ, NUMBA_CACHE_DIR=cache, NBKERAS_RECORDING="1",
                           NBKERAS_PREWARM="0")
                return subprocess.call([sys.executable, "-m", _MODULE, "--record"], env=env)
        record()
        return 0
    entries = read_order()
    # Only while the process that started it runs: a short script that ended
    # must not leave a compiler on a core for seconds (it would also make the
    # next process's threads make way for it, nbkeras/backend/threads.py).
    parent = os.getppid()
    # (the training process is compiling the first one already)
    compile_from_end(entries, skip={f"{entries[0][0]}.{entries[0][1]}"},
                     wanted=lambda: os.getppid() == parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The one door between the API and the kernels.

Layers, losses and optimizers never import ``nbkeras.kernels.cpu`` (or ``.cuda``)
themselves: they call :func:`ops` for the kernel set of the current device and
use :func:`zeros`/:func:`empty`/:func:`to_device`/:func:`to_host` for arrays, so a
second device slots in here without touching them.

Threads (CPU): kernels split their work into :func:`num_threads` chunks on
Numba's thread pool (``NUMBA_NUM_THREADS`` is respected). Matrix products are
our own (``kernels/cpu/tile.py``), so no BLAS thread pool competes with it.
Idle OpenMP threads spin for the next kernel (``GOMP_SPINCOUNT``, unless the user set
it) and fewer threads run while other processes keep cores busy (``threads.py``).
Freed arrays' memory stays in the process for the next step's (``allocator.py``).
"""
import importlib
import os

import numpy as np

from ..kernels import codes  # noqa: F401 (integer codes shared by the API and the kernels)

_DEVICES = ("cpu", "cuda")
_state = {"device": "cpu", "ops": None, "threads": None, "limit": None}


def device():
    """Name of the device kernels run on: ``"cpu"`` or ``"cuda"``."""
    return _state["device"]


def set_device(name):
    """Select the device every later kernel call runs on."""
    if name not in _DEVICES:
        raise ValueError(f"Unknown device {name!r}; expected one of {_DEVICES}.")
    if name == "cuda":
        raise NotImplementedError(
            "The CUDA kernel set is not built yet; only device='cpu' is available.")
    _state["device"] = name
    _state["ops"] = None


def ops():
    """The kernel namespace of the current device (imported on first use)."""
    if _state["ops"] is None:
        if _state["device"] == "cpu":
            _set_thread_spinning()
            from .allocator import keep_freed_memory
            keep_freed_memory()
        _state["ops"] = importlib.import_module(f"nbkeras.kernels.{_state['device']}")
    return _state["ops"]


def prewarm():
    """On the CPU with a cold kernel cache, start the helper process that compiles
    the common kernels from the other end of the list (``kernels/cpu/prewarm.py``).
    Once per process; ``NBKERAS_PREWARM=0`` turns it off."""
    if _state["device"] == "cpu":
        importlib.import_module("nbkeras.kernels.cpu.prewarm").start_helper()


def num_threads():
    """How many pieces a CPU kernel splits its work into: Numba's thread count.

    Each call also lets the threads the kernels run on follow the cores other
    processes leave free (``threads.py``): the pieces stay the same, fewer
    threads take them when the machine is busy."""
    limit = _state["limit"]
    if limit is None:
        import numba
        from .threads import CoreShare, ThreadLimit
        _state["threads"] = int(numba.get_num_threads())
        share = CoreShare(_state["threads"])
        following = share.readable and os.environ.get("NBKERAS_SHARE_CORES", "1") != "0"
        limit = _state["limit"] = ThreadLimit(share) if following else False
    if limit:
        limit.apply()
    return _state["threads"]


def _set_thread_spinning():
    """How long Numba's OpenMP threads spin for the next kernel before they
    sleep: long enough to bridge a step's Python between kernels, while the
    thread count leaves other processes' cores to them (``threads.py``). Must
    be set before libgomp loads; a value the user set is kept."""
    from .threads import spin_count_default
    os.environ.setdefault("GOMP_SPINCOUNT", spin_count_default())


def zeros(shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


def empty(shape, dtype=np.float32):
    return np.empty(shape, dtype=dtype)


def to_device(x, dtype=np.float32):
    """A C-contiguous array of ``dtype`` on the current device (no copy if already one)."""
    a = np.asarray(x, dtype=dtype)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def to_host(x):
    """A NumPy array on the host."""
    return np.asarray(x)


def floatx():
    """The float type of every weight and activation (Keras's ``floatx()``)."""
    return "float32"


def epsilon():
    """Keras's fuzz factor (``keras.backend.epsilon()``)."""
    return 1e-7


def clear_session():
    """Reset layer-name counters, as ``keras.backend.clear_session()`` does."""
    from ..utils import naming
    naming.reset()

"""The one door between the API and the kernels.

Layers, losses and optimizers never import ``nbkeras.kernels.cpu`` (or ``.cuda``)
themselves: they call :func:`ops` for the kernel set of the current device and
use :func:`zeros`/:func:`empty`/:func:`to_device`/:func:`to_host` for arrays, so a
second device slots in here without touching them.
"""
import importlib

import numpy as np

floatx = "float32"
_DEVICES = ("cpu", "cuda")
_state = {"device": "cpu", "ops": None}


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
        _state["ops"] = importlib.import_module(f"nbkeras.kernels.{_state['device']}")
    return _state["ops"]


def zeros(shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


def empty(shape, dtype=np.float32):
    return np.empty(shape, dtype=dtype)


def to_device(x, dtype=np.float32):
    """A C-contiguous array of ``dtype`` on the current device (no copy if already one)."""
    return np.ascontiguousarray(x, dtype=dtype)


def to_host(x):
    """A NumPy array on the host."""
    return np.asarray(x)


def floatx_():
    return floatx


def epsilon():
    """Keras's fuzz factor (``keras.backend.epsilon()``)."""
    return 1e-7

"""The global random state every initializer, Dropout mask and shuffle draws from.

``nbkeras.utils.set_random_seed(n)`` reseeds it, which makes a CPU run repeatable
bit for bit.
"""
import numpy as np

_state = {"rng": np.random.default_rng()}


def seed(n):
    """Reseed the global generator (and NumPy's legacy one, as Keras does)."""
    _state["rng"] = np.random.default_rng(n)
    np.random.seed(n)


def generator():
    """The global ``numpy.random.Generator``."""
    return _state["rng"]


def make_generator(seed=None):
    """A generator of its own for an explicit ``seed``, else the global one."""
    return generator() if seed is None else np.random.default_rng(seed)

"""The one place the CPU kernels' Numba options are defined.

FASTMATH deliberately leaves out ``nnan``/``ninf`` so NaN and inf checks keep
working. ``cache=True`` writes compiled code next to the sources (or under
``NUMBA_CACHE_DIR``) so a second process does not pay the compile again.
"""
from numba import njit

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})


def kernel(fn=None, *, parallel=False):
    """Compile ``fn`` as a CPU kernel: ``@kernel`` or ``@kernel(parallel=True)``."""
    def wrap(f):
        return njit(cache=True, fastmath=set(FASTMATH), parallel=parallel, nogil=True)(f)
    return wrap(fn) if fn is not None else wrap

"""The one place the CPU kernels' Numba options are defined.

FASTMATH deliberately leaves out ``nnan``/``ninf`` so NaN and inf checks keep
working. ``cache=True`` writes compiled code next to the sources (or under
``NUMBA_CACHE_DIR``) so a second process does not pay the compile again.

Numba stamps a cached function with the hash of its own source file only, but a
compiled kernel also holds the code of every kernel it calls, from other files
(``conv.py`` carries ``gemm.py``'s tile code). Editing one file would then leave
the others' cached kernels running the old code; it happened while this package
was written. So kernels here are stamped with the hash of all kernel sources.
"""
import functools
import glob
import hashlib
import os

from numba import njit
from numba.core import caching

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

_KERNELS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.lru_cache(maxsize=None)
def kernel_sources_hash(root=_KERNELS):
    """SHA-256 over the names and contents of every ``.py`` file under ``root``
    (by default the kernel package: the cache stamp of each kernel)."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
        digest.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.digest()


def _stamped(locator):
    """``locator`` restricted to kernel files, stamped with all kernel sources."""
    class KernelCacheLocator(locator):
        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.abspath(py_file).startswith(_KERNELS + os.sep):
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return kernel_sources_hash()

    KernelCacheLocator.__name__ = "Kernel" + locator.__name__.lstrip("_")
    return KernelCacheLocator


def _install_cache_stamp():
    """Put the stamped locators first in Numba's list; if this Numba's caching
    internals differ, keep its own per-file stamps (and say nothing)."""
    names = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")
    bases = [getattr(caching, n, None) or getattr(caching, "_" + n, None) for n in names]
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if None in bases or not isinstance(classes, list):
        return
    if not any(getattr(c, "__name__", "").startswith("Kernel") for c in classes):
        classes[:0] = [_stamped(base) for base in bases]


_install_cache_stamp()


def kernel(fn=None, *, parallel=False):
    """Compile ``fn`` as a CPU kernel: ``@kernel`` or ``@kernel(parallel=True)``."""
    def wrap(f):
        return njit(cache=True, fastmath=set(FASTMATH), parallel=parallel, nogil=True)(f)
    return wrap(fn) if fn is not None else wrap

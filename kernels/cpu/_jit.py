"""The one place the CPU kernels' Numba options are defined.

FASTMATH deliberately leaves out ``nnan``/``ninf`` so NaN and inf checks keep
working. ``cache=True`` writes compiled code next to the sources (or under
``NUMBA_CACHE_DIR``) so a second process does not pay the compile again.

Numba stamps a cached function with the hash of its own source file only, but a
compiled kernel also holds the code of every kernel it calls, from other files
(``conv.py`` carries ``gemm.py``'s tile code). Editing one file would then leave
the others' cached kernels running the old code; it happened while this package
was written. So kernels here are stamped with the hash of all kernel sources,
and of the cache sizes their blocking was compiled for.

Where compiled kernels go: ``NUMBA_CACHE_DIR`` when it is set; otherwise the
user's cache folder (``$XDG_CACHE_HOME/nbkeras`` or ``~/.cache/nbkeras`` on
Linux, ``~/Library/Caches/nbkeras`` on macOS, ``%LOCALAPPDATA%\\nbkeras`` on
Windows), in a folder named after the Numba version and the kernel sources, so
every script of a user, in any virtual environment, reuses one compilation per
nbkeras and Numba version and CPU, and a read-only system install works. When
that folder cannot be written, Numba's own places follow (next to the sources,
then Numba's user-wide folder).
"""
import functools
import glob
import hashlib
import os
import sys

from numba import njit
from numba.core import caching, config
from numba.core.registry import CPUDispatcher

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
            return kernel_stamp()

    KernelCacheLocator.__name__ = "Kernel" + locator.__name__.lstrip("_")
    return KernelCacheLocator


@functools.lru_cache(maxsize=None)
def kernel_stamp():
    """The stamp of every cached kernel: the kernel sources and what the
    compiled code took from this machine besides Numba's CPU name and features
    (the cache sizes the GEMM blocking follows, ``cache_sizes.py``)."""
    from .cache_sizes import fingerprint
    return hashlib.sha256(kernel_sources_hash() + fingerprint().encode()).digest()


def user_cache_dir():
    """The platform's per-user cache folder for nbkeras."""
    if sys.platform == "win32":
        root = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        root = os.path.expanduser("~/Library/Caches")
    else:
        root = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(root, "nbkeras")


def kernel_cache_dir():
    """Where this nbkeras's kernels are cached when NUMBA_CACHE_DIR is not set."""
    import numba
    return os.path.join(user_cache_dir(), f"numba-{numba.__version__}",
                        f"kernels-{kernel_stamp().hex()[:16]}")


def _user_folder(locator):
    """The stamped ``locator`` pointed at :func:`kernel_cache_dir` (unless the user
    chose NUMBA_CACHE_DIR, which the stamped user-provided locator serves)."""
    class KernelUserFolderCacheLocator(locator):
        def __init__(self, py_func, py_file):
            super().__init__(py_func, py_file)
            self._cache_path = kernel_cache_dir()

        @classmethod
        def from_function(cls, py_func, py_file):
            if config.CACHE_DIR:
                return None
            return super().from_function(py_func, py_file)

    return KernelUserFolderCacheLocator


def _install_cache_stamp():
    """Put the stamped locators first in Numba's list; if this Numba's caching
    internals differ, keep its own per-file stamps and places (and say nothing)."""
    names = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")
    bases = [getattr(caching, n, None) or getattr(caching, "_" + n, None) for n in names]
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if None in bases or not isinstance(classes, list):
        return
    if not any(getattr(c, "__name__", "").startswith("Kernel") for c in classes):
        stamped = [_stamped(base) for base in bases]
        classes[:0] = [stamped[0], _user_folder(stamped[2])] + stamped[1:]


_install_cache_stamp()


class InnerKernel(CPUDispatcher):
    """A kernel that only other kernels call: compiled without the Python entry
    Numba would otherwise build for it (and without a C entry), which saves
    a fifth to a third of a small kernel's compile. Called from Python it would
    crash, so it refuses instead."""

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.py_func.__module__}.{self.py_func.__name__} runs inside "
                        "other kernels only: it has no Python entry")


def kernel(fn=None, *, parallel=False, inline=False, inner=False):
    """Compile ``fn`` as a CPU kernel: ``@kernel``, ``@kernel(parallel=True)``.

    ``inline=True`` is for helpers of a kernel: Numba pastes their code into the
    caller instead of compiling them as a function of their own. A callee
    compiled on its own is optimised and translated again inside every caller,
    and again at each level above (the GEMM's tile code was compiled five times
    per product kernel), so the big helpers of one entry point are inlined.

    ``inner=True`` is for a kernel called only by kernels (directly or by its
    address, ``pointer.py``): see :class:`InnerKernel`.

    No kernel gets the C entry (``cfunc`` wrapper) Numba builds by default:
    nothing calls a kernel as a C function, and it was about a sixth of a
    small kernel's compile (softmax_forward: 0.12 of 0.73 s).

    Arithmetic errors follow NumPy (``error_model="numpy"``): a float division
    by zero gives inf or NaN, as in NumPy and Keras (a NaN loss that
    TerminateOnNaN sees, not a ZeroDivisionError from inside a kernel). It
    also lets a loop with a division vectorise: Python's model checks every
    divisor, and Adam's update over 10^6 weights took 3.6-4.5 ms on one
    thread with the check, 0.6-0.8 ms without it (AMD EPYC Zen 3)."""
    def wrap(f):
        options = dict(no_cfunc_wrapper=True, no_cpython_wrapper=inner)
        dispatcher = njit(cache=True, fastmath=set(FASTMATH), parallel=parallel, nogil=True,
                          error_model="numpy",
                          inline="always" if inline else "never", **options)(f)
        if inner:
            dispatcher.__class__ = InnerKernel
        return dispatcher
    return wrap(fn) if fn is not None else wrap

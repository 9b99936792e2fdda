"""The data cache sizes of the CPU the kernels run on, which the GEMM's blocking
is derived from (``gemm.py``).

Read once, at import, from Linux's sysfs (``/sys/devices/system/cpu/cpu0/cache``:
one ``index*`` folder per cache with its ``level``, ``type`` and ``size``), else
from ``os.sysconf`` where the C library knows them, else assumed. The sizes
are part of the kernels' cache stamp (``_jit.py``): Numba compiles the blocking
into the code as constants, so code compiled for one machine's caches is not
loaded on a machine with other caches.
"""
import os

#: assumed when the CPU does not say: the smallest per-core sizes of the x86
#: CPUs these kernels were measured on (AMD Zen 3: 32 KB L1d, 512 KB L2)
DEFAULT_BYTES = {1: 32 * 1024, 2: 512 * 1024}
_SYSFS = "/sys/devices/system/cpu/cpu0/cache"
_SYSCONF = {1: "SC_LEVEL1_DCACHE_SIZE", 2: "SC_LEVEL2_CACHE_SIZE"}


def parse_size(text):
    """Bytes in a sysfs cache size such as ``48K``, ``2048K``, ``1M`` or ``512``."""
    text = text.strip().upper()
    scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def _read(path):
    with open(path) as f:
        return f.read().strip()


def from_sysfs(root=_SYSFS):
    """{level: bytes} of the data (or unified) caches listed under ``root``."""
    sizes = {}
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return sizes
    for name in names:
        folder = os.path.join(root, name)
        try:
            level = int(_read(os.path.join(folder, "level")))
            kind = _read(os.path.join(folder, "type"))
            size = parse_size(_read(os.path.join(folder, "size")))
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and size > 0:
            sizes.setdefault(level, size)
    return sizes


def from_sysconf():
    """{level: bytes} as the C library reports them (glibc), where it does."""
    sizes = {}
    for level, name in _SYSCONF.items():
        try:
            size = os.sysconf(name)
        except (ValueError, OSError, AttributeError):
            continue
        if size > 0:
            sizes[level] = size
    return sizes


def data_cache_bytes(root=_SYSFS):
    """{1: L1 data bytes, 2: L2 bytes} of one core: sysfs, sysconf, or assumed."""
    found = {**DEFAULT_BYTES, **from_sysconf(), **from_sysfs(root)}
    return {level: found[level] for level in DEFAULT_BYTES}


#: this CPU's per-core L1 data and L2 sizes in bytes (what the GEMM blocking follows)
L1_BYTES, L2_BYTES = (data_cache_bytes()[level] for level in (1, 2))


def fingerprint():
    """What the compiled kernels depend on here, as text for their cache stamp."""
    return f"l1={L1_BYTES},l2={L2_BYTES}"

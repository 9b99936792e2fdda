"""Keep the memory of freed NumPy arrays in the process, not given back to Linux.

A training step allocates the same large arrays every step (the shuffled
batch NumPy gathers, a few workspaces) and frees them again. glibc serves a
block over its mmap threshold (128 KB at first, raised up to 32 MB as such
blocks are freed) straight from the kernel, and gives the top of its heap
back once more than the trim threshold (twice the mmap threshold) is free
there. Either way every step's arrays arrived as fresh pages, each a page
fault on its first touch: the seed CNN at batch 128, 369 faults a step, the
batch's 1.5 MB (AMD EPYC Zen 4, 2 threads).

:func:`keep_freed_memory` fixes both thresholds where glibc's own adjustment
ends, 32 MB and 64 MB (``mallopt``: setting them stops that adjustment), so
blocks up to 32 MB come from the heap and up to 64 MB of freed memory stay in
it: no fault a step at batch 32, 97 at batch 128 (in the threads' own
arenas), the step 5-9% faster. The cost is that much more memory kept by the
process. Only with glibc; a threshold the user set (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``) is kept, and ``NBKERAS_KEEP_FREED_MEMORY=0``
leaves glibc as it is.
"""
import ctypes
import os
import platform
import sys

#: mallopt's parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: the largest mmap threshold glibc's own adjustment reaches on 64-bit, and
#: the trim threshold it sets with it
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


def keep_freed_memory(environ=os.environ):
    """Set glibc's thresholds as above; True if they were set."""
    if environ.get("NBKERAS_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in environ or "MALLOC_TRIM_THRESHOLD_" in environ:
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

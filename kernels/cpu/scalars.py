"""The larger and the smaller of two numbers, inside kernels.

Python's ``max`` and ``min`` in a Numba kernel each compile as an overload of
their own, once per process and signature and outside the kernel cache: the
seed CNN's first epoch compiled four of them, about 0.4 s. These two are
pasted into the caller instead (``inline``) and keep the builtins' rule: the
first argument unless the second is strictly larger (smaller), so a NaN first
argument is returned and a NaN second one is not.
"""
from ._jit import kernel


@kernel(inline=True)
def larger(a, b):
    """max(a, b) as Python and Numba define it for two numbers."""
    return b if b > a else a


@kernel(inline=True)
def smaller(a, b):
    """min(a, b) as Python and Numba define it for two numbers."""
    return b if b < a else a

"""Copying NHWC images into a larger or smaller frame: padding an input and
cropping an input gradient (``conv.py``, ``winograd_gradient.py``)."""
from numba import prange
import numpy as np

from ._jit import kernel
from .scalars import larger, smaller

_ZERO = np.float32(0.0)


@kernel(parallel=True)
def place(src, top, left, out):
    """out[b, top + i, left + j] = src[b, i, j] where that pixel exists in ``out``;
    every other pixel of ``out`` is 0 (NHWC, the same channels).

    Pads the input (top, left >= 0) and crops the input gradient (top, left
    <= 0). Output rows are split over the threads. Flat loops: Numba's slice
    assignment on 4-D arrays took seconds to compile.
    """
    n, hs, ws, c = src.shape
    ho, wo = out.shape[1], out.shape[2]
    flat_src, flat_out = src.reshape(-1), out.reshape(-1)
    # the source columns whose target column lies inside ``out``
    j0, j1 = larger(0, -left), smaller(ws, wo - left)
    for row in prange(n * ho):
        b = row // ho
        i = row - b * ho
        target = flat_out[row * wo * c:(row + 1) * wo * c]
        for k in range(wo * c):
            target[k] = _ZERO
        si = i - top
        if si < 0 or si >= hs:
            continue
        for j in range(j0, j1):
            start = ((b * hs + si) * ws + j) * c
            at = (left + j) * c
            for k in range(c):
                target[at + k] = flat_src[start + k]

"""Element-wise kernels on flat, C-contiguous float32 1-D arrays."""
import math

import numpy as np
from numba import prange

from ._jit import kernel
from .activations import row_range


@kernel(parallel=True)
def accumulate(dst, src, chunks):
    """dst += src for two flat float32 arrays of equal length, split over ``chunks``."""
    n = dst.shape[0]
    for t in prange(chunks):
        i0, i1 = row_range(n, chunks, t)
        # slices indexed from 0 (see activation_grad_rows): the loop vectorises
        d = dst[i0:i1]
        s = src[i0:i1]
        for i in range(i1 - i0):
            d[i] += s[i]


@kernel(parallel=True)
def erf(x, out, chunks):
    """out = erf(x) for two flat float32 arrays of equal length."""
    n = x.shape[0]
    for t in prange(chunks):
        i0, i1 = row_range(n, chunks, t)
        src = x[i0:i1]
        dst = out[i0:i1]
        for i in range(i1 - i0):
            dst[i] = np.float32(math.erf(src[i]))

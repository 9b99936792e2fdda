"""Max pooling as the epilogue of a convolution's product, and its gradient.

When the product's rows are ordered window by window (the ``group`` = ph*pw
output pixels of each non-overlapping pooling window in consecutive rows, see
``conv.window_pixel_offsets``), pooling is a max over groups of rows, taken
while the block of rows is still in cache. The full-size convolution output is
never written: for the seed CNN's first layer at batch 128 that is 14.7 MB
written, read back by the pooling layer, and read twice more by the backward.

Bias and any non-decreasing activation commute with the max (max(f(z + b)) =
f(max(z) + b), exactly, as rounding is monotone too), so they run on the pooled
rows only. The gradient goes to the window's maximum, the first one in scan
order, as an unfused max pooling would route it; ``arg`` keeps its index.
"""
import numpy as np

from ._jit import kernel
from ..codes import LINEAR, RELU
from .activations import derivative

_ZERO = np.float32(0.0)


@kernel(inner=True)
def max_over_windows(block, rows, group, y, w0, arg):
    """y[w0 + i] = the maximum of rows [i*group, (i+1)*group) of ``block`` (flat,
    rows of y's width) for each whole window i of the first ``rows`` rows; NaN
    wins (as unfused max pooling). ``arg`` (int8, y's shape, or empty) receives
    the index in its window of the row that gave each maximum (the first of
    equal ones).

    Windows of up to 4 rows (2x2, the usual pooling) run straight-line code
    over four rows, a missing one repeated (a repeated row never wins): LLVM
    vectorises it over the channels, where a loop over the window's rows stays
    scalar (0.4 against 3.5 us for 128 rows of 32 channels, 1.3 against 9 with
    the index)."""
    n = y.shape[1]
    keep = arg.shape[0] > 0
    last = group - 1
    for i in range(rows // group):
        base = i * group * n
        out = y[w0 + i]
        if group > 4:
            _max_of_rows(block[base:base + group * n], group, out,
                         arg[w0 + i] if keep else arg[0:0, 0], keep)
            continue
        i1, i2, i3 = min(1, last), min(2, last), min(3, last)
        r0 = block[base:base + n]
        r1 = block[base + i1 * n:base + (i1 + 1) * n]
        r2 = block[base + i2 * n:base + (i2 + 1) * n]
        r3 = block[base + i3 * n:base + (i3 + 1) * n]
        if keep:
            at = arg[w0 + i]
            for c in range(n):
                m, a = r0[c], np.int8(0)
                v = r1[c]
                win = v > m or v != v
                m, a = (v, np.int8(i1)) if win else (m, a)
                v = r2[c]
                win = v > m or v != v
                m, a = (v, np.int8(i2)) if win else (m, a)
                v = r3[c]
                win = v > m or v != v
                out[c], at[c] = (v, np.int8(i3)) if win else (m, a)
        else:
            for c in range(n):
                m = r0[c]
                v = r1[c]
                m = v if v > m or v != v else m
                v = r2[c]
                m = v if v > m or v != v else m
                v = r3[c]
                out[c] = v if v > m or v != v else m


@kernel(inline=True)
def _max_of_rows(window, group, out, at, keep):
    """The same for a window of any number of rows, row by row."""
    n = out.shape[0]
    for c in range(n):
        out[c] = window[c]
    if keep:
        for c in range(n):
            at[c] = 0
    for g in range(1, group):
        row = window[g * n:(g + 1) * n]
        for c in range(n):
            v = row[c]
            win = v > out[c] or v != v
            if keep:
                at[c] = np.int8(g) if win else at[c]
            out[c] = v if win else out[c]


@kernel(inner=True)
def route_to_max(y, dy, arg, group, code, alpha, b, w0, w1, first, db_partial):
    """For windows [w0, w1): g = dy * f'(pooled output) (f's derivative from its
    output, as for every activation that may be fused); row w*group + arg - first
    of the product's B operand ``b`` (rows of >= y's width) receives g and the
    window's other rows 0. Adds g's column sums into ``db_partial`` unless it
    is empty."""
    n = y.shape[1]
    width = b.shape[1]
    sums = db_partial.shape[0] > 0
    value = np.empty(n, dtype=np.float32)
    for w in range(w0, w1):
        out, grad, at = y[w], dy[w], arg[w]
        if code == RELU:
            for c in range(n):
                value[c] = grad[c] if out[c] > _ZERO else _ZERO
        elif code == LINEAR:
            for c in range(n):
                value[c] = grad[c]
        else:
            for c in range(n):
                value[c] = grad[c] * derivative(code, out[c], out[c], alpha)
        # each of the window's rows written once, a select per channel: this
        # vectorises, where zeroing the rows and storing the maxima one by one
        # did not
        for g in range(group):
            row = b[w * group + g - first]
            mine = np.int8(g)
            for c in range(n):
                row[c] = value[c] if at[c] == mine else _ZERO
            for c in range(n, width):
                row[c] = _ZERO
        if sums:
            for c in range(n):
                db_partial[c] += value[c]

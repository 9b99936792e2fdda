"""Summing a product's rows back into the image they are patches of (col2im), as
the epilogue of the input gradient's product.

The input gradient of a convolution is dx = col2im(dz @ w2^T): row r of the
product is the gradient of the patch output pixel r read, added where that
patch lies. The offset tables are the forward pass's own (``origins`` = where
each pixel's patch starts, as ``row_off`` there), so padding, strides and the
fused pooling's window order need nothing of their own; the product does the
useful multiply-adds only (the transposed convolution over zero-padded,
stride-spread dz did up to 2.25x as many for the seed CNN's layers).
"""
import numpy as np

from ._jit import kernel

_ZERO = np.float32(0.0)


@kernel(inner=True)
def add_patches(block, s, e, group, n, origins, runs, target):
    """Rows [s, e) of the product (``block`` holds them flat, rows of ``n``) added
    into ``target`` at their patches: row r's n values are ``runs.shape[0]``
    contiguous runs, run k at target[origins[r] + runs[k]]. ``target`` (flat)
    is one equal part per ``group`` rows (a sample); those parts of rows
    [s, e) (whole samples) are zeroed first."""
    samples = origins.shape[0] // group
    size = target.shape[0] // samples
    for k in range(s // group * size, e // group * size):
        target[k] = _ZERO
    span = n // runs.shape[0]
    for r in range(e - s):
        row = block[r * n:(r + 1) * n]
        origin = origins[s + r]
        for k in range(runs.shape[0]):
            dst = target[origin + runs[k]:origin + runs[k] + span]
            src = row[k * span:(k + 1) * span]
            for j in range(span):
                dst[j] += src[j]

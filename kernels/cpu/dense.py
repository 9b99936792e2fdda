"""Dense (fully connected) layer: BLAS GEMM with a fused bias + activation epilogue.

Forward:  z = x @ w (+ b), y = f(z).
Backward: dz = dy * f'(z), db = sum(dz), dw = x^T dz, dx = dz w^T.
``np.dot`` inside @njit goes to the BLAS SciPy ships; operands are float32 and
contiguous (a transposed C array is F-contiguous, which BLAS takes as is).
"""
import numpy as np

from ._jit import kernel
from .activations import bias_activation_forward, bias_activation_backward


@kernel
def matmul(a, b, out):
    """out = a @ b (float32 GEMM through BLAS)."""
    np.dot(a, b, out)


@kernel
def dense_forward(x, w, b, code, alpha, z, y):
    """z = x @ w + b; y = f(z). ``y`` may be ``z`` (linear); ``b`` may be empty."""
    np.dot(x, w, z)
    bias_activation_forward(z, b, code, alpha, y)


@kernel
def dense_backward(x, w, z, y, dy, code, alpha, dz, dw, db, dx):
    """Parameter gradients into ``dw``/``db`` and, unless ``dx`` is empty, the input gradient.

    ``dz`` is workspace of z's shape (it may be ``dy``).
    """
    bias_activation_backward(z, y, dy, code, alpha, dz, db)
    np.dot(x.T, dz, dw)
    if dx.shape[0] > 0:
        np.dot(dz, w.T, dx)

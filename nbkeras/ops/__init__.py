"""``nbkeras.ops``: Keras 3's op set, each op with its gradient.

Called on arrays they compute and return arrays; inside a model being trained
(a recording tape) they record their vector-Jacobian products, so a custom
layer, loss or metric written with them trains with no backward pass to write;
on symbolic KerasTensors they add nodes to a functional graph.
"""
from . import nn
from .core import convert_to_tensor, convert_to_numpy, stop_gradient, is_tensor, dtype
from .math import logsumexp, erf, norm
from .nn import (relu, relu6, sigmoid, tanh, softplus, softsign, silu, swish, selu,
                 hard_sigmoid, elu, leaky_relu, gelu, softmax, log_softmax, log_sigmoid)
from .numpy import (add, subtract, multiply, divide, true_divide, power, maximum, minimum,
                    floor_divide, mod, negative, sqrt, square, exp, log, log1p, abs,
                    absolute, sign, cos, sin, clip, where, less, less_equal, greater,
                    greater_equal, equal, not_equal, matmul, dot, einsum, sum, mean, max,
                    amax, min, amin, prod, var, std, argmax, argmin, cumsum, reshape,
                    expand_dims, squeeze, transpose, broadcast_to, flip, tile, swapaxes,
                    concatenate, stack, split, take, take_along_axis, get_item, cast, zeros,
                    ones, full, zeros_like, ones_like, full_like, arange, eye, one_hot, shape,
                    size, ndim)
from .op import Op

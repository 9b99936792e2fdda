"""nbkeras: the Keras API on Numba kernels.

``import nbkeras as keras`` and a classic Keras script runs unchanged.
"""
__version__ = "0.1.0"

from . import backend, tree, activations, initializers, losses, metrics, optimizers, callbacks
from . import ops, layers, models, utils, datasets, saving
from .engine.gradient_tape import GradientTape
from .engine.keras_tensor import KerasTensor
from .layers import Input, Layer
from .models import Model, Sequential
from .variables import Variable

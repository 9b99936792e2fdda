"""Keras activations by name, as specs the kernels understand, and as functions.

An :class:`Activation` is what a layer fuses into its epilogue: an element-wise
kernel code (with its ``alpha``) or softmax, which is row-wise and runs after a
linear epilogue. Calling one on an array applies it (``keras.activations.relu(x)``).
"""
import numpy as np

from . import backend

_codes = backend.codes  # the kernels' activation codes, through the one door
ACTIVATION_CODES, LINEAR, LEAKY_RELU, ELU = (_codes.ACTIVATION_CODES, _codes.LINEAR,
                                             _codes.LEAKY_RELU, _codes.ELU)
DERIVATIVE_FROM_OUTPUT = _codes.DERIVATIVE_FROM_OUTPUT


class Activation:
    """An activation function: ``name``, kernel ``code``, parameter ``alpha``."""

    def __init__(self, name, alpha=0.0):
        self.name = name
        self.is_softmax = name == "softmax"
        self.code = LINEAR if self.is_softmax else ACTIVATION_CODES[name]
        self.alpha = np.float32(alpha)
        self.is_linear = self.code == LINEAR and not self.is_softmax
        # output may overwrite the pre-activation (see kernels.codes)
        self.in_place = self.is_linear or (not self.is_softmax
                                           and self.code in DERIVATIVE_FROM_OUTPUT)

    def __call__(self, x):
        x = backend.to_device(x)
        flat = x.reshape(-1, x.shape[-1] if x.ndim else 1)
        y = backend.empty(flat.shape)
        z = flat.copy()
        ops = backend.ops()
        ops.bias_activation_forward(z, backend.empty((0,)), self.code, self.alpha, y,
                                    backend.num_threads())
        if self.is_softmax:
            ops.softmax_forward(z, y)
        return y.reshape(x.shape)

    def __repr__(self):
        return f"<activation {self.name}>"


_DEFAULT_ALPHA = {LEAKY_RELU: 0.2, ELU: 1.0}
KNOWN = sorted(list(ACTIVATION_CODES) + ["softmax"])


def get(identifier):
    """Resolve None, a name, one of this module's functions (``activations.relu``), its
    serialized form, or an :class:`Activation` into an :class:`Activation`."""
    if identifier is None:
        return Activation("linear")
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":
        identifier = identifier.get("config")
    elif callable(identifier) and globals().get(getattr(identifier, "__name__", None)) \
            is identifier:
        identifier = identifier.__name__
    if isinstance(identifier, str):
        name = identifier.lower()
        if name == "softmax":
            return Activation(name)
        if name in ACTIVATION_CODES:
            return Activation(name, _DEFAULT_ALPHA.get(ACTIVATION_CODES[name], 0.0))
        raise ValueError(
            f"Unknown activation {identifier!r}. Expected one of: {', '.join(KNOWN)}.")
    raise ValueError(
        f"Could not interpret activation {identifier!r}: pass a name such as 'relu' "
        f"or None. Custom callables are not supported yet.")


def serialize(activation):
    """An activation's name, as Keras writes it in a layer config."""
    return get(activation).name


def deserialize(config, custom_objects=None):
    """The activation named by ``config`` (a name or a serialized function)."""
    return get(config)


def _function(name):
    def fn(x):
        return get(name)(x)
    fn.__name__ = name
    fn.__doc__ = f"The {name} activation applied element-wise (softmax: over the last axis)."
    return fn


for _name in KNOWN:
    globals()[_name] = _function(_name)
swish = globals()["silu"]

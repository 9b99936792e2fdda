"""Weight initializers with Keras 3's math, defaults and names.

Every initializer is a callable ``init(shape, dtype="float32")`` that returns a
NumPy array (float32 unless another dtype is asked for).  Random initializers
draw from :func:`nbkeras.random.make_generator`: with ``seed=None`` they use the
global generator (so ``nbkeras.random.seed(n)`` makes a run repeatable and two
calls give different values); with an integer ``seed`` a fresh generator is made
from that seed on every call, so -- as in Keras -- each call returns the same
values.
"""
import math
import re

import numpy as np

from nbkeras import random as _random

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "Identity",
    "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
    "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
    "LecunUniform", "LecunNormal", "Orthogonal",
    "compute_fans", "get", "serialize", "deserialize",
]

# Keras's correction so that a normal truncated at +-2 stddev has the wanted
# standard deviation: the std of a standard normal truncated to (-2, 2).
_TRUNCATION_STDDEV_CORRECTION = 0.87962566103423978


def _float_dtype(dtype):
    return np.dtype(np.float32 if dtype is None else dtype)


def _shape_tuple(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(d) for d in shape)


def _plain(value):
    """A JSON-friendly version of a config value."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype)``."""

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError(
            "Initializer subclasses must implement the `__call__()` method.")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.__class__.__name__}({args})"


# --------------------------------------------------------------------------
# Constant initializers
# --------------------------------------------------------------------------


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype="float32"):
        return np.zeros(_shape_tuple(shape), dtype=_float_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype="float32"):
        return np.ones(_shape_tuple(shape), dtype=_float_dtype(dtype))


class Constant(Initializer):
    """Every element equal to ``value`` (a scalar, or an array that broadcasts)."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype="float32"):
        dtype = _float_dtype(dtype)
        value = np.asarray(self.value, dtype=dtype)
        return np.array(value * np.ones(_shape_tuple(shape), dtype=dtype), dtype=dtype)

    def get_config(self):
        return {"value": _plain(self.value)}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only, may be non-square)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        shape = _shape_tuple(shape)
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}.")
        dtype = _float_dtype(dtype)
        return (np.eye(*shape) * self.gain).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


# --------------------------------------------------------------------------
# Random initializers
# --------------------------------------------------------------------------


def _standard_normal(rng, shape):
    return rng.standard_normal(shape)


def _truncated_standard_normal(rng, shape):
    """Standard normal samples; any outside (-2, 2) is redrawn (as Keras does)."""
    out = rng.standard_normal(shape)
    flat = out.reshape(-1)
    bad = np.flatnonzero(np.abs(flat) >= 2.0)
    while bad.size:
        flat[bad] = rng.standard_normal(bad.size)
        bad = bad[np.abs(flat[bad]) >= 2.0]
    return out


class RandomInitializer(Initializer):
    """Base of the random initializers: holds and validates ``seed``."""

    def __init__(self, seed=None):
        if seed is not None and not isinstance(
                seed, (int, np.integer, np.random.Generator)):
            raise ValueError(
                "`seed` argument should be an integer, a numpy Generator or "
                f"None. Received: seed={seed}")
        if isinstance(seed, np.integer):
            seed = int(seed)
        self.seed = seed

    def _rng(self):
        # A new generator from an integer seed on every call: same values on
        # each call, as Keras gives for an integer seed.
        return _random.make_generator(self.seed)

    def get_config(self):
        seed = self.seed if not isinstance(self.seed, np.random.Generator) else None
        return {"seed": seed}


class RandomNormal(RandomInitializer):
    """Normal distribution ``N(mean, stddev)``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype="float32"):
        x = _standard_normal(self._rng(), _shape_tuple(shape))
        return (x * self.stddev + self.mean).astype(_float_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal ``N(mean, stddev)`` with samples beyond 2 stddev redrawn."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype="float32"):
        x = _truncated_standard_normal(self._rng(), _shape_tuple(shape))
        return (x * self.stddev + self.mean).astype(_float_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform distribution on ``[minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype="float32"):
        x = self._rng().uniform(self.minval, self.maxval, _shape_tuple(shape))
        return x.astype(_float_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


def compute_fans(shape, input_axes=None, output_axes=None):
    """``(fan_in, fan_out)`` of a weight shape, computed as Keras does.

    Rank 0: (1, 1); rank 1: (n, n); rank 2: (in, out); rank > 2 (convolution
    kernels ``(..., in, out)``): both multiplied by the receptive field size,
    the product of all dims but the last two.  With explicit ``input_axes`` and
    ``output_axes`` the fans are the products of those dims.
    """
    shape = _shape_tuple(shape)
    if input_axes is not None and output_axes is not None:
        fan_in = 1
        for axis in input_axes:
            fan_in *= shape[axis]
        fan_out = 1
        for axis in output_axes:
            fan_out *= shape[axis]
        return int(fan_in), int(fan_out)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(RandomInitializer):
    """Scale adapted to the fans of the weight shape.

    ``n`` is fan_in, fan_out or their mean (``mode``), floored at 1.  Normal
    distributions get ``stddev = sqrt(scale / n)`` (divided by 0.8796... for
    the truncated one, so the std after truncation is right); ``"uniform"``
    draws from ``[-limit, limit)`` with ``limit = sqrt(3 * scale / n)``.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal",
                 seed=None, input_axes=None, output_axes=None):
        if scale <= 0.0:
            raise ValueError(
                f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in self._MODES:
            raise ValueError(
                f"Invalid `mode` argument: {mode}. Please use one of {self._MODES}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution}. "
                f"Please use one of {self._DISTRIBUTIONS}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def _scale_over_n(self, shape):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        if self.mode == "fan_in":
            n = fan_in
        elif self.mode == "fan_out":
            n = fan_out
        else:
            n = (fan_in + fan_out) / 2.0
        return self.scale / max(1.0, n)

    def stddev(self, shape):
        """The stddev parameter used for a normal draw of ``shape``."""
        s = math.sqrt(self._scale_over_n(shape))
        if self.distribution == "truncated_normal":
            s /= _TRUNCATION_STDDEV_CORRECTION
        return s

    def limit(self, shape):
        """The bound of the uniform draw for ``shape``."""
        return math.sqrt(3.0 * self._scale_over_n(shape))

    def __call__(self, shape, dtype="float32"):
        shape = _shape_tuple(shape)
        dtype = _float_dtype(dtype)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            x = _truncated_standard_normal(rng, shape) * self.stddev(shape)
        elif self.distribution == "untruncated_normal":
            x = _standard_normal(rng, shape) * self.stddev(shape)
        else:
            lim = self.limit(shape)
            x = rng.uniform(-lim, lim, shape)
        return x.astype(dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _VarianceScalingPreset(VarianceScaling):
    _preset = None  # (scale, mode, distribution)

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        scale, mode, distribution = self._preset
        super().__init__(scale=scale, mode=mode, distribution=distribution,
                         seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": RandomInitializer.get_config(self)["seed"],
                "input_axes": self.input_axes,
                "output_axes": self.output_axes}


class GlorotUniform(_VarianceScalingPreset):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``."""
    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_VarianceScalingPreset):
    """Truncated normal with std ``sqrt(2 / (fan_in + fan_out))``."""
    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_VarianceScalingPreset):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(6 / fan_in)``."""
    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_VarianceScalingPreset):
    """Truncated normal with std ``sqrt(2 / fan_in)``."""
    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_VarianceScalingPreset):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(3 / fan_in)``."""
    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_VarianceScalingPreset):
    """Truncated normal with std ``sqrt(1 / fan_in)``."""
    _preset = (1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix times ``gain``, Keras's algorithm.

    The shape is flattened to ``(prod(shape[:-1]), shape[-1])``; a standard
    normal matrix of shape ``(max, min)`` of those is QR-factorised, Q's columns
    get the signs of R's diagonal, Q is transposed when rows < cols, then
    reshaped and multiplied by ``gain``.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype="float32"):
        shape = _shape_tuple(shape)
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={shape} of rank {len(shape)}.")
        num_rows = 1
        for d in shape[:-1]:
            num_rows *= d
        num_cols = shape[-1]
        flat_shape = (max(num_rows, num_cols), min(num_rows, num_cols))
        a = _standard_normal(self._rng(), flat_shape)
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if num_rows < num_cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(_float_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


# --------------------------------------------------------------------------
# Lookup
# --------------------------------------------------------------------------

# Keras 3's lowercase names are the classes themselves.
zeros = Zeros
ones = Ones
constant = Constant
identity = Identity
random_normal = RandomNormal
random_uniform = RandomUniform
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal
he_uniform = HeUniform
he_normal = HeNormal
lecun_uniform = LecunUniform
lecun_normal = LecunNormal
orthogonal = Orthogonal

_ALL_CLASSES = (
    Initializer, Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform,
    TruncatedNormal, VarianceScaling, GlorotUniform, GlorotNormal, HeUniform,
    HeNormal, LecunUniform, LecunNormal, Orthogonal,
)


def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_BY_NAME = {cls.__name__: cls for cls in _ALL_CLASSES}
_BY_NAME.update({_snake_case(cls.__name__): cls for cls in _ALL_CLASSES})
_BY_NAME.update({  # Keras 3's extra aliases
    "normal": RandomNormal,
    "uniform": RandomUniform,
    "one": Ones,
    "zero": Zeros,
    "IdentityInitializer": Identity,
    "OrthogonalInitializer": Orthogonal,
})


def _lookup(name):
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise ValueError(
            f"Unknown initializer: '{name}'. Known initializers: {known}."
        ) from None


def serialize(initializer):
    """``{"module", "class_name", "config", "registered_name"}`` as Keras writes it."""
    if initializer is None:
        return None
    return {
        "module": "keras.initializers",
        "class_name": initializer.__class__.__name__,
        "config": initializer.get_config(),
        "registered_name": None,
    }


def deserialize(config, custom_objects=None):
    """Inverse of :func:`serialize` (also accepts a bare name string); a custom
    initializer is found by its registered name or in ``custom_objects``."""
    if isinstance(config, str):
        return _lookup(config)()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret initializer config: {config}")
    if config["class_name"] == "function":  # a custom initializer function
        from nbkeras.saving.serialization import deserialize_keras_object
        return deserialize_keras_object(config, custom_objects)
    from nbkeras.saving.registry import get_registered_object
    cls = (get_registered_object(config.get("registered_name") or config["class_name"],
                                 custom_objects) or _lookup(config["class_name"]))
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """Resolve a name, config dict, class, instance, callable or array.

    ``None`` gives ``None``; a string (snake_case or CamelCase) or a
    ``{"class_name": ..., "config": ...}`` dict gives a new instance; a class
    is instantiated; an instance or other callable is returned unchanged; an
    array gives a function returning that array (for the matching shape).
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, (np.ndarray, np.generic)):
        value = np.asarray(identifier)

        def initialize_fn(shape, dtype="float32"):
            if _shape_tuple(shape) != value.shape:
                raise ValueError(
                    f"Expected `shape` to be {value.shape} for direct array as "
                    f"initializer. Received shape={shape}")
            return value.astype(_float_dtype(dtype))

        return initialize_fn
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier}")

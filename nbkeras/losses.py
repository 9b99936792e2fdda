"""Keras losses. Each computes the batch loss and its gradient in one kernel pass.

The training loop calls :meth:`Loss.value_and_grad`; users may also call a loss
on arrays (``keras.losses.SparseCategoricalCrossentropy()(y_true, y_pred)``).
Reduction is Keras's default, ``sum_over_batch_size`` (mean over samples of the
per-sample loss). ``fuses_with`` names the final activation whose backward the
loss can take over (softmax for categorical crossentropies, sigmoid for binary),
which is numerically the same as Keras and saves a pass.
"""
import numpy as np

from . import backend
from .kernels.codes import (FROM_PROBS, FROM_LOGITS, FUSED_OUTPUT, MEAN_SQUARED_ERROR,
                            MEAN_ABSOLUTE_ERROR, HUBER)


class Loss:
    fuses_with = None

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "sum", "none", None):
            raise ValueError(f"Loss '{name}': unknown reduction {reduction!r}; expected "
                             f"'sum_over_batch_size', 'sum' or 'none'.")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    # ----- the training path -----
    def prepare_targets(self, y_true, output_shape):
        """Validate ``y_true`` against the model output shape once, before training.

        Returns the targets in the form ``value_and_grad`` takes (float32 or int).
        """
        y = np.asarray(y_true)
        if y.ndim == len(output_shape) - 1:
            y = y.reshape(y.shape + (1,))
        if y.shape[1:] != tuple(output_shape[1:]):
            raise ValueError(
                f"Loss '{self.name}': targets of shape {y.shape[1:]} per sample do not "
                f"match the model output shape {tuple(output_shape[1:])} per sample.")
        return np.ascontiguousarray(y, dtype=np.float32)

    def value_and_grad(self, y_pred, targets, fused):
        """(mean loss, dL/d(input)) for a batch; the gradient is w.r.t. the output
        or, when ``fused``, w.r.t. the final activation's input."""
        out = y_pred.reshape(-1, y_pred.shape[-1])
        rows = y_pred.shape[0]
        losses = backend.empty((out.shape[0],))
        grad = backend.empty(out.shape)
        scale = np.float32(1.0 / rows if self.reduction == "sum_over_batch_size" else 1.0)
        self._kernel(out, targets.reshape(out.shape[0], -1), fused, scale, losses, grad)
        per_sample = losses.reshape(y_pred.shape[:-1]).reshape(rows, -1).mean(axis=1)
        return self._reduce(per_sample), grad.reshape(y_pred.shape)

    def _reduce(self, per_sample):
        if self.reduction == "sum":
            return float(per_sample.sum(dtype=np.float32))
        if self.reduction in ("none", None):
            return per_sample
        return float(per_sample.mean(dtype=np.float32))

    def _kernel(self, out, targets, fused, scale, losses, grad):
        raise NotImplementedError

    # ----- the user path -----
    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError(f"Loss '{self.name}': sample_weight is not supported yet.")
        y_pred = backend.to_device(y_pred)
        targets = self.prepare_targets(y_true, y_pred.shape)
        value, _ = self.value_and_grad(y_pred, targets, fused=False)
        return value

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


class _Crossentropy(Loss):
    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.from_logits = bool(from_logits)
        if self.from_logits:
            self.fuses_with = None

    def _mode(self, fused):
        if self.from_logits:
            return FROM_LOGITS
        return FUSED_OUTPUT if fused else FROM_PROBS

    def get_config(self):
        config = super().get_config()
        config["from_logits"] = self.from_logits
        return config


class CategoricalCrossentropy(_Crossentropy):
    fuses_with = "softmax"

    def _kernel(self, out, targets, fused, scale, losses, grad):
        backend.ops().categorical_crossentropy(out, targets, self._mode(fused),
                                               np.float32(backend.epsilon()), scale,
                                               losses, grad)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Integer class labels, shape (N,) or (N, 1), against (N, classes) outputs."""

    def prepare_targets(self, y_true, output_shape):
        y = np.asarray(y_true)
        classes = output_shape[-1]
        if y.ndim == len(output_shape) and y.shape[-1] == 1:
            y = y.reshape(y.shape[:-1])
        if y.shape[1:] != tuple(output_shape[1:-1]):
            raise ValueError(
                f"Loss '{self.name}': integer labels of shape {np.asarray(y_true).shape} "
                f"do not fit model outputs of shape {tuple(output_shape)}; expected labels "
                f"of shape (N,) or (N, 1) holding class indices.")
        if y.size and not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.equal(np.mod(y, 1), 0)):
                raise ValueError(f"Loss '{self.name}': labels must be integer class "
                                 f"indices, received non-integer values (dtype {y.dtype}).")
        if y.size and (y.min() < 0 or y.max() >= classes):  # before any int cast
            bad = y.min() if y.min() < 0 else y.max()
            raise ValueError(
                f"Loss '{self.name}': received a label value of {bad} which is outside "
                f"the valid range of [0, {classes}) for a model output of {classes} classes.")
        y = y.astype(np.int64)
        return np.ascontiguousarray(y.reshape(-1))

    def value_and_grad(self, y_pred, targets, fused):
        classes = y_pred.shape[-1]
        onehot = backend.empty((targets.shape[0], classes))
        backend.ops().sparse_to_onehot(targets, classes, onehot)
        return super().value_and_grad(y_pred, onehot, fused)


class BinaryCrossentropy(_Crossentropy):
    fuses_with = "sigmoid"

    def _kernel(self, out, targets, fused, scale, losses, grad):
        backend.ops().binary_crossentropy(out, targets, self._mode(fused),
                                          np.float32(backend.epsilon()), scale, losses, grad)


class _Regression(Loss):
    kind = None
    delta = 1.0

    def _kernel(self, out, targets, fused, scale, losses, grad):
        backend.ops().regression_loss(out, targets, self.kind, np.float32(self.delta),
                                      scale, losses, grad)


class MeanSquaredError(_Regression):
    kind = MEAN_SQUARED_ERROR


class MeanAbsoluteError(_Regression):
    kind = MEAN_ABSOLUTE_ERROR


class Huber(_Regression):
    kind = HUBER

    def __init__(self, delta=1.0, name="huber_loss", reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.delta = float(delta)

    def get_config(self):
        config = super().get_config()
        config["delta"] = self.delta
        return config


def _snake(name):
    from .utils.naming import to_snake_case
    return to_snake_case(name)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
}
_BY_CLASS = {cls.__name__: cls for cls in set(_BY_NAME.values())}


def get(identifier):
    """Resolve a loss name, class name, instance or config dict into a :class:`Loss`."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        cls = _BY_CLASS.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown loss class {identifier.get('class_name')!r}.")
        return cls(**identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower()) or _BY_CLASS.get(identifier)
        if cls is not None:
            return cls()
    known = sorted(_BY_NAME)
    raise ValueError(f"Unknown loss {identifier!r}. Expected one of: {', '.join(known)} "
                     f"or a nbkeras.losses.Loss instance.")


def _per_sample(cls, **kwargs):
    def fn(y_true, y_pred):
        return cls(reduction="none", **kwargs)(y_true, y_pred)
    return fn


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    return SparseCategoricalCrossentropy(from_logits, reduction="none")(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    return CategoricalCrossentropy(from_logits, reduction="none")(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    return BinaryCrossentropy(from_logits, reduction="none")(y_true, y_pred)


mean_squared_error = mse = _per_sample(MeanSquaredError)
mean_absolute_error = mae = _per_sample(MeanAbsoluteError)
huber = _per_sample(Huber)

"""Keras losses.

Built-in losses are fused ops: one kernel pass gives the per-sample losses and
the gradient. While a tape records, calling one records an entry whose backward
hands that gradient on; where Keras allows (softmax + categorical crossentropy,
sigmoid + binary crossentropy) and the prediction feeds nothing else, the
gradient is taken through the final activation too and that layer skips its own
activation backward (numerically the same, one pass less).

A subclass of :class:`Loss` implements ``call(y_true, y_pred)`` with
``nbkeras.ops``; a plain function ``fn(y_true, y_pred)`` is wrapped in
:class:`LossFunctionWrapper`. Either way the gradient comes from the tape.

Reduction is Keras's: ``sum_over_batch_size`` is the mean over every element of
the per-sample loss (N·T for a sequence output), ``sum`` its sum, ``none`` the
per-sample losses (shape ``y_pred.shape[:-1]``).
"""
import numpy as np

from . import backend
from . import ops
from .engine import tape as tape_module
from .engine.tensor import Tensor, value_of
from .utils.naming import to_snake_case

_codes = backend.codes
_REDUCTIONS = ("sum_over_batch_size", "sum", "none", None, "mean")


class Loss:
    fuses_with = None

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Loss '{name}': unknown reduction {reduction!r}; expected "
                             f"'sum_over_batch_size', 'sum', 'mean' or 'none'.")
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype or "float32"

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError(f"Loss '{self.name}': sample_weight is not supported yet.")
        if type(self).call is not Loss.call or not hasattr(self, "_kernel"):
            values = self.call(*_same_rank(_as_float(y_true), y_pred))
            return reduce_values(values, self.reduction)
        return _KERNEL_LOSS(y_pred, loss=self, y_true=np.asarray(value_of(y_true)))

    def call(self, y_true, y_pred):
        """Per-sample losses (subclasses; built-in losses run their kernel instead)."""
        raise NotImplementedError(f"Loss '{self.name}' must implement `call(y_true, y_pred)`.")

    # ----- the kernel path (built-in losses) -----
    def prepare_targets(self, y_true, y_pred_shape):
        """``y_true`` as the kernel takes it, (rows, last axis) float32; clear errors."""
        y = np.asarray(y_true)
        if y.ndim == len(y_pred_shape) - 1:
            y = y.reshape(y.shape + (1,))
        if y.shape != tuple(y_pred_shape):
            raise ValueError(
                f"Loss '{self.name}': targets of shape {np.asarray(y_true).shape} do not match "
                f"the predictions of shape {tuple(y_pred_shape)}.")
        return np.ascontiguousarray(y, dtype=np.float32).reshape(-1, y_pred_shape[-1])

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("dtype", None)
        return cls(**config)


def reduce_values(values, reduction):
    """Keras's reduction of per-sample losses (ops, so it is differentiated)."""
    if reduction in ("none", None):
        return values
    if reduction == "sum":
        return ops.sum(values)
    return ops.mean(values)


def _as_float(y):
    y = value_of(y)
    if isinstance(y, np.ndarray) and y.dtype != np.float32:
        return y.astype(np.float32)
    return y


def _same_rank(y_true, y_pred):
    """Keras's ``squeeze_or_expand_to_same_rank``: a trailing axis of 1 added to or
    removed from the targets so ``y_true - y_pred`` lines up."""
    t, p = np.ndim(value_of(y_true)), np.ndim(value_of(y_pred))
    if t == p + 1 and np.shape(value_of(y_true))[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    elif p == t + 1 and np.shape(value_of(y_pred))[-1] == 1:
        y_true = ops.expand_dims(y_true, -1)
    return y_true, y_pred


class _KernelLossOp:
    """The tape operation of a built-in loss: forward (value, and the gradient while
    it is at it) and backward (that gradient, scaled by the upstream one)."""

    name = "loss"

    def __call__(self, y_pred, loss, y_true):
        tape = tape_module.recording()
        pred = np.ascontiguousarray(value_of(y_pred), dtype=np.float32)
        if pred.ndim == 0:
            pred = pred.reshape(1, 1)
        targets = loss.prepare_targets(y_true, pred.shape)
        out = pred.reshape(-1, pred.shape[-1])
        rows = out.shape[0]
        fused = (tape is not None and loss.fuses_with is not None
                 and _fusable_producer(y_pred, loss.fuses_with) is not None)
        losses = np.empty(rows, dtype=np.float32)
        grad = np.empty(out.shape, dtype=np.float32)
        mode = _mode(loss, fused)
        loss._kernel(out, targets, mode, np.float32(1.0), losses, grad)
        per_sample = losses.reshape(pred.shape[:-1])
        value = _reduce_array(per_sample, loss.reduction)
        if tape is None or not tape.requires_grad(y_pred):
            return value
        ctx = _LossContext(loss, out, targets, grad, fused, y_pred, pred.shape)
        return tape.add(self, ctx, [y_pred], value)

    def backward(self, ctx, g):
        loss = ctx.loss
        if ctx.fused and _fusable_producer(ctx.y_pred, loss.fuses_with, uses=1) is None:
            # the prediction also feeds something else: plain gradient after all
            ctx.fused = False
            loss._kernel(ctx.out, ctx.targets, _mode(loss, False), np.float32(1.0),
                         np.empty(ctx.out.shape[0], np.float32), ctx.grad)
        if ctx.fused:
            ctx.y_pred.entry.ctx.fused_output_grad = True
        grad = ctx.grad
        rows = ctx.out.shape[0]
        if loss.reduction in ("none", None):
            grad = grad * np.asarray(g, dtype=np.float32).reshape(rows, 1)
        else:
            scale = np.float32(g)
            if loss.reduction not in ("sum",):
                scale = scale / np.float32(rows)
            grad *= scale
        return grad.reshape(ctx.shape)


class _LossContext:
    def __init__(self, loss, out, targets, grad, fused, y_pred, shape):
        self.loss, self.out, self.targets, self.grad = loss, out, targets, grad
        self.fused, self.y_pred, self.shape = fused, y_pred, shape


_KERNEL_LOSS = _KernelLossOp()


def _mode(loss, fused):
    if getattr(loss, "from_logits", False):
        return _codes.FROM_LOGITS
    return _codes.FUSED_OUTPUT if fused else _codes.FROM_PROBS


def _fusable_producer(y_pred, activation_name, uses=0):
    """The layer call that made ``y_pred`` with ``activation_name`` as its final
    activation, when the loss may take the gradient through it (``y_pred`` feeds
    nothing but this loss); else None."""
    if not isinstance(y_pred, Tensor) or y_pred.entry is None:
        return None
    entry = y_pred.entry
    activation = getattr(entry.fn, "activation", None)
    if activation is None or getattr(activation, "name", None) != activation_name:
        return None
    if len(entry.outputs) != 1 or y_pred.uses != uses:
        return None
    return entry


def _reduce_array(per_sample, reduction):
    """Keras's reduction of the kernel's per-sample losses (sum / size is what
    ``mean`` computes, without its Python overhead on small batches)."""
    if reduction in ("none", None):
        return per_sample
    total = np.add.reduce(per_sample.reshape(-1), dtype=np.float32)
    if reduction == "sum":
        return np.asarray(total)
    return np.asarray(total / np.float32(max(per_sample.size, 1)))


# ----------------------------------------------------------------------------
# built-in losses
# ----------------------------------------------------------------------------
class _Crossentropy(Loss):
    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size",
                 dtype=None, **kwargs):
        defaults = {"label_smoothing": 0, "axis": -1, "ignore_class": None}
        unsupported = sorted(k for k, v in kwargs.items() if defaults.get(k, object()) != v)
        if unsupported:
            raise NotImplementedError(f"{type(self).__name__}: {unsupported} are not "
                                      f"supported yet.")
        super().__init__(name, reduction, dtype)
        self.from_logits = bool(from_logits)
        if self.from_logits:
            self.fuses_with = None

    def get_config(self):
        config = super().get_config()
        config["from_logits"] = self.from_logits
        return config


class CategoricalCrossentropy(_Crossentropy):
    fuses_with = "softmax"

    def __init__(self, from_logits=False, name="categorical_crossentropy",
                 reduction="sum_over_batch_size", **kwargs):
        super().__init__(from_logits, name, reduction, **kwargs)

    def _kernel(self, out, targets, mode, scale, losses, grad):
        backend.ops().categorical_crossentropy(out, targets, mode,
                                               np.float32(backend.epsilon()), scale,
                                               losses, grad)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Integer class labels of shape ``y_pred.shape[:-1]`` (or with a trailing 1)."""

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy",
                 reduction="sum_over_batch_size", **kwargs):
        super().__init__(from_logits, name, reduction, **kwargs)

    def prepare_targets(self, y_true, y_pred_shape):
        y = np.asarray(y_true)
        classes = y_pred_shape[-1]
        if y.ndim == len(y_pred_shape) and y.shape[-1] == 1:
            y = y.reshape(y.shape[:-1])
        if y.shape != tuple(y_pred_shape[:-1]):
            raise ValueError(
                f"Loss '{self.name}': integer labels of shape {np.asarray(y_true).shape} "
                f"do not fit predictions of shape {tuple(y_pred_shape)}; expected labels of "
                f"shape {tuple(y_pred_shape[:-1])} (or with a trailing 1) holding class "
                f"indices.")
        if y.size and y.dtype.kind not in "iu":
            if not np.all(np.equal(np.mod(y, 1), 0)):
                raise ValueError(f"Loss '{self.name}': labels must be integer class "
                                 f"indices, received non-integer values (dtype {y.dtype}).")
        if y.size:
            lo, hi = y.min(), y.max()
            if lo < 0 or hi >= classes:  # before any int cast
                bad = lo if lo < 0 else hi
                raise ValueError(
                    f"Loss '{self.name}': received a label value of {bad} which is outside "
                    f"the valid range of [0, {classes}) for predictions of {classes} classes.")
        labels = np.ascontiguousarray(y.reshape(-1), dtype=np.int64)
        onehot = np.empty((labels.shape[0], classes), dtype=np.float32)
        backend.ops().sparse_to_onehot(labels, classes, onehot)
        return onehot


class BinaryCrossentropy(_Crossentropy):
    fuses_with = "sigmoid"

    def __init__(self, from_logits=False, name="binary_crossentropy",
                 reduction="sum_over_batch_size", **kwargs):
        super().__init__(from_logits, name, reduction, **kwargs)

    def _kernel(self, out, targets, mode, scale, losses, grad):
        backend.ops().binary_crossentropy(out, targets, mode, np.float32(backend.epsilon()),
                                          scale, losses, grad)


class _Regression(Loss):
    kind = None
    delta = 1.0

    def _kernel(self, out, targets, mode, scale, losses, grad):
        backend.ops().regression_loss(out, targets, self.kind, np.float32(self.delta),
                                      scale, losses, grad)


class MeanSquaredError(_Regression):
    kind = _codes.MEAN_SQUARED_ERROR

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name, reduction, dtype)


class MeanAbsoluteError(_Regression):
    kind = _codes.MEAN_ABSOLUTE_ERROR

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error",
                 dtype=None):
        super().__init__(name, reduction, dtype)


class Huber(_Regression):
    kind = _codes.HUBER

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss",
                 dtype=None):
        super().__init__(name, reduction, dtype)
        self.delta = float(delta)

    def get_config(self):
        config = super().get_config()
        config["delta"] = self.delta
        return config


class LossFunctionWrapper(Loss):
    """A loss from a function ``fn(y_true, y_pred)`` returning per-sample losses."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name or to_snake_case(getattr(fn, "__name__", "loss")), reduction,
                         dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        from .saving.serialization import serialize_keras_object
        return {"name": self.name, "reduction": self.reduction,
                "fn": serialize_keras_object(self.fn),
                **serialize_keras_object(self._fn_kwargs)}

    @classmethod
    def from_config(cls, config):
        from .saving.serialization import deserialize_keras_object
        config = dict(config)
        config["fn"] = deserialize_keras_object(config["fn"])
        return super().from_config(config)


# ----------------------------------------------------------------------------
# functions (per-sample losses) and lookup
# ----------------------------------------------------------------------------
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    return SparseCategoricalCrossentropy(from_logits, reduction="none")(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return CategoricalCrossentropy(from_logits, reduction="none")(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return BinaryCrossentropy(from_logits, reduction="none")(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    return MeanSquaredError(reduction="none")(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return MeanAbsoluteError(reduction="none")(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    return Huber(delta, reduction="none")(y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
}
_BY_FUNCTION = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
}
ALL_OBJECTS = (Loss, LossFunctionWrapper, SparseCategoricalCrossentropy,
               CategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError,
               MeanAbsoluteError, Huber)
_BY_CLASS = {cls.__name__: cls for cls in ALL_OBJECTS}


def get(identifier):
    """Resolve a loss name, class name, class, instance, function or config dict."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        from .saving.serialization import deserialize_keras_object
        return deserialize_keras_object(identifier, default_module="keras.losses")
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower()) or _BY_CLASS.get(identifier)
        if cls is not None:
            return cls()
    elif isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    elif callable(identifier):
        cls = _BY_FUNCTION.get(identifier)
        if cls is not None:
            return cls(name=identifier.__name__)
        return LossFunctionWrapper(identifier)
    known = sorted(_BY_NAME)
    raise ValueError(f"Unknown loss {identifier!r}. Expected one of: {', '.join(known)}, a "
                     f"nbkeras.losses.Loss instance or a function fn(y_true, y_pred).")

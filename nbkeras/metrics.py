"""Keras metrics: stateful objects with ``update_state``, ``result`` and ``reset_state``.

Most are sample-weighted running means of a per-sample value; a plain function
``fn(y_true, y_pred)`` (written with NumPy or ``nbkeras.ops``) becomes one through
:class:`MeanMetricWrapper`. ``"accuracy"`` resolves as Keras 3 does, from the
shapes of targets and predictions: binary when the prediction has one column,
sparse categorical when targets are class indices (one rank less, or a last
axis of 1 against several classes), else categorical. The training loop resets
every metric at the start of each epoch and of each ``evaluate``.
"""
import numpy as np

from .engine.tensor import value_of


def _array(x):
    return np.asarray(value_of(x))


class Metric:
    def __init__(self, name=None, dtype=None):
        from .utils.naming import to_snake_case
        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = dtype or "float32"
        self.reset_state()

    def reset_state(self):
        self._total = 0.0
        self._count = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = np.asarray(self._values(_array(y_true), _array(y_pred)), dtype=np.float64)
        self._accumulate(values, sample_weight)

    def _accumulate(self, values, sample_weight):
        if sample_weight is None:
            self._total += float(values.sum())
            self._count += values.size
            return
        if isinstance(sample_weight, (int, float)):  # e.g. a batch size
            self._total += float(values.sum()) * sample_weight
            self._count += values.size * sample_weight
            return
        w = np.broadcast_to(np.asarray(value_of(sample_weight), dtype=np.float64).reshape(
            np.shape(value_of(sample_weight)) + (1,) * (values.ndim - np.ndim(
                value_of(sample_weight)))), values.shape)
        self._total += float((values * w).sum())
        self._count += float(w.sum())

    def result(self):
        return float(np.float32(self._total / self._count)) if self._count else 0.0

    def _values(self, y_true, y_pred):
        raise NotImplementedError(f"Metric '{self.name}' must implement update_state or "
                                  f"_values.")

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values)``."""

    def update_state(self, values, sample_weight=None):
        self._accumulate(np.asarray(_array(values), dtype=np.float64), sample_weight)


class Sum(Metric):
    def update_state(self, values, sample_weight=None):
        v = np.asarray(_array(values), dtype=np.float64)
        if sample_weight is not None:
            v = v * np.asarray(_array(sample_weight), dtype=np.float64)
        self._total += float(v.sum())
        self._count = 1.0

    def result(self):
        return float(np.float32(self._total))


class MeanMetricWrapper(Metric):
    """A metric from a function ``fn(y_true, y_pred)`` giving per-sample values."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn = fn
        self._fn_kwargs = kwargs
        from .utils.naming import to_snake_case
        super().__init__(name or to_snake_case(getattr(fn, "__name__", "metric")), dtype)

    def _values(self, y_true, y_pred):
        return _array(self._fn(y_true, y_pred, **self._fn_kwargs))


def _match(y_true, y_pred):
    """y_true reshaped like y_pred when only a trailing axis of 1 differs."""
    if y_true.shape != y_pred.shape and y_true.size == y_pred.size:
        return y_true.reshape(y_pred.shape)
    return y_true


class BinaryAccuracy(Metric):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        y_true = _match(y_true, y_pred)
        return np.mean((y_pred > self.threshold) == (y_true > 0.5), axis=-1)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class Accuracy(Metric):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        return (_match(y_true, y_pred) == y_pred).astype(np.float32)


class SparseCategoricalAccuracy(Metric):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        labels = y_true.reshape(y_pred.shape[:-1])
        return (np.argmax(y_pred, axis=-1) == labels).astype(np.float32)


class CategoricalAccuracy(Metric):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float32)


class SparseTopKCategoricalAccuracy(Metric):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        self.k = k
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        labels = y_true.reshape(y_pred.shape[:-1]).astype(np.int64)
        top = np.argsort(-y_pred, axis=-1, kind="stable")[..., :self.k]
        return np.any(top == labels[..., None], axis=-1).astype(np.float32)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class MeanSquaredError(Metric):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        d = y_pred - _match(y_true, y_pred)
        return np.mean(d * d, axis=-1)


class MeanAbsoluteError(Metric):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - _match(y_true, y_pred)), axis=-1)


class RootMeanSquaredError(Metric):
    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        d = y_pred - _match(y_true, y_pred)
        return d * d

    def result(self):
        return float(np.float32(np.sqrt(self._total / self._count))) if self._count else 0.0


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "root_mean_squared_error": RootMeanSquaredError,
}
ALL_OBJECTS = (Metric, Mean, Sum, MeanMetricWrapper, BinaryAccuracy, Accuracy,
               SparseCategoricalAccuracy, CategoricalAccuracy, SparseTopKCategoricalAccuracy,
               MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError)
_BY_CLASS = {cls.__name__: cls for cls in ALL_OBJECTS}


def resolve_accuracy(name, y_true_shape, y_pred_shape):
    """Keras 3's choice of accuracy for the string 'accuracy'/'acc'."""
    binary = y_pred_shape[-1] == 1
    sparse = (len(y_true_shape) < len(y_pred_shape)
              or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1))
    if binary:
        return BinaryAccuracy(name=name)
    if sparse:
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


def check_identifier(identifier):
    """Fail at compile time on a metric that cannot be resolved later."""
    if isinstance(identifier, (Metric, dict)) or callable(identifier):
        return
    if isinstance(identifier, str) and (identifier.lower() in ("accuracy", "acc")
                                        or identifier.lower() in _BY_NAME
                                        or identifier in _BY_CLASS):
        return
    raise ValueError(f"Unknown metric {identifier!r}. Expected 'accuracy' or one of: "
                     f"{', '.join(sorted(_BY_NAME))}, a nbkeras.metrics.Metric instance or a "
                     f"function fn(y_true, y_pred).")


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """Resolve a metric identifier for targets and predictions of the given shapes.
    A string keeps its spelling as the metric's name, as in Keras."""
    check_identifier(identifier)
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):  # a serialized metric (Keras's layout)
        from .saving.serialization import deserialize_keras_object
        return deserialize_keras_object(identifier, default_module="keras.metrics")
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return resolve_accuracy(identifier, y_true_shape, y_pred_shape)
        cls = _BY_NAME.get(identifier.lower()) or _BY_CLASS[identifier]
        return cls(name=identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    return MeanMetricWrapper(identifier)

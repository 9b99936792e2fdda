"""Keras metrics as running, sample-weighted means over an epoch.

``"accuracy"`` resolves as Keras 3 does, from the shapes of targets and
predictions: binary when the prediction has one column, sparse categorical
when targets are class indices (one rank less, or a last axis of 1 against
several classes), else categorical.
"""
import numpy as np


class Metric:
    def __init__(self, name=None):
        self.name = name
        self.reset_state()

    def reset_state(self):
        self._total = 0.0
        self._count = 0.0

    def update_state(self, y_true, y_pred):
        values = np.asarray(self._values(np.asarray(y_true), np.asarray(y_pred)),
                            dtype=np.float64)
        self._total += float(values.sum())
        self._count += values.size

    def result(self):
        return float(np.float32(self._total / self._count)) if self._count else 0.0

    def _values(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred):
        self.reset_state()
        self.update_state(y_true, y_pred)
        return self.result()


class BinaryAccuracy(Metric):
    def __init__(self, name="binary_accuracy", threshold=0.5):
        self.threshold = threshold
        super().__init__(name)

    def _values(self, y_true, y_pred):
        y_true = y_true.reshape(y_pred.shape)
        return ((y_pred > self.threshold) == (y_true > 0.5)).astype(np.float32)


class SparseCategoricalAccuracy(Metric):
    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(name)

    def _values(self, y_true, y_pred):
        labels = y_true.reshape(y_pred.shape[:-1])
        return (np.argmax(y_pred, axis=-1) == labels).astype(np.float32)


class CategoricalAccuracy(Metric):
    def __init__(self, name="categorical_accuracy"):
        super().__init__(name)

    def _values(self, y_true, y_pred):
        return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float32)


class MeanSquaredError(Metric):
    def __init__(self, name="mean_squared_error"):
        super().__init__(name)

    def _values(self, y_true, y_pred):
        d = y_pred - y_true.reshape(y_pred.shape)
        return np.mean(d * d, axis=-1)


class MeanAbsoluteError(Metric):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(name)

    def _values(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - y_true.reshape(y_pred.shape)), axis=-1)


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
}


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


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """Resolve a metric name (or instance) for the given target/prediction shapes."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return resolve_accuracy(identifier, y_true_shape, y_pred_shape)
        cls = _BY_NAME.get(identifier.lower())
        if cls is not None:
            return cls(name=identifier) if identifier in ("mse", "mae") else cls()
    raise ValueError(f"Unknown metric {identifier!r}. Expected 'accuracy' or one of: "
                     f"{', '.join(sorted(_BY_NAME))}, or a nbkeras.metrics.Metric instance.")

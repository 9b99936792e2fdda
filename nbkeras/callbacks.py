"""Callbacks: hooks into ``fit``/``evaluate``/``predict`` (Keras 3's interface).

A :class:`Callback` receives ``on_*`` calls from the training loop through a
:class:`CallbackList`.  :class:`History` records the epoch logs,
:class:`EarlyStopping` stops training when a monitored quantity stops
improving and :class:`LambdaCallback` wraps plain functions.
"""
import warnings

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping",
           "LambdaCallback"]


def _is_default(method):
    """True when ``method`` is a hook that ``Callback`` leaves as a no-op."""
    return getattr(method, "_is_default", False)


def _default(method):
    method._is_default = True
    return method


def _flatten(callbacks):
    out = []
    for cb in callbacks:
        if isinstance(cb, (list, tuple)):
            out.extend(_flatten(cb))
        elif cb is not None:
            out.append(cb)
    return out


def _pythonify_logs(logs):
    """Flatten nested dicts and turn scalar values into Python floats, with
    keys sorted, as Keras does before handing logs to callbacks."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(_pythonify_logs(value))
            continue
        try:
            value = float(value)
        except Exception:
            pass
        result[key] = value
    return result


class Callback:
    """Base class of callbacks; every hook is a no-op.

    Attributes:
        params: dict of training parameters (``verbose``, ``epochs``,
            ``steps``, ...), set by :meth:`set_params`.
        model: the model being trained, set by :meth:`set_model`.
    """

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, model):
        self.set_model(model)

    @_default
    def on_batch_begin(self, batch, logs=None):
        """Alias of :meth:`on_train_batch_begin` kept for compatibility."""

    @_default
    def on_batch_end(self, batch, logs=None):
        """Alias of :meth:`on_train_batch_end` kept for compatibility."""

    @_default
    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of an epoch (training only)."""

    @_default
    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch; ``logs`` holds the epoch's metrics
        (validation ones prefixed ``val_``)."""

    @_default
    def on_train_batch_begin(self, batch, logs=None):
        """Called before a training batch."""
        self.on_batch_begin(batch, logs=logs)

    @_default
    def on_train_batch_end(self, batch, logs=None):
        """Called after a training batch; ``logs`` holds running metrics."""
        self.on_batch_end(batch, logs=logs)

    @_default
    def on_test_batch_begin(self, batch, logs=None):
        """Called before an evaluation batch."""

    @_default
    def on_test_batch_end(self, batch, logs=None):
        """Called after an evaluation batch."""

    @_default
    def on_predict_batch_begin(self, batch, logs=None):
        """Called before a prediction batch."""

    @_default
    def on_predict_batch_end(self, batch, logs=None):
        """Called after a prediction batch."""

    @_default
    def on_train_begin(self, logs=None):
        """Called at the start of training."""

    @_default
    def on_train_end(self, logs=None):
        """Called at the end of training."""

    @_default
    def on_test_begin(self, logs=None):
        """Called at the start of evaluation or validation."""

    @_default
    def on_test_end(self, logs=None):
        """Called at the end of evaluation or validation."""

    @_default
    def on_predict_begin(self, logs=None):
        """Called at the start of prediction."""

    @_default
    def on_predict_end(self, logs=None):
        """Called at the end of prediction."""


class CallbackList(Callback):
    """Calls each hook on every callback of a list, in order.

    Args:
        callbacks: list (possibly nested) of :class:`Callback` instances.
        add_history: append a :class:`History` when the list has none.
        model: the model, given to each callback through ``set_model``.
        **params: training parameters, given through ``set_params``.

    Logs are copied (nested dicts flattened, keys sorted, scalars made
    Python floats) before they reach the callbacks, as in Keras.
    """

    def __init__(self, callbacks=None, add_history=False, model=None, **params):
        super().__init__()
        self.callbacks = _flatten(callbacks) if callbacks else []
        for cb in self.callbacks:  # duck-typed: Keras's own callbacks work too
            if not all(callable(getattr(cb, hook, None))
                       for hook in ("set_model", "set_params", "on_epoch_end")):
                raise TypeError(f"`callbacks` must hold callback objects (e.g. subclasses of "
                                f"nbkeras.callbacks.Callback), received {cb!r} of type "
                                f"{type(cb).__name__}.")
        self._in_begin_end_block_count = 0
        self._history = None
        for cb in self.callbacks:
            if isinstance(cb, History):
                self._history = cb
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        self.set_model(model)
        self.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)

    def set_params(self, params):
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def _on_begin(self):
        self._in_begin_end_block_count += 1

    def _on_end(self):
        self._in_begin_end_block_count -= 1
        if self._in_begin_end_block_count < 0:
            self._in_begin_end_block_count = 0
            raise ValueError(
                "`on_xxx_end` called without corresponding `on_xxx_begin`")

    def _call(self, hook, *args, **kwargs):
        for cb in self.callbacks:
            getattr(cb, hook)(*args, **kwargs)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs=_pythonify_logs(logs))

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs=_pythonify_logs(logs))

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, _pythonify_logs(logs))

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, _pythonify_logs(logs))

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=_pythonify_logs(logs))

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=_pythonify_logs(logs))

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=_pythonify_logs(logs))

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=_pythonify_logs(logs))

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=_pythonify_logs(logs))

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=_pythonify_logs(logs))

    def on_train_begin(self, logs=None):
        self._on_begin()
        self._call("on_train_begin", _pythonify_logs(logs))

    def on_train_end(self, logs=None):
        self._call("on_train_end", _pythonify_logs(logs))
        self._on_end()

    def on_test_begin(self, logs=None):
        self._on_begin()
        self._call("on_test_begin", _pythonify_logs(logs))

    def on_test_end(self, logs=None):
        self._call("on_test_end", _pythonify_logs(logs))
        self._on_end()

    def on_predict_begin(self, logs=None):
        self._on_begin()
        self._call("on_predict_begin", _pythonify_logs(logs))

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", _pythonify_logs(logs))
        self._on_end()


class History(Callback):
    """Records the logs of every epoch.

    ``history`` maps each log key to the list of its per-epoch values and
    ``epoch`` lists the epoch indices seen since the last ``on_train_begin``.
    ``history`` itself is kept across several ``fit`` calls, as in Keras.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


# Metric names whose value should go up, for ``mode="auto"`` when the model
# does not say (Keras reads a ``_direction`` off the compiled metric).
_UP_METRICS = ("accuracy", "acc", "auc", "precision", "recall", "iou",
               "fbeta_score", "f1_score", "r2_score", "cosine_similarity",
               "pearson_correlation", "concordance_correlation",
               "sensitivity", "specificity")
_DOWN_METRICS = ("loss", "error", "crossentropy", "hinge", "logcosh",
                 "divergence", "poisson", "mse", "mae", "mape", "msle")


def _guess_direction(name):
    name = name.lower()
    if any(m in name.split("_") for m in ("acc", "auc")) or any(
            m in name for m in _UP_METRICS):
        return "up"
    if any(m in name for m in _DOWN_METRICS):
        return "down"
    return None


def _model_metrics(model):
    metrics = []

    def collect(items):
        for m in items or []:
            metrics.append(m)
            sub = getattr(m, "metrics", None)
            if isinstance(sub, (list, tuple)):
                collect(sub)

    try:
        collect(getattr(model, "metrics", None))
    except Exception:
        pass
    return metrics


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving.

    Args:
        monitor: log key to watch. Defaults to ``"val_loss"``.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints a message when stopping or restoring weights.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the metric's name).
        baseline: the count of epochs without improvement is only reset by
            a value that also beats ``baseline``.
        restore_best_weights: at the end of training, put back the weights
            of the best epoch seen.
        start_from_epoch: epochs to ignore before monitoring starts.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0,
                 mode="auto", baseline=None, restore_best_weights=False,
                 start_from_epoch=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback "
                "to auto mode.", stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.monitor_op = None
        self.best = None
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch

    def _set_monitor_op(self):
        if self.mode == "min":
            direction = "down"
        elif self.mode == "max":
            direction = "up"
        else:
            name = self.monitor.removeprefix("val_")
            direction = "down" if name == "loss" else None
            for m in _model_metrics(self.model):
                if getattr(m, "name", None) == name:
                    d = getattr(m, "_direction", None) or getattr(m, "direction", None)
                    if d in ("up", "down"):
                        direction = d
            if direction is None:
                direction = _guess_direction(name)
            if direction is None:
                raise ValueError(
                    f"{type(self).__name__} callback received "
                    f"monitor={self.monitor}, but Keras isn't able to "
                    "automatically determine whether that metric should be "
                    "maximized or minimized. Pass `mode='max'` in order to "
                    "monitor based on the highest metric value, or pass "
                    "`mode='min'` in order to use the lowest value.")
        if direction == "down":
            self.monitor_op = lambda a, b: bool(a < b)
            self.min_delta *= -1
        else:
            self.monitor_op = lambda a, b: bool(a > b)

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        return self.monitor_op(value - self.min_delta, reference)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the current weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return

        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which "
                f"is not available. Available metrics are: {','.join(logs)}",
                stacklevel=2)
        return value


class LambdaCallback(Callback):
    """A callback built from plain functions.

    ``on_epoch_begin``/``on_epoch_end`` take ``(epoch, logs)``,
    ``on_train_begin``/``on_train_end`` take ``(logs)`` and
    ``on_train_batch_begin``/``on_train_batch_end`` take ``(batch, logs)``;
    any other hook can be passed by name as a keyword argument.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None,
                 on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)

"""Keras's training API: compile, fit, evaluate, predict and the overridable steps.

One training step (``train_step``, Keras's default): the model's forward pass on
a recording tape, ``compute_loss`` (the compiled losses, fused with the final
softmax/sigmoid where Keras allows, plus ``add_loss`` terms), the tape's
backward pass writing every gradient into the model's gradient arena, and ONE
fused optimizer kernel over the parameter arena. A subclass may override
``train_step`` / ``test_step`` / ``predict_step`` and use
``nbkeras.GradientTape`` with ``optimizer.apply_gradients`` instead.
"""
import math
import time

import numpy as np

from .. import backend
from .. import callbacks as callbacks_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .. import random as nb_random
from .. import tree
from ..engine import tape as tape_module
from ..layers import layer as layer_module
from ..engine.tensor import Tensor, value_of
from ..utils.progbar import Progbar
from .arena import Arena
from .compile_utils import CompileLoss, CompileMetrics
from .data_adapter import ArrayData


class Trainer:
    def __init__(self):
        d = self.__dict__
        d["optimizer"] = None
        d["loss"] = None
        d["compiled"] = False
        d["stop_training"] = False
        d["history"] = None
        d["_compile_loss"] = None
        d["_compile_metrics"] = None
        d["_loss_tracker"] = None
        d["_arena"] = None

    # ----- compile -----
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        # resolve everything first, so a failed compile() leaves the model as it was
        optimizer = optimizers_module.get(optimizer)
        names = self._data_output_names()
        compile_loss = CompileLoss(loss, loss_weights, names) if loss is not None else None
        if loss is not None and not isinstance(loss, (dict, list, tuple)):
            from .. import losses as losses_module
            losses_module.get(loss)  # fail fast on an unknown name
        compile_metrics = CompileMetrics(metrics, weighted_metrics, names)
        d = self.__dict__
        d["optimizer"] = optimizer
        d["loss"] = loss
        d["_compile_loss"] = compile_loss
        d["_compile_metrics"] = compile_metrics
        d["_loss_tracker"] = metrics_module.Mean(name="loss")
        d["compiled"] = True
        d["_arena"] = None

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` on model '{self.name}' before "
                               f"calling `{what}()`.")

    @property
    def metrics(self):
        """Keras's order: the loss tracker, the compiled metrics, the per-output loss
        trackers, then metrics tracked as attributes (of the model and its layers)."""
        out = []
        if self.compiled:
            out.append(self._loss_tracker)
            out.append(self._compile_metrics)
            if self._compile_loss is not None:
                out.extend(self._compile_loss.metrics)
        if layer_module._metrics_tracked[0]:  # some layer holds a metric attribute
            for layer in self._flatten_layers():
                out.extend(layer._tracked_metrics)
        return out

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self):
        logs = {}
        for m in self.metrics:
            result = m.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[m.name] = result
        return logs

    # ----- the steps (overridable, as in Keras) -----
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if sample_weight is not None:
            raise NotImplementedError("compute_loss(): sample_weight is not supported yet.")
        from .. import ops
        losses = []
        if self._compile_loss is not None:
            value = self._compile_loss(y, y_pred)
            if value is not None:
                losses.append(value)
        for extra in (self.losses if layer_module._losses_used[0] else ()):
            losses.append(ops.sum(extra))
        if not losses:
            raise ValueError(f"Model '{self.name}': no loss to compute. Provide a `loss` "
                             f"argument in `compile()` (or add losses with `add_loss`).")
        total = losses[0]
        for extra in losses[1:]:
            total = ops.add(total, extra)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def train_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with tape_module.Tape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=True)
        self._loss_tracker.update_state(value_of(loss), sample_weight=_batch_size(x))
        self._apply_gradient_of(tape, loss)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                 training=False)
        self._loss_tracker.update_state(value_of(loss), sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def _apply_gradient_of(self, tape, loss):
        """Backward from ``loss`` into the gradient arena, then one optimizer step."""
        try:
            if not isinstance(loss, Tensor) or loss.entry is None:
                return  # nothing trainable depends on the loss
            arena = self._arena or self._ensure_arena()  # checked at the start of fit
            scale = self.optimizer.loss_scale_factor
            grads = tape.backward(loss, seed=None if scale is None else
                                  np.full(loss.shape, scale, np.float32))
            for v in arena.variables:
                if id(v) not in grads.values:
                    v.grad[...] = 0.0
            self.optimizer.step(arena.params, arena.grads)
        finally:
            tape.release()

    def _ensure_arena(self):
        """The parameter arena of the current trainable variables (rebuilt when that
        set changed, or when a shared layer's weights moved to another model's
        arena), with the optimizer built for it (its state kept when the sizes are
        the same)."""
        variables = self.trainable_variables
        if self._arena is None or not self._arena.holds(variables):
            self.__dict__["_arena"] = Arena(variables)
            self.optimizer.build(self._arena.shapes)
        return self._arena

    # ----- fit / evaluate / predict -----
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None,
            validation_steps=None, validation_batch_size=None, validation_freq=1):
        self._require_compiled("fit")
        if class_weight is not None or sample_weight is not None:
            raise NotImplementedError("fit(): class_weight and sample_weight are not supported yet.")
        if steps_per_epoch is not None or validation_steps is not None:
            raise NotImplementedError("fit(): steps_per_epoch and validation_steps are not "
                                      "supported yet: every epoch is one pass over `x`.")
        batch_size = _check_batch_size(batch_size)
        verbose = _verbosity(verbose)
        epochs, initial_epoch = _check_epochs(epochs, initial_epoch)
        if y is None and not _overrides(self, "train_step"):
            raise ValueError("`y` is required: pass the targets for `x`.")
        data = ArrayData(self, x, y, "fit")
        val = None
        if validation_data is not None:
            val = ArrayData(self, *_unpack_validation(validation_data), what="fit")
        elif validation_split:
            data, val = data.split(validation_split)
        self._build_on(data, batch_size)
        backend.prewarm()
        if self.trainable_variables:
            self._ensure_arena()

        steps = data.steps(batch_size)
        history = callbacks_module.History()
        cbs = callbacks_module.CallbackList(
            list(callbacks or []) + [history], model=self,
            epochs=epochs, steps=steps, verbose=verbose)
        self.stop_training = False
        cbs.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = Progbar(steps, verbose=verbose, stateless_metrics=set()) if verbose else None
            order = nb_random.generator().permutation(data.n) if shuffle else None
            for step, batch in enumerate(data.batches(batch_size, order)):
                cbs.on_train_batch_begin(step)
                logs = _as_logs(self.train_step(batch))
                cbs.on_train_batch_end(step, logs)
                if bar is not None and step + 1 < steps:
                    bar.update(step + 1, list(logs.items()))
            epoch_logs = self._epoch_logs(logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_data(val, validation_batch_size or batch_size)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            if bar is not None:
                bar.update(steps, list(epoch_logs.items()), finalize=True)
            cbs.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        self.__dict__["history"] = history
        return history

    def _epoch_logs(self, logs):
        """The metrics' epoch results, or a custom train_step's own last logs."""
        results = self.get_metrics_result()
        if set(results) == set(logs):
            return dict(results)
        return dict(logs)

    def _evaluate_data(self, data, batch_size):
        self.reset_metrics()
        logs = {}
        for batch in data.batches(batch_size):
            logs = _as_logs(self.test_step(batch))
        return self._epoch_logs(logs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        self._require_compiled("evaluate")
        if sample_weight is not None:
            raise NotImplementedError("evaluate(): sample_weight is not supported yet.")
        batch_size = _check_batch_size(batch_size)
        if y is None and not _overrides(self, "test_step"):
            raise ValueError("`y` is required: pass the targets for `x`.")
        data = ArrayData(self, x, y, "evaluate")
        verbose = _verbosity(verbose)
        self._build_on(data, batch_size)
        start = time.time()
        logs = self._evaluate_data(data, batch_size)
        if verbose:
            steps_done = data.steps(batch_size)
            bar = Progbar(steps_done, verbose=verbose, stateless_metrics=set())
            bar._start = start
            bar.update(steps_done, list(logs.items()), finalize=True)
        if return_dict:
            return dict(sorted(logs.items()))
        return self._flatten_metrics_in_order(logs)

    def _flatten_metrics_in_order(self, logs):
        names = []
        for m in self.metrics:
            if isinstance(m, CompileMetrics):
                names += [sub.name for sub in m.metrics]
            else:
                names.append(m.name)
        results = [logs[n] for n in names if n in logs]
        results += [logs[k] for k in sorted(logs) if k not in names]
        return results[0] if len(results) == 1 else results

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        batch_size = _check_batch_size(batch_size)
        data = ArrayData(self, x, None, "predict")
        backend.prewarm()
        outputs = None
        for xb, _ in data.batches(batch_size):
            out = self.predict_step((xb,))
            flat = [np.asarray(value_of(v)) for v in tree.flatten(out)]
            if outputs is None:
                structure = out
                outputs = [[] for _ in flat]
            for store, v in zip(outputs, flat):
                store.append(v)
        if outputs is None:  # no samples: empty outputs of the model's output shapes
            return self._empty_predictions()
        merged = [np.concatenate(parts, axis=0) for parts in outputs]
        return tree.pack_sequence_as(structure, merged)

    def _empty_predictions(self):
        outs = getattr(self, "outputs", None)
        if not outs or any(d is None for t in outs for d in t.shape[1:]):
            raise ValueError(f"predict() received no samples, and model '{self.name}' has no "
                             f"known output shape to give empty predictions of.")
        empty = [np.empty((0,) + tuple(t.shape[1:]), dtype=t.dtype) for t in outs]
        return empty[0] if len(empty) == 1 else empty

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=max(len(tree.flatten(x)[0]), 1), verbose=0)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        self._require_compiled("train_on_batch")
        if sample_weight is not None or class_weight is not None:
            raise NotImplementedError("train_on_batch(): sample_weight and class_weight are "
                                      "not supported yet.")
        data = ArrayData(self, x, y, "train_on_batch")
        self._build_on(data, data.n)
        if self.trainable_variables:
            self._ensure_arena()
        self.reset_metrics()
        (batch,) = data.batches(data.n)
        logs = _as_logs(self.train_step(batch))
        if return_dict:
            return logs
        return self._flatten_metrics_in_order(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        return self.evaluate(x, y, batch_size=max(len(tree.flatten(x)[0]), 1), verbose=0,
                             return_dict=return_dict)

    def _build_on(self, data, batch_size):
        """A model not built yet (a subclass, a Sequential without an input shape) is
        built by running it once on the first batch."""
        if not self.built:
            xb, _ = next(data.batches(batch_size))
            with tape_module.Tape(record=False):
                self(xb, training=False)

    # ----- data hooks (a functional model knows its input and output names) -----
    def _data_input_names(self):
        return None

    def _data_output_names(self):
        return None

    def _data_input_dtypes(self):
        return None

    def _check_data_shapes(self, flat_x):
        pass


def unpack_x_y_sample_weight(data):
    """Keras's ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"Data is expected to be (x,), (x, y) or (x, y, sample_weight); received "
                     f"a tuple of {len(data)} elements.")


def _unpack_validation(validation_data):
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("`validation_data` must be a tuple (x_val, y_val).")
    if len(validation_data) == 3 and validation_data[2] is not None:
        raise NotImplementedError("validation_data with sample weights is not supported yet.")
    return validation_data[0], validation_data[1]


def _overrides(model, method):
    from ..models.model import Model
    return getattr(type(model), method) is not getattr(Model, method)


def _batch_size(x):
    leaves = tree.flatten(x)
    return len(value_of(leaves[0])) if leaves else 1


def _as_logs(logs):
    """A step's returned dict with tensor values turned into Python floats."""
    out = {}
    for k, v in (logs or {}).items():
        v = value_of(v)
        if isinstance(v, dict):
            out.update(_as_logs(v))
            continue
        a = np.asarray(v)
        out[k] = float(a) if a.size == 1 and a.dtype.kind in "fiub" else v
    return out


def _check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer, received {batch_size!r}.")
    return int(batch_size)


def _check_epochs(epochs, initial_epoch):
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
                or value < 0):
            raise ValueError(f"`{name}` must be a non-negative integer, received {value!r}.")
    return int(epochs), int(initial_epoch)


def _verbosity(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto', received {verbose!r}.")
    return verbose

"""Model: the functional graph plus Keras's training API (compile/fit/evaluate/predict).

``Model(inputs, outputs)`` wraps a :class:`Graph`; :class:`Sequential` builds the
same graph from its layer list. One training step is: forward through the
graph, the loss's value and gradient in one kernel (fused with the final
softmax/sigmoid where Keras allows), backward through the graph, and one fused
optimizer kernel over the parameter arena.
"""
import math
import time

import numpy as np

from .. import random as nb_random
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .. import callbacks as callbacks_module
from ..layers.layer import Layer
from ..utils.progbar import Progbar
from . import data as data_utils
from .arena import Arena
from .graph import Graph


class Model(Layer):
    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if name is None and type(self) is Model:  # Keras names functional models so
            from ..utils import naming
            name = naming.unique_name("functional")
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._graph = None
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._arena = None
        if inputs is not None or outputs is not None:
            self._set_graph(Graph(_as_list(inputs), _as_list(outputs)))

    # ----- structure -----
    def _set_graph(self, graph):
        self._graph = graph
        self.built = True
        self._arena = None

    def _ensure_graph(self, x):
        """Build lazily from the first data seen (Sequential without an input shape)."""
        if self._graph is None:
            raise ValueError(f"Model '{self.name}' has no layers with a known input; "
                             f"give the first layer an input_shape or start with keras.Input.")

    @property
    def layers(self):
        """As in Keras, a functional model lists its InputLayer(s) first."""
        if self._graph is None:
            return []
        inputs = [t.producer for t in self._graph.inputs]
        return inputs + [l for l in self._graph.layers if l not in inputs]

    @property
    def input_shape(self):
        return self._graph.inputs[0].shape

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"Model '{self.name}' expects {len(own)} weight arrays, "
                             f"received {len(weights)}.")
        for var, value in zip(own, weights):
            var.assign(value)

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[l.name for l in self.layers]}.")

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        from .summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    # ----- compile -----
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", **kwargs):
        if loss is None:
            raise ValueError("compile() needs a `loss`, e.g. loss='sparse_categorical_crossentropy'.")
        # resolve everything first, so a failed compile() leaves the model as it was
        optimizer = optimizers_module.get(optimizer)
        loss = losses_module.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, metrics_module.Metric)):
            metrics = [metrics]
        for m in metrics:
            if not isinstance(m, metrics_module.Metric):
                metrics_module.get(m, (None, 1), (None, 2))  # fail fast on unknown names
        self.optimizer = optimizer
        self.loss = loss
        self._metric_ids = list(metrics)
        self.compiled = True
        self._arena = None

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` on model '{self.name}' before "
                               f"calling `{what}()`.")

    def _make_metrics(self, y_true, y_pred_shape):
        return [metrics_module.get(m, y_true.shape, y_pred_shape) for m in self._metric_ids]

    def _prepare_training(self):
        """Arena (rebuilt if the trainable set changed) and loss fusion flags."""
        variables = self.trainable_weights
        key = tuple(id(v) for v in variables)
        if self._arena is None or self._arena.key != key:
            self._arena = Arena(variables)
            self.optimizer.build(self._arena.sizes)
        last = self._graph.outputs[0].producer
        for layer in self.layers:
            layer.fused_output_grad = False
        activation = getattr(last, "activation", None)
        self._fused = (self.loss.fuses_with is not None and activation is not None
                       and activation.name == self.loss.fuses_with)
        last.fused_output_grad = self._fused

    # ----- data checks -----
    def _check_x(self, x, what="x"):
        x = data_utils.as_array(x, what)
        self._ensure_graph(x)
        data_utils.check_input_shape(self.name, self.input_shape, x)
        return x

    def _check_xy(self, x, y):
        x = self._check_x(x)
        if y is None:
            raise ValueError("`y` is required: pass the targets for `x`.")
        y = data_utils.as_array(y, "y")
        data_utils.check_same_length(x=x, y=y)
        targets = self.loss.prepare_targets(y, self._graph.outputs[0].shape)
        return x, y, targets

    # ----- training -----
    def train_step(self, xb, targets_b):
        """One optimizer step on a float32 batch; returns (loss, predictions)."""
        (y_pred,) = self._graph.forward([xb], training=True)
        loss_value, grad = self.loss.value_and_grad(y_pred, targets_b, self._fused)
        self._graph.backward([grad])
        self.optimizer.apply(self._arena.params, self._arena.grads)
        return loss_value, y_pred

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
        x = data_utils.as_array(x, "x")
        y = data_utils.as_array(y, "y") if y is not None else None
        if validation_data is None and validation_split:
            data_utils.check_same_length(x=x, y=y)
            (x, y), validation_data = data_utils.split_validation(x, y, validation_split)
        x, y, targets = self._check_xy(x, y)
        data_utils.check_not_empty("fit", x)
        epochs, initial_epoch = _check_epochs(epochs, initial_epoch)
        val = None
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("`validation_data` must be a tuple (x_val, y_val).")
            val = self._check_xy(*validation_data)
        self._prepare_training()

        n = len(x)
        steps = math.ceil(n / batch_size)
        history = callbacks_module.History()
        cbs = callbacks_module.CallbackList(
            list(callbacks or []) + [history], model=self,
            epochs=epochs, steps=steps, verbose=verbose)
        self.stop_training = False
        cbs.on_train_begin()
        rng_order = None
        buffers = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = Progbar(steps, verbose=verbose, stateless_metrics=set()) if verbose else None
            if shuffle:
                rng_order = nb_random.generator().permutation(n)
            metrics = self._make_metrics(y, self._graph.outputs[0].shape)
            loss_sum, seen = 0.0, 0
            for step, idx in enumerate(data_utils.batch_indices(n, batch_size, rng_order)):
                cbs.on_train_batch_begin(step)
                xb = data_utils.gather_float32(x, idx, buffers)
                loss_value, y_pred = self.train_step(xb, targets[idx])
                rows = len(xb)
                loss_sum += loss_value * rows
                seen += rows
                y_batch = y[idx]
                for m in metrics:
                    m.update_state(y_batch, y_pred)
                logs = _logs(metrics, loss_sum / seen)
                cbs.on_train_batch_end(step, logs)
                if bar is not None and step + 1 < steps:
                    bar.update(step + 1, list(logs.items()))
            epoch_logs = _logs(metrics, loss_sum / seen)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_arrays(val[0], val[1], val[2],
                                                 validation_batch_size or batch_size)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            if bar is not None:
                bar.update(steps, list(epoch_logs.items()), finalize=True)
            cbs.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        self.history = history
        return history

    # ----- inference -----
    def _evaluate_arrays(self, x, y, targets, batch_size):
        metrics = self._make_metrics(y, self._graph.outputs[0].shape)
        loss_sum, seen = 0.0, 0
        buffers = {}
        for idx in data_utils.batch_indices(len(x), batch_size):
            xb = data_utils.gather_float32(x, idx, buffers)
            (y_pred,) = self._graph.forward([xb], training=False)
            loss_value, _ = self.loss.value_and_grad(y_pred, targets[idx], False)
            loss_sum += loss_value * len(xb)
            seen += len(xb)
            for m in metrics:
                m.update_state(y[idx], y_pred)
        return _logs(metrics, loss_sum / max(seen, 1))

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        self._require_compiled("evaluate")
        if sample_weight is not None:
            raise NotImplementedError("evaluate(): sample_weight is not supported yet.")
        batch_size = _check_batch_size(batch_size)
        x, y, targets = self._check_xy(x, y)
        data_utils.check_not_empty("evaluate", x)
        verbose = _verbosity(verbose)
        start = time.time()
        logs = self._evaluate_arrays(x, y, targets, batch_size)
        if verbose:
            steps_done = math.ceil(len(x) / batch_size)
            bar = Progbar(steps_done, verbose=verbose, stateless_metrics=set())
            bar._start = start
            bar.update(steps_done, list(logs.items()), finalize=True)
        if return_dict:
            return logs
        ordered = [logs["loss"]] + [v for k, v in logs.items() if k != "loss"]
        return ordered[0] if len(ordered) == 1 else ordered

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        batch_size = _check_batch_size(batch_size)
        x = self._check_x(x)
        out = None
        buffers = {}
        for idx in data_utils.batch_indices(len(x), batch_size):
            xb = data_utils.gather_float32(x, idx, buffers)
            (y_pred,) = self._graph.forward([xb], training=False)
            if out is None:
                out = np.empty((len(x),) + y_pred.shape[1:], dtype=np.float32)
            out[idx] = y_pred
        if out is None:
            out = np.empty((0,) + tuple(self._graph.outputs[0].shape[1:]), dtype=np.float32)
        return out

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=max(len(x), 1))

    def train_on_batch(self, x, y):
        self._require_compiled("train_on_batch")
        x, y, targets = self._check_xy(x, y)
        data_utils.check_not_empty("train_on_batch", x)
        self._prepare_training()
        loss_value, _ = self.train_step(np.ascontiguousarray(x, dtype=np.float32), targets)
        return loss_value

    def test_on_batch(self, x, y, return_dict=False):
        return self.evaluate(x, y, batch_size=max(len(x), 1), verbose=0,
                             return_dict=return_dict)

    # ----- Layer protocol (a model can be called like a layer) -----
    def call(self, inputs, training=False):
        x = self._check_x(inputs)
        (y,) = self._graph.forward([np.ascontiguousarray(x, dtype=np.float32)],
                                   training=training)
        return y

    def compute_output_shape(self, input_shape):
        return self._graph.outputs[0].shape

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()}
                           for l in self.layers]}


def _logs(metrics, loss):
    logs = {m.name: m.result() for m in metrics}
    logs["loss"] = float(loss)
    return logs


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


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

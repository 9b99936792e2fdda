"""What ``compile(loss=..., loss_weights=..., metrics=...)`` turns into.

Both resolve lazily, at the first batch, when the targets and predictions are
known (``"accuracy"`` needs their shapes), and follow Keras 3's rules for
models with several outputs: a list lines up with the outputs, a dict goes by
output name (outputs left out get nothing), one loss applies to every output.
Per-output loss trackers are named ``<output>_loss`` (only when there is more
than one loss), per-output metrics ``<output>_<metric>``.
"""
import numpy as np

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import ops, tree
from ..engine.tensor import value_of


def _output_names(y_pred, model_names):
    n = len(tree.flatten(y_pred))
    if isinstance(y_pred, dict):
        if model_names and set(y_pred) == set(model_names):
            return list(model_names)
        return sorted(y_pred)
    if model_names and len(model_names) == n:
        return list(model_names)
    return [f"output_{i}" for i in range(n)] if n > 1 else [None]


def _check_output_keys(argument, keys, names):
    unknown = sorted(set(keys) - set(names))
    if unknown:
        raise ValueError(f"compile({argument}=...) names output(s) {unknown} that the model "
                         f"does not have; its outputs are {names}.")


def _flatten_y(y, names):
    if isinstance(y, dict):
        return [y[n] for n in names]
    return tree.flatten(y)


def _batch_size(y):
    leaves = tree.flatten(y)
    return len(value_of(leaves[0])) if leaves and np.ndim(value_of(leaves[0])) else 1


class CompileLoss:
    def __init__(self, loss, loss_weights=None, output_names=None):
        self._user_loss = loss
        self._user_weights = loss_weights
        self.output_names = output_names
        self.built = False
        self.metrics = []

    def build(self, y_true, y_pred):
        names = _output_names(y_pred, self.output_names)
        n = len(names)
        spec = self._user_loss
        if isinstance(spec, dict):
            _check_output_keys("loss", spec, names)
            flat = [spec.get(name) for name in names]
        elif isinstance(spec, (list, tuple)):
            if len(spec) != n:
                raise ValueError(f"compile(loss=...) lists {len(spec)} losses for a model with "
                                 f"{n} output(s) {names}.")
            flat = list(spec)
        else:
            flat = [spec] * n
        self._losses = [None if l is None else losses_module.get(l) for l in flat]
        self._weights = self._resolve_weights(names)
        self._names = names
        kept = [i for i, l in enumerate(self._losses) if l is not None]
        self._trackers = [None] * n
        if len(kept) > 1:
            for i in kept:
                self._trackers[i] = metrics_module.Mean(name=f"{names[i]}_loss")
        self.metrics = [t for t in self._trackers if t is not None]
        self.built = True

    def _resolve_weights(self, names):
        w = self._user_weights
        if w is None:
            return [1.0] * len(names)
        if isinstance(w, dict):
            _check_output_keys("loss_weights", w, names)
            return [float(w.get(n, 1.0)) for n in names]
        if isinstance(w, (list, tuple)):
            if len(w) != len(names):
                raise ValueError(f"compile(loss_weights=...) lists {len(w)} weights for a "
                                 f"model with {len(names)} output(s).")
            return [float(v) for v in w]
        return [float(w)] * len(names)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if not self.built:
            self.build(y_true, y_pred)
        flat_pred = _flatten_y(y_pred, self._names)
        flat_true = _flatten_y(y_true, self._names) if tree.is_nested(y_true) else [y_true]
        if len(flat_true) != len(flat_pred):
            raise ValueError(f"The model has {len(flat_pred)} outputs {self._names} but "
                             f"received targets for {len(tree.flatten(y_true))}.")
        total = None
        for loss, weight, tracker, yt, yp in zip(self._losses, self._weights, self._trackers,
                                                  flat_true, flat_pred):
            if loss is None:
                continue
            value = loss(yt, yp)
            if tracker is not None:
                tracker.update_state(value_of(value), sample_weight=_batch_size(yt))
            term = value if weight == 1.0 else ops.multiply(value, np.float32(weight))
            total = term if total is None else ops.add(total, term)
        return total

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()


class CompileMetrics(metrics_module.Metric):
    def __init__(self, metrics, weighted_metrics=None, output_names=None):
        if metrics and not isinstance(metrics, (list, tuple, dict)):
            raise ValueError(f"Expected `metrics` argument to be a list, tuple, or dict. "
                             f"Received instead: metrics={metrics} of type {type(metrics)}")
        if weighted_metrics:
            raise NotImplementedError("compile(weighted_metrics=...) is not supported yet.")
        for m in tree.flatten(metrics or []):
            if m is not None:
                metrics_module.check_identifier(m)
        self._user_metrics = metrics
        self.output_names = output_names
        self.built = False
        self._flat = []
        super().__init__(name="compile_metrics")

    @property
    def metrics(self):
        return [m for group in self._flat for m in group]

    def build(self, y_true, y_pred):
        names = _output_names(y_pred, self.output_names)
        self._names = names
        user = self._user_metrics
        n = len(names)
        if not user:
            groups = [[] for _ in range(n)]
        elif n == 1:
            groups = [tree.flatten(user)]
        elif isinstance(user, dict):
            _check_output_keys("metrics", user, names)
            groups = [_as_list(user.get(name)) for name in names]
        elif isinstance(user, (list, tuple)) and len(user) == n \
                and all(m is None or isinstance(m, (list, tuple)) for m in user):
            groups = [_as_list(m) for m in user]
        else:
            raise ValueError(
                f"Invalid `metrics`. `metrics` should contain metrics objects and either be a "
                f"dict or a list matching the output names of the model {names} or match the "
                f"output structure of the model: {['X'] * n}.\nReceived: metrics={user}")
        flat_true = _flatten_y(y_true, names)
        flat_pred = _flatten_y(y_pred, names)
        self._flat = [[_resolve(m, yt, yp) for m in group]
                      for group, yt, yp in zip(groups, flat_true, flat_pred)]
        self._prefixes = names if n > 1 else [None]
        self.built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self.built:
            self.build(y_true, y_pred)
        flat_true = _flatten_y(y_true, self._names)
        flat_pred = _flatten_y(y_pred, self._names)
        for group, yt, yp in zip(self._flat, flat_true, flat_pred):
            for m in group:
                m.update_state(yt, yp)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()

    def result(self):
        results, counts = {}, {}
        for group, prefix in zip(self._flat, getattr(self, "_prefixes", [])):
            for m in group:
                name = f"{prefix}_{m.name}" if prefix else m.name
                if name in counts:
                    counts[name] += 1
                    name = f"{name}_{counts[name] - 1}"
                else:
                    counts[name] = 1
                results[name] = m.result()
        return results


def _as_list(m):
    if m is None:
        return []
    return list(m) if isinstance(m, (list, tuple)) else [m]


def _resolve(identifier, y_true, y_pred):
    shape_true = np.shape(value_of(y_true))
    shape_pred = np.shape(value_of(y_pred))
    metric = metrics_module.get(identifier, shape_true, shape_pred)
    if isinstance(identifier, str):
        metric.name = identifier
    return metric

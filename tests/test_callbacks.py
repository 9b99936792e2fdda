"""Callbacks follow Keras 3's interface and semantics."""
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

from nbkeras.callbacks import (  # noqa: E402
    Callback, CallbackList, EarlyStopping, History, LambdaCallback)


class FakeModel:
    """Weights are one integer: the epoch that last "trained" them."""

    def __init__(self):
        self.stop_training = False
        self.weights = [np.array(-1)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


def run_epochs(callback, values, model=None, monitor="val_loss", logs_fn=None):
    """Drive ``callback`` like ``fit`` does over epochs whose monitored value
    is ``values[epoch]``; returns (model, number of epochs run)."""
    model = model or FakeModel()
    cbs = CallbackList([callback], model=model, epochs=len(values), verbose=0)
    cbs.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        cbs.on_epoch_begin(epoch)
        model.weights = [np.array(epoch)]
        logs = logs_fn(epoch, value) if logs_fn else {monitor: value}
        cbs.on_epoch_end(epoch, logs)
        epochs += 1
        if model.stop_training:
            break
    cbs.on_train_end()
    return model, epochs


# ----------------------------------------------------------------------------
# Callback / CallbackList
# ----------------------------------------------------------------------------
HOOKS = [("on_train_begin", ()), ("on_train_end", ()),
         ("on_epoch_begin", (0,)), ("on_epoch_end", (0,)),
         ("on_train_batch_begin", (0,)), ("on_train_batch_end", (0,)),
         ("on_test_begin", ()), ("on_test_end", ()),
         ("on_test_batch_begin", (0,)), ("on_test_batch_end", (0,)),
         ("on_predict_begin", ()), ("on_predict_end", ()),
         ("on_predict_batch_begin", (0,)), ("on_predict_batch_end", (0,))]


class Recorder(Callback):
    def __init__(self, tag, journal):
        super().__init__()
        self.tag, self.journal = tag, journal

    def __getattribute__(self, name):
        if name.startswith("on_") and name not in ("on_batch_begin", "on_batch_end"):
            journal, tag = object.__getattribute__(self, "journal"), \
                object.__getattribute__(self, "tag")

            def hook(*args, logs=None):
                if args and isinstance(args[-1], dict):
                    *args, logs = args
                journal.append((tag, name, tuple(args), logs))
            return hook
        return object.__getattribute__(self, name)


def test_base_callback_hooks_are_noops():
    cb = Callback()
    assert cb.model is None and cb.params is None
    for name, args in HOOKS:
        assert getattr(cb, name)(*args, logs={"loss": 1.0}) is None
    cb.set_params({"epochs": 2})
    cb.set_model("m")
    assert cb.params == {"epochs": 2} and cb.model == "m"


def test_train_batch_hooks_alias_batch_hooks():
    seen = []

    class Old(Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch, logs))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, logs))

    cb = Old()
    cb.on_train_batch_begin(3, logs={"a": 1})
    cb.on_train_batch_end(3, logs={"a": 2})
    assert seen == [("begin", 3, {"a": 1}), ("end", 3, {"a": 2})]


def test_callback_list_dispatches_every_hook_in_order():
    journal = []
    a, b = Recorder("a", journal), Recorder("b", journal)
    cbs = CallbackList([a, [b]], model="model", epochs=3, verbose=1)
    assert cbs.callbacks == [a, b] and list(cbs) == [a, b]
    assert a.model == "model" and b.params == {"epochs": 3, "verbose": 1}
    for name, args in HOOKS:
        getattr(cbs, name)(*args, logs={"loss": np.float32(0.5)})
    assert [(t, n) for t, n, _, _ in journal] == [
        (t, n) for n, _ in HOOKS for t in "ab"]
    for _, _, args, logs in journal:
        assert logs == {"loss": 0.5} and type(logs["loss"]) is float
    assert all(args in ((), (0,)) for _, _, args, _ in journal)


def test_callback_list_pythonifies_logs():
    got = []
    cbs = CallbackList([LambdaCallback(on_epoch_end=lambda e, logs: got.append(logs))])
    cbs.on_epoch_end(0, {"val_loss": np.array(2.0), "loss": 1,
                         "nested": {"acc": np.float64(0.25)}, "name": "x"})
    assert got == [{"loss": 1.0, "acc": 0.25, "name": "x", "val_loss": 2.0}]
    assert list(got[0]) == ["loss", "name", "acc", "val_loss"]  # sorted ("nested" < "val")
    assert type(got[0]["val_loss"]) is float


def test_callback_list_add_history_and_end_without_begin():
    model = FakeModel()
    cbs = CallbackList(None, add_history=True, model=model)
    assert isinstance(cbs.callbacks[0], History) and model.history is cbs.callbacks[0]
    h = History()
    cbs = CallbackList([h], add_history=True, model=model)
    assert cbs.callbacks == [h] and model.history is h
    with pytest.raises(ValueError, match="without corresponding"):
        cbs.on_test_end()


def test_lambda_callback():
    calls = []
    cb = LambdaCallback(on_epoch_end=lambda epoch, logs: calls.append(("epoch", epoch)),
                        on_train_begin=lambda logs: calls.append(("begin",)),
                        on_train_batch_end=lambda batch, logs: calls.append(("batch", batch)),
                        on_test_end=lambda logs: calls.append(("test_end",)))
    cbs = CallbackList([cb])
    cbs.on_train_begin()
    cbs.on_train_batch_end(4)
    cbs.on_epoch_end(1, {"loss": 0.1})
    cbs.on_test_begin()
    cbs.on_test_end()
    cbs.on_predict_begin()  # not given: the base no-op
    cbs.on_predict_end()
    assert calls == [("begin",), ("batch", 4), ("epoch", 1), ("test_end",)]


# ----------------------------------------------------------------------------
# History
# ----------------------------------------------------------------------------
def test_history_accumulates():
    model = FakeModel()
    h = History()
    cbs = CallbackList([h], model=model, epochs=3)
    assert h.params == {"epochs": 3}
    cbs.on_train_begin()
    for epoch in range(3):
        cbs.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "accuracy": 0.1 * epoch})
    cbs.on_train_end()
    assert h.epoch == [0, 1, 2]
    assert h.history == {"accuracy": [0.0, 0.1, 0.2], "loss": [1.0, 0.5, 1.0 / 3]}
    assert model.history is h
    # a second fit restarts ``epoch`` but keeps appending to ``history``
    cbs.on_train_begin()
    cbs.on_epoch_end(0, {"loss": 0.25, "val_loss": 0.3})
    assert h.epoch == [0]
    assert h.history["loss"][-1] == 0.25 and h.history["val_loss"] == [0.3]


# ----------------------------------------------------------------------------
# EarlyStopping
# ----------------------------------------------------------------------------
def test_early_stopping_patience_min():
    _, n = run_epochs(EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.92, 0.5])
    assert n == 4  # two epochs without improvement after epoch 1


def test_early_stopping_patience_zero_stops_at_first_plateau():
    es = EarlyStopping(monitor="loss", patience=0)
    _, n = run_epochs(es, [3.0, 2.0, 2.0, 1.0], monitor="loss")
    assert n == 3 and es.stopped_epoch == 2 and es.best == 2.0 and es.best_epoch == 1


def test_early_stopping_never_stops_at_epoch_zero():
    es = EarlyStopping(monitor="loss", patience=0, baseline=0.1)
    _, n = run_epochs(es, [1.0, 1.0], monitor="loss")
    assert n == 2 and es.stopped_epoch == 1


def test_early_stopping_mode_max_and_auto():
    _, n = run_epochs(EarlyStopping(monitor="val_accuracy", patience=1),
                      [0.5, 0.6, 0.7, 0.65, 0.6, 0.9], monitor="val_accuracy")
    assert n == 4  # auto: "accuracy" should go up; 0.65 is the first miss
    _, n = run_epochs(EarlyStopping(monitor="score", mode="max", patience=1),
                      [1, 2, 1, 1], monitor="score")
    assert n == 3
    _, n = run_epochs(EarlyStopping(monitor="score", mode="min", patience=1),
                      [1, 2, 1, 1], monitor="score")
    assert n == 2


def test_early_stopping_auto_mode_uses_metric_direction():
    class Metric:
        name, _direction = "fancy", "up"

    model = FakeModel()
    model.metrics = [Metric()]
    _, n = run_epochs(EarlyStopping(monitor="val_fancy", patience=1),
                      [1, 2, 3, 2, 1], model=model, monitor="val_fancy")
    assert n == 4
    with pytest.raises(ValueError, match="maximized or minimized"):
        run_epochs(EarlyStopping(monitor="val_fancy"), [1, 2],
                   monitor="val_fancy")


def test_early_stopping_unknown_mode_warns():
    with pytest.warns(UserWarning, match="unknown, fallback to auto"):
        es = EarlyStopping(mode="sideways")
    assert es.mode == "auto"


def test_early_stopping_min_delta():
    # improvements of 0.05 do not count when min_delta=0.1
    _, n = run_epochs(EarlyStopping(min_delta=0.1, patience=2),
                      [1.0, 0.95, 0.9, 0.85, 0.8])
    assert n == 3
    _, n = run_epochs(EarlyStopping(min_delta=-0.1, patience=2),  # |min_delta|
                      [1.0, 0.95, 0.9, 0.85, 0.8])
    assert n == 3
    _, n = run_epochs(EarlyStopping(monitor="acc", min_delta=0.1, patience=1),
                      [0.1, 0.25, 0.3, 0.35], monitor="acc")
    assert n == 3


def test_early_stopping_restore_best_weights():
    es = EarlyStopping(patience=2, restore_best_weights=True)
    model, n = run_epochs(es, [1.0, 0.5, 0.7, 0.8, 0.1])
    assert n == 4 and es.best_epoch == 1
    assert model.get_weights() == [1]  # weights of the best epoch
    model, _ = run_epochs(EarlyStopping(patience=2), [1.0, 0.5, 0.7, 0.8])
    assert model.get_weights() == [3]  # untouched without restore


def test_early_stopping_restores_even_without_stopping():
    es = EarlyStopping(patience=5, restore_best_weights=True)
    model, n = run_epochs(es, [1.0, 0.2, 0.7])
    assert n == 3 and es.stopped_epoch == 0 and model.get_weights() == [1]


def test_early_stopping_baseline():
    # Nothing beats the baseline: stop after `patience` epochs, restore the
    # best of those.
    es = EarlyStopping(patience=3, baseline=0.1, restore_best_weights=True)
    model, n = run_epochs(es, [0.5, 0.4, 0.45, 0.3, 0.2])
    assert n == 3 and model.get_weights() == [1]
    # Beating the baseline resets the wait.
    _, n = run_epochs(EarlyStopping(patience=2, baseline=0.45),
                      [0.5, 0.4, 0.42, 0.41, 0.43])
    assert n == 4


def test_early_stopping_start_from_epoch_and_missing_monitor():
    es = EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    _, n = run_epochs(es, [1, 2, 3, 4, 5], monitor="loss")
    assert n == 5 and es.best == 4  # first three epochs ignored
    with pytest.warns(UserWarning, match="not available. Available metrics are: loss"):
        _, n = run_epochs(EarlyStopping(patience=0), [1, 2, 3], monitor="loss")
    assert n == 3


def test_early_stopping_reusable_and_verbose(capsys):
    es = EarlyStopping(monitor="loss", patience=1, verbose=1,
                       restore_best_weights=True)
    run_epochs(es, [1.0, 2.0, 3.0], monitor="loss")
    assert capsys.readouterr().out == (
        "Epoch 2: early stopping\n"
        "Restoring model weights from the end of the best epoch: 1.\n")
    model, n = run_epochs(es, [5.0, 4.0, 3.0], monitor="loss")
    assert n == 3 and es.best == 3.0 and model.get_weights() == [2]


# ----------------------------------------------------------------------------
# Against real Keras, when it is installed.
# ----------------------------------------------------------------------------
SEQUENCES = [
    [1.0, 0.9, 0.95, 0.92, 0.5, 0.4, 0.41, 0.42, 0.43],
    [0.5, 0.4, 0.45, 0.3, 0.2, 0.21, 0.19],
    [3, 3, 3, 3, 3],
    [1.0, 0.95, 0.9, 0.85, 0.8, 0.75],
    [0.1, 0.25, 0.3, 0.35, 0.3, 0.2, 0.6],
]
CONFIGS = [
    dict(patience=0), dict(patience=2), dict(patience=1, mode="max"),
    dict(patience=2, min_delta=0.06), dict(patience=2, min_delta=0.06, mode="max"),
    dict(patience=3, baseline=0.1, restore_best_weights=True),
    dict(patience=2, baseline=0.45, restore_best_weights=True),
    dict(patience=1, start_from_epoch=2, restore_best_weights=True),
    dict(patience=4, restore_best_weights=True),
]


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_early_stopping_same_as_keras(config):
    keras = pytest.importorskip("keras")
    for values in SEQUENCES:
        ours = EarlyStopping(monitor="loss", **config)
        theirs = keras.callbacks.EarlyStopping(monitor="loss", **config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m1, n1 = run_epochs(ours, values, monitor="loss")
            m2, n2 = run_epochs(theirs, values, monitor="loss")
        assert (n1, m1.get_weights(), ours.stopped_epoch, ours.best_epoch) == \
            (n2, m2.get_weights(), theirs.stopped_epoch, theirs.best_epoch), values


def test_history_same_as_keras():
    keras = pytest.importorskip("keras")
    logs = [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5, "val_loss": 1.5}]
    records = []
    for cls in (History, keras.callbacks.History):
        h, model = cls(), FakeModel()
        h.set_model(model)
        h.on_train_begin()
        for epoch, log in enumerate(logs):
            h.on_epoch_end(epoch, log)
        records.append((h.history, h.epoch, model.history is h))
    assert records[0] == records[1]

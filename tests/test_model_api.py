"""The Keras model API a user relies on: building, compile/fit/evaluate/predict,
weights, freezing, seeding, metric resolution, Dropout, progress output, and a
real-data run (sklearn's digits) with an honest accuracy threshold.

Pure nbkeras: no Keras needed. Models are tiny so the file runs in seconds.
"""
import math

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import layers
from seed_cnn import seed_cnn as seed_cnn_in

L = layers


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def seed_cnn():
    return seed_cnn_in(keras)


def mlp(n_in=6, hidden=8, n_out=3, out_activation="softmax", dropout=None):
    stack = [keras.Input((n_in,)), L.Dense(hidden, activation="relu")]
    if dropout is not None:
        stack.append(L.Dropout(dropout))
    stack.append(L.Dense(n_out, activation=out_activation))
    return keras.Sequential(stack)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    return x, y


def weights_equal(a, b):
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0
        self.epochs = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


# ----------------------------------------------------------------------------
# building
# ----------------------------------------------------------------------------
def test_sequential_four_ways_build_the_same_model():
    a = keras.Sequential([L.Dense(8, activation="relu", input_shape=(6,)), L.Dense(3)])
    b = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu"), L.Dense(3)])
    c = keras.Sequential()
    c.add(keras.Input(shape=(6,)))
    c.add(L.Dense(8, activation="relu"))
    c.add(L.Dense(3))
    inp = keras.Input((6,))
    out = L.Dense(3)(L.Dense(8, activation="relu")(inp))
    d = keras.Model(inp, out)
    e = keras.Model(inputs=inp, outputs=out)
    for m in (a, b, c, d, e):
        assert m.count_params() == 6 * 8 + 8 + 8 * 3 + 3 == 83
        assert [w.shape for w in m.get_weights()] == [(6, 8), (8,), (8, 3), (3,)]
        assert tuple(m.input_shape) == (None, 6)
    for m in (a, b, c):
        assert len(m.layers) == 2 and all(isinstance(l, L.Dense) for l in m.layers)
    # Keras lists a functional model's InputLayer first; Sequential hides it.
    assert isinstance(d.layers[0], L.InputLayer)
    assert [type(l).__name__ for l in d.layers] == ["InputLayer", "Dense", "Dense"]
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    b.set_weights(a.get_weights())
    c.set_weights(a.get_weights())
    d.set_weights(a.get_weights())
    pa = a.predict(x, verbose=0)
    np.testing.assert_array_equal(pa, b.predict(x, verbose=0))
    np.testing.assert_array_equal(pa, c.predict(x, verbose=0))
    np.testing.assert_array_equal(pa, d.predict(x, verbose=0))


def test_sequential_without_input_builds_on_first_data(data):
    x, y = data
    m = keras.Sequential([L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, verbose=0)
    assert m.count_params() == 6 * 8 + 8 + 8 * 3 + 3
    assert m.predict(x[:4], verbose=0).shape == (4, 3)


def test_layers_and_layer_weights():
    m = seed_cnn()
    names = [type(l).__name__ for l in m.layers]
    assert names == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten",
                     "Dense", "Dense"]
    conv = m.layers[0]
    assert [w.shape for w in conv.weights] == [(3, 3, 3, 32), (32,)]
    assert [w.name for w in conv.weights] == ["kernel", "bias"]
    assert m.layers[1].weights == []
    assert conv.count_params() == 896
    assert m.get_layer(conv.name) is conv


def test_get_set_weights_order_and_shapes():
    m = seed_cnn()
    shapes = [w.shape for w in m.get_weights()]
    # Keras's order: kernel then bias, layer by layer
    assert shapes == [(3, 3, 3, 32), (32,), (3, 3, 32, 64), (64,), (3, 3, 64, 64), (64,),
                      (1024, 64), (64,), (64, 10), (10,)]
    assert all(w.dtype == np.float32 for w in m.get_weights())
    assert m.count_params() == sum(int(np.prod(s)) for s in shapes) == 122_570
    rng = np.random.default_rng(2)
    new = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    m.set_weights(new)
    assert weights_equal(m.get_weights(), new)
    # get_weights returns copies
    got = m.get_weights()
    got[0][...] = 0
    assert not np.array_equal(m.get_weights()[0], got[0])
    # biases are zero-initialised, kernels glorot-uniform-bounded
    fresh = seed_cnn().get_weights()
    assert all(not b.any() for b in fresh[1::2])
    limit = math.sqrt(6 / (3 * 3 * 3 + 3 * 3 * 32))
    assert np.abs(fresh[0]).max() <= limit and np.abs(fresh[0]).max() > 0.5 * limit


def test_summary_prints_param_counts(capsys):
    m = seed_cnn()
    m.summary()
    out = capsys.readouterr().out
    assert "Total params: 122,570" in out
    assert "Trainable params: 122,570" in out
    assert "Non-trainable params: 0" in out
    for count in ("896", "18,496", "36,928", "65,600", "650"):
        assert count in out
    assert "(None, 30, 30, 32)" in out and "(None, 1024)" in out
    texts = []
    m.summary(print_fn=texts.append)
    assert "Total params: 122,570" in "".join(texts)


def test_input_with_unknown_spatial_dims():
    m = keras.Sequential([keras.Input((None, None, 2)), L.Conv2D(3, 3, padding="same"),
                          L.GlobalMaxPooling2D(), L.Dense(2)])
    assert m.layers[0].output_shape == (None, None, None, 3)
    assert m.predict(np.ones((2, 5, 7, 2)), verbose=0).shape == (2, 2)
    assert m.predict(np.ones((1, 9, 4, 2)), verbose=0).shape == (1, 2)


# ----------------------------------------------------------------------------
# compile
# ----------------------------------------------------------------------------
def test_compile_with_strings_and_objects(data):
    x, y = data
    m = mlp()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert isinstance(m.optimizer, keras.optimizers.Adam)
    assert m.optimizer.learning_rate == pytest.approx(0.001)
    opt = keras.optimizers.Adam(learning_rate=0.005)
    loss = keras.losses.SparseCategoricalCrossentropy()
    m.compile(optimizer=opt, loss=loss, metrics=[keras.metrics.SparseCategoricalAccuracy()])
    assert m.optimizer is opt and m.optimizer.learning_rate == pytest.approx(0.005)
    h = m.fit(x, y, epochs=1, batch_size=50, verbose=0)
    assert set(h.history) == {"loss", "sparse_categorical_accuracy"}
    assert opt.iterations == 2
    for name, cls in [("sgd", keras.optimizers.SGD), ("rmsprop", keras.optimizers.RMSprop),
                      ("adagrad", keras.optimizers.Adagrad), ("adamw", keras.optimizers.AdamW),
                      ("Adam", keras.optimizers.Adam)]:
        m.compile(optimizer=name, loss="mse")
        assert type(m.optimizer) is cls


def test_failed_compile_leaves_the_model_as_it_was(data):
    x, y = data
    m = mlp()
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    opt, loss = m.optimizer, m.loss
    with pytest.raises(ValueError, match="acuracy"):
        m.compile("adam", "mse", metrics=["acuracy"])
    with pytest.raises(ValueError, match="msee"):
        m.compile("adam", "msee")
    assert m.optimizer is opt and m.loss is loss
    h = m.fit(x, y, epochs=1, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}


# ----------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------
def test_fit_history_keys_with_validation_data(data):
    x, y = data
    m = mlp()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x[:80], y[:80], epochs=3, validation_data=(x[80:], y[80:]), verbose=0)
    assert isinstance(h, keras.callbacks.History) and m.history is h
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in h.history.values())
    assert all(isinstance(v, float) for vs in h.history.values() for v in vs)
    assert h.epoch == [0, 1, 2]
    # the last val_* are the end-of-training evaluation of the validation data
    loss, acc = m.evaluate(x[80:], y[80:], verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert h.history["val_accuracy"][-1] == pytest.approx(acc, rel=1e-6)


def test_fit_validation_split_takes_the_last_samples(data):
    x, y = data
    m = mlp()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    counter = BatchCounter()
    h = m.fit(x, y, epochs=2, batch_size=10, validation_split=0.25, callbacks=[counter],
              verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert counter.batches == 2 * math.ceil(75 / 10)  # 75 training samples, 8 batches
    loss, acc = m.evaluate(x[75:], y[75:], verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert h.history["val_accuracy"][-1] == pytest.approx(acc, rel=1e-6)


def test_epochs_and_initial_epoch(data):
    x, y = data
    m = mlp()
    m.compile("sgd", "sparse_categorical_crossentropy")
    counter = BatchCounter()
    h = m.fit(x, y, epochs=3, initial_epoch=1, callbacks=[counter], verbose=0)
    assert h.epoch == [1, 2] and counter.epochs == [1, 2]
    assert len(h.history["loss"]) == 2
    h = m.fit(x, y, epochs=2, initial_epoch=2, verbose=0)
    assert h.epoch == [] and m.optimizer.iterations == 2 * 4


def test_batch_size_default_is_32(data):
    x, y = data
    m = mlp()
    m.compile("sgd", "sparse_categorical_crossentropy")
    counter = BatchCounter()
    m.fit(x, y, epochs=2, callbacks=[counter], verbose=0)
    assert counter.batches == 2 * math.ceil(100 / 32)
    assert m.optimizer.iterations == 8
    counter = BatchCounter()
    m.fit(x, y, epochs=1, batch_size=7, callbacks=[counter], verbose=0)
    assert counter.batches == math.ceil(100 / 7)


def test_shuffle_false_is_consecutive_batches_and_true_is_not(data):
    x, y = data
    keras.utils.set_random_seed(3)
    base = mlp()
    w0 = base.get_weights()

    def trained(shuffle):
        m = mlp()
        m.set_weights(w0)
        m.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        m.fit(x, y, epochs=1, batch_size=25, shuffle=shuffle, verbose=0)
        return m.get_weights()

    manual = mlp()
    manual.set_weights(w0)
    manual.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    for start in range(0, 100, 25):
        manual.train_on_batch(x[start:start + 25], y[start:start + 25])
    assert weights_equal(trained(False), manual.get_weights())
    assert not weights_equal(trained(True), manual.get_weights())


def test_fit_on_uint8_and_float64_inputs(data):
    x, y = data
    m = mlp()
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(m.predict(x64, verbose=0), m.predict(x, verbose=0))
    xu8 = (np.abs(x) * 40).astype(np.uint8)
    np.testing.assert_array_equal(m.predict(xu8, verbose=0),
                                  m.predict(xu8.astype(np.float32), verbose=0))
    for xx in (x64, xu8):
        h = m.fit(xx, y.astype(np.uint8), epochs=1, verbose=0)
        assert np.isfinite(h.history["loss"][0])
    assert m.predict(xu8, verbose=0).dtype == np.float32
    assert m.evaluate(x64, y.astype(np.int32), verbose=0)[0] > 0
    # plain nested lists of numbers are data too
    assert m.predict(x[:3].tolist(), verbose=0).shape == (3, 3)


# ----------------------------------------------------------------------------
# evaluate / predict
# ----------------------------------------------------------------------------
def test_evaluate_returns_loss_first_and_dict(data):
    x, y = data
    m = mlp()
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    res = m.evaluate(x, y, verbose=0)
    assert isinstance(res, list) and len(res) == 2
    p = m.predict(x, verbose=0).astype(np.float64)
    ce = -np.log(np.clip(p[np.arange(100), y], 1e-7, 1 - 1e-7)).mean()
    acc = (p.argmax(axis=1) == y).mean()
    assert res[0] == pytest.approx(ce, rel=1e-5)
    assert res[1] == pytest.approx(acc, abs=1e-6)
    d = m.evaluate(x, y, verbose=0, return_dict=True)
    assert set(d) == {"loss", "accuracy"}
    assert d["loss"] == pytest.approx(res[0], rel=1e-6) and d["accuracy"] == res[1]
    # batch size does not change the (sample-weighted) result
    assert m.evaluate(x, y, batch_size=7, verbose=0)[0] == pytest.approx(res[0], rel=1e-5)
    m.compile("sgd", "sparse_categorical_crossentropy")
    loss_only = m.evaluate(x, y, verbose=0)
    assert isinstance(loss_only, float) and loss_only == pytest.approx(res[0], rel=1e-6)


def test_predict_batched_equals_one_big_batch():
    m = seed_cnn()
    x = np.random.default_rng(4).random((37, 32, 32, 3), dtype=np.float32)
    p = m.predict(x, batch_size=8, verbose=0)
    assert p.shape == (37, 10) and p.dtype == np.float32
    big = m.predict(x, batch_size=37, verbose=0)
    np.testing.assert_allclose(p, big, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m.predict(x, verbose=0), big, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------
# trainable / seeds / metrics / Dropout
# ----------------------------------------------------------------------------
def test_frozen_layer_does_not_change_during_fit(data):
    x, y = data
    m = mlp()
    m.layers[0].trainable = False
    m.compile("adam", "sparse_categorical_crossentropy")
    assert len(m.trainable_weights) == 2 and len(m.non_trainable_weights) == 2
    before = m.get_weights()
    m.fit(x, y, epochs=2, batch_size=20, verbose=0)
    after = m.get_weights()
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert not np.array_equal(before[2], after[2]) and not np.array_equal(before[3], after[3])
    # unfreezing takes effect at the next fit
    m.layers[0].trainable = True
    m.fit(x, y, epochs=1, batch_size=20, verbose=0)
    assert not np.array_equal(after[0], m.get_weights()[0])


def _seeded_run(seed, x, y):
    keras.utils.set_random_seed(seed)
    m = mlp(dropout=0.3)
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)  # shuffled, with dropout
    return m.get_weights()


def test_set_random_seed_makes_training_repeatable(data):
    x, y = data
    a = _seeded_run(42, x, y)
    b = _seeded_run(42, x, y)
    c = _seeded_run(43, x, y)
    assert weights_equal(a, b)
    assert not any(np.array_equal(p, q) for p, q in zip(a[::2], c[::2]))


@pytest.mark.parametrize("kind", ["sparse", "sparse_col", "one_hot", "binary", "binary_col"])
def test_accuracy_resolution(data, kind):
    x, y = data
    if kind.startswith("binary"):
        m = mlp(n_out=1, out_activation="sigmoid")
        loss = "binary_crossentropy"
        yy = (y > 0).astype(np.float32)
        if kind == "binary_col":
            yy = yy[:, None]
    else:
        m = mlp()
        loss = "categorical_crossentropy" if kind == "one_hot" else "sparse_categorical_crossentropy"
        yy = {"sparse": y, "sparse_col": y[:, None],
              "one_hot": np.eye(3, dtype=np.float32)[y]}[kind]
    m.compile("sgd", loss, metrics=["accuracy"])
    loss_value, acc = m.evaluate(x, yy, verbose=0)
    p = m.predict(x, verbose=0)
    if kind.startswith("binary"):
        expected = ((p[:, 0] > 0.5) == (y > 0)).mean()
    else:
        expected = (p.argmax(axis=1) == y).mean()
    assert acc == pytest.approx(expected, abs=1e-6)
    h = m.fit(x, yy, epochs=1, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}


def test_dropout_active_in_fit_inactive_in_predict(data):
    x, y = data
    keras.utils.set_random_seed(5)
    m = mlp(hidden=32, dropout=0.5)
    plain = mlp(hidden=32)
    plain.set_weights(m.get_weights())
    # inference: Dropout is the identity
    p1 = m.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, m.predict(x, verbose=0))
    np.testing.assert_array_equal(p1, plain.predict(x, verbose=0))
    np.testing.assert_array_equal(m(x), p1)
    assert not np.array_equal(m(x, training=True), p1)
    # training: lr 0 keeps the weights, yet every step sees another mask
    m.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    eval_loss = m.evaluate(x, y, batch_size=100, verbose=0)
    l1 = m.train_on_batch(x, y)
    l2 = m.train_on_batch(x, y)
    assert l1 != l2 and l1 != pytest.approx(eval_loss, rel=1e-6)
    h = m.fit(x, y, epochs=1, batch_size=100, shuffle=False, verbose=0)
    assert h.history["loss"][0] != pytest.approx(eval_loss, rel=1e-6)


# ----------------------------------------------------------------------------
# progress output
# ----------------------------------------------------------------------------
def test_verbose_1_without_a_tty(capsys, data):
    x, y = data
    m = mlp()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    capsys.readouterr()
    m.fit(x, y, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = [l for l in out.splitlines() if l.strip()]
    assert lines[0] == "Epoch 1/2"
    assert "Epoch 2/2" in lines
    last = lines[-1]
    assert "4/4" in last and "accuracy:" in last and "loss:" in last
    m.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------------------
# real data: sklearn digits
# ----------------------------------------------------------------------------
def test_digits_cnn_reaches_90_percent_validation_accuracy():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]   # (1797, 8, 8, 1)
    y = digits.target
    assert x.shape == (1797, 8, 8, 1)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    keras.utils.set_random_seed(0)
    m = keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(16, 3, padding="same", activation="relu"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(32, activation="relu"),
        L.Dense(10, activation="softmax"),
    ])
    m.compile(keras.optimizers.Adam(0.005), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    h = m.fit(x, y, epochs=6, batch_size=32, validation_split=0.2, verbose=0)
    # 360 validation images never trained on
    assert h.history["val_accuracy"][-1] >= 0.9, h.history
    assert h.history["loss"][-1] < h.history["loss"][0]
    _, acc = m.evaluate(x[-360:], y[-360:], verbose=0)
    assert acc >= 0.9

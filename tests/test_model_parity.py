"""The model core against Keras 3: same weights => same predictions, and the same
weights after a few optimizer steps, for every model kind the API offers.

Each case is written once, as a function of the module (``keras`` or
``nbkeras``), the way a user's script is: only the import differs. Keras runs on
JAX; its initial weights are copied into the nbkeras twin. Steps use plain SGD
or RMSprop on fixed, unshuffled batches, so a wrong gradient scale cannot hide.
"""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import nbkeras  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RTOL_OUT, ATOL_OUT = 1e-5, 1e-6
RTOL_W, ATOL_W = 1e-4, 1e-5


def _data(seed=0, n=48):
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal((n, 20)).astype(np.float32)
    xb = rng.standard_normal((n, 20)).astype(np.float32)
    same = (rng.random((n, 1)) > 0.5).astype(np.float32)
    cls = rng.integers(0, 4, n)
    return xa, xb, same, cls


def _copy_weights(k_model, n_model):
    kw = [np.asarray(w) for w in k_model.get_weights()]
    assert [w.shape for w in kw] == [w.shape for w in n_model.get_weights()]
    n_model.set_weights(kw)


def _assert_weights_equal(k_model, n_model):
    for kw, nw, var in zip(k_model.get_weights(), n_model.get_weights(), n_model.weights):
        np.testing.assert_allclose(nw, np.asarray(kw), rtol=RTOL_W, atol=ATOL_W,
                                   err_msg=var.path)


# ----------------------------------------------------------------------------
# 1. the functional model: two inputs, two outputs, a shared layer,
#    a merge, BatchNormalization, per-output losses and loss weights
# ----------------------------------------------------------------------------
def two_tower(m):
    L = m.layers
    a_in = m.Input((20,), name="a")
    b_in = m.Input((20,), name="b")
    enc = L.Dense(32, activation="relu", name="enc")
    x = L.concatenate([enc(a_in), enc(b_in)])
    x = L.BatchNormalization()(x)
    same = L.Dense(1, activation="sigmoid", name="same")(x)
    cls = L.Dense(4, activation="softmax", name="cls")(enc(a_in))
    model = m.Model([a_in, b_in], [same, cls])
    model.compile(optimizer=m.optimizers.RMSprop(learning_rate=0.01),
                  loss={"same": "binary_crossentropy", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"same": 1.0, "cls": 0.2},
                  metrics={"same": ["accuracy"], "cls": [m.metrics.SparseCategoricalAccuracy()]})
    return model


def test_functional_two_tower_matches_keras():
    keras.utils.set_random_seed(3)
    k, n = two_tower(keras), two_tower(nbkeras)
    _copy_weights(k, n)
    xa, xb, same, cls = _data()
    # inference (moving statistics) and training mode (batch statistics)
    for training in (False, True):
        kp = k([xa, xb], training=training)
        np_ = n([xa, xb], training=training)
        for a, b in zip(kp, np_):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=RTOL_OUT, atol=ATOL_OUT)
    _copy_weights(k, n)  # the training-mode call moved the moving statistics
    kh = k.fit({"a": xa, "b": xb}, {"same": same, "cls": cls}, batch_size=16, epochs=2,
               shuffle=False, verbose=0, validation_split=0.25)
    nh = n.fit({"a": xa, "b": xb}, {"same": same, "cls": cls}, batch_size=16, epochs=2,
               shuffle=False, verbose=0, validation_split=0.25)
    assert sorted(nh.history) == sorted(kh.history)
    for key in kh.history:
        np.testing.assert_allclose(nh.history[key], kh.history[key], rtol=1e-4, atol=1e-5,
                                   err_msg=key)
    _assert_weights_equal(k, n)
    kp, np_ = k.predict([xa, xb], verbose=0), n.predict([xa, xb], verbose=0)
    assert isinstance(np_, list) and len(np_) == 2
    for a, b in zip(kp, np_):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    ke = k.evaluate([xa, xb], [same, cls], return_dict=True, verbose=0)
    ne = n.evaluate([xa, xb], [same, cls], return_dict=True, verbose=0)
    assert list(ne) == sorted(ke)
    for key in ke:
        np.testing.assert_allclose(ne[key], ke[key], rtol=1e-4, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(n.evaluate([xa, xb], [same, cls], verbose=0),
                               k.evaluate([xa, xb], [same, cls], verbose=0), rtol=1e-4)


# ----------------------------------------------------------------------------
# 2. a custom layer and a custom loss written with ops; a subclassed model
# ----------------------------------------------------------------------------
def custom_classes(m):
    class Linear(m.layers.Layer):
        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return m.ops.matmul(inputs, self.w) + self.b

    class MLP(m.Model):
        def __init__(self):
            super().__init__()
            self.l1, self.l2 = Linear(32), Linear(1)
            self.norm = m.layers.LayerNormalization()

        def call(self, x, training=False):
            return self.l2(self.norm(m.ops.relu(self.l1(x))))

    def my_loss(y_true, y_pred):
        return m.ops.mean(m.ops.square(y_true - y_pred), axis=-1)

    return Linear, MLP, my_loss


def _regression_data(n=64, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (np.sin(x[:, :1]) + 0.5 * x[:, 1:2]).astype(np.float32)
    return x, y


def test_subclassed_model_custom_layer_and_loss_match_keras():
    x, y = _regression_data()
    keras.utils.set_random_seed(5)
    models = {}
    for m in (keras, nbkeras):
        _, MLP, my_loss = custom_classes(m)
        model = MLP()
        model(x[:2])  # build
        model.compile(optimizer=m.optimizers.SGD(learning_rate=0.05), loss=my_loss,
                      metrics=["mae"])
        models[m.__name__] = model
    k, n = models["keras"], models["nbkeras"]
    assert [type(l).__name__ for l in n.layers] == ["Linear", "Linear", "LayerNormalization"]
    _copy_weights(k, n)
    np.testing.assert_allclose(n.predict(x, verbose=0), k.predict(x, verbose=0),
                               rtol=RTOL_OUT, atol=ATOL_OUT)
    kh = k.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    nh = n.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert sorted(nh.history) == sorted(kh.history) == ["loss", "mae"]
    np.testing.assert_allclose(nh.history["loss"], kh.history["loss"], rtol=1e-4)
    _assert_weights_equal(k, n)


def test_custom_layer_in_a_functional_model_matches_keras():
    x, y = _regression_data()
    keras.utils.set_random_seed(6)
    twins = []
    for m in (keras, nbkeras):
        Linear, _, my_loss = custom_classes(m)
        inp = m.Input((8,))
        h = Linear(16)(inp)
        out = m.layers.Dense(1)(m.ops.tanh(h))  # an op on a symbolic tensor: a graph node
        model = m.Model(inp, out)
        model.compile(optimizer=m.optimizers.SGD(learning_rate=0.1), loss=my_loss)
        twins.append(model)
    k, n = twins
    assert n.layers[1].output.shape == (None, 16)  # found by running call, not guessed
    _copy_weights(k, n)
    k.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    n.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    _assert_weights_equal(k, n)


# ----------------------------------------------------------------------------
# 3. an output with a time axis: the loss is a mean over N*T, so is its gradient
# ----------------------------------------------------------------------------
def sequence_model(m, loss, classes):
    model = m.Sequential([m.Input((5, 6)), m.layers.Dense(8, activation="tanh"),
                          m.layers.Dense(classes,
                                         activation="softmax" if "categorical" in loss else None)])
    model.compile(optimizer=m.optimizers.SGD(learning_rate=0.5), loss=loss)
    return model


@pytest.mark.parametrize("loss", ["mse", "sparse_categorical_crossentropy"])
def test_time_axis_output_matches_keras(loss):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((24, 5, 6)).astype(np.float32)
    y = (rng.standard_normal((24, 5, 3)).astype(np.float32) if loss == "mse"
         else rng.integers(0, 3, (24, 5)))
    keras.utils.set_random_seed(8)
    k, n = sequence_model(keras, loss, 3), sequence_model(nbkeras, loss, 3)
    _copy_weights(k, n)
    np.testing.assert_allclose(n.evaluate(x, y, verbose=0), k.evaluate(x, y, verbose=0),
                               rtol=1e-5)
    k.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    n.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    _assert_weights_equal(k, n)


# ----------------------------------------------------------------------------
# 4. a layer shared by two models: building the second leaves the first intact
# ----------------------------------------------------------------------------
def shared_pair(m):
    d0 = m.layers.Dense(6, activation="relu", name="d0")
    shared = m.layers.Dense(5, activation="tanh", name="shared")
    inp1 = m.Input((4,))
    first = m.Model(inp1, m.layers.Dense(1, name="head1")(shared(d0(inp1))))
    inp2 = m.Input((6,))
    second = m.Model(inp2, m.layers.Dense(2, name="head2")(shared(inp2)))  # shared is first here
    first.compile(optimizer=m.optimizers.SGD(learning_rate=0.1), loss="mse")
    second.compile(optimizer=m.optimizers.SGD(learning_rate=0.1), loss="mse")
    return first, second


def test_layer_shared_by_two_models_trains_both_like_keras():
    rng = np.random.default_rng(4)
    x1, y1 = rng.standard_normal((32, 4)).astype(np.float32), rng.standard_normal((32, 1))
    x2, y2 = rng.standard_normal((32, 6)).astype(np.float32), rng.standard_normal((32, 2))
    keras.utils.set_random_seed(9)
    (k1, k2), (n1, n2) = shared_pair(keras), shared_pair(nbkeras)
    _copy_weights(k1, n1)
    _copy_weights(k2, n2)
    before = n1.get_layer("d0").get_weights()[0].copy()
    for k, n, x, y in ((k1, n1, x1, y1), (k2, n2, x2, y2), (k1, n1, x1, y1)):
        k.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        n.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        _assert_weights_equal(k1, n1)
        _assert_weights_equal(k2, n2)
    assert not np.allclose(n1.get_layer("d0").get_weights()[0], before)  # d0 trained

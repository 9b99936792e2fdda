"""The model core without Keras: the tape against finite differences, custom
training steps, metric objects, dtypes, nesting, add_loss and clear errors."""
import numpy as np
import pytest

import nbkeras as keras
from nbkeras import layers, ops


def _rng(seed=0):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------
# a whole model's gradient, and an SGD step, against finite differences
# ----------------------------------------------------------------------------
class Scale(layers.Layer):
    """A custom layer written with ops: y = x * exp(s) + x**2 * t (no backward written)."""

    def build(self, input_shape):
        self.s = self.add_weight(shape=(input_shape[-1],), initializer="random_normal")
        self.t = self.add_weight(shape=(), initializer="random_normal")

    def call(self, x):
        return x * ops.exp(self.s) + ops.square(x) * self.t


def graph_model():
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    x = layers.concatenate([shared(a), shared(b)])
    x = layers.BatchNormalization()(x)
    x = Scale()(x)
    x = layers.add([x, layers.Dense(8, name="skip")(a)])
    out1 = layers.Dense(3, activation="softmax", name="cls")(x)
    out2 = layers.Dense(2, name="reg")(shared(a))
    model = keras.Model([a, b], [out1, out2])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1),
                  loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5])
    return model


def _graph_data(n=6):
    rng = _rng(3)
    x = [rng.standard_normal((n, 5)).astype(np.float32) for _ in range(2)]
    y = [rng.integers(0, 3, n), rng.standard_normal((n, 2)).astype(np.float32)]
    return x, y


def _loss(model, x, y):
    with keras.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred)
    return float(loss), tape, loss


def test_whole_model_gradient_matches_finite_differences():
    keras.utils.set_random_seed(1)
    model = graph_model()
    x, y = _graph_data()
    _, tape, loss = _loss(model, x, y)
    grads = tape.gradient(loss, model.trainable_variables)
    eps = 1e-2
    for var, g in zip(model.trainable_variables, grads):
        flat = var.value.reshape(-1)
        numeric = np.empty(flat.size)
        for i in range(flat.size):
            keep = flat[i]
            flat[i] = keep + eps
            up = _loss(model, x, y)[0]
            flat[i] = keep - eps
            down = _loss(model, x, y)[0]
            flat[i] = keep
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g.reshape(-1), numeric, rtol=2e-2, atol=2e-3,
                                   err_msg=var.path)


def test_one_sgd_step_is_minus_lr_times_the_gradient():
    keras.utils.set_random_seed(2)
    model = graph_model()
    x, y = _graph_data()
    model.train_on_batch(x, y)  # builds the arena and the optimizer
    _, tape, loss = _loss(model, x, y)
    grads = tape.gradient(loss, model.trainable_variables)
    before = [v.numpy() for v in model.trainable_variables]
    model.train_on_batch(x, y)
    for v, w, g in zip(model.trainable_variables, before, grads):
        np.testing.assert_allclose(v.numpy(), w - 0.1 * g, rtol=1e-5, atol=1e-6,
                                   err_msg=v.path)


# ----------------------------------------------------------------------------
# a custom train_step with GradientTape gives the same weights as plain fit
# ----------------------------------------------------------------------------
def _mlp(cls):
    keras.utils.set_random_seed(4)
    return cls([keras.Input((6,)), layers.Dense(16, activation="relu"),
                layers.Dropout(0.25, seed=1), layers.Dense(3, activation="softmax")])


class TapeStep(keras.Sequential):
    def train_step(self, data):
        x, y = data
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        for m in self.metrics:
            m.update_state(loss) if m.name == "loss" else m.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class ApplyStep(keras.Sequential):
    """The same with optimizer.apply on copies (not the arena's own buffers)."""

    def train_step(self, data):
        x, y = data
        variables = self.trainable_variables
        with keras.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        grads = tape.gradient(loss, variables)
        self.optimizer.apply([g.copy() for g in grads], variables)
        return {"loss": loss}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("cls", [TapeStep, ApplyStep])
def test_gradient_tape_train_step_equals_fit(optimizer, cls):
    rng = _rng(5)
    x, y = rng.standard_normal((40, 6)).astype(np.float32), rng.integers(0, 3, 40)
    plain, custom = _mlp(keras.Sequential), _mlp(cls)
    custom.set_weights(plain.get_weights())
    for model in (plain, custom):
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        keras.utils.set_random_seed(7)  # the same dropout masks and shuffles
        model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    for a, b in zip(plain.get_weights(), custom.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------
# metric objects: reset per epoch, separate for validation, reset by evaluate
# ----------------------------------------------------------------------------
def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y))


class PredictAccuracy(keras.callbacks.Callback):
    """Records the validation accuracy computed from predict() at each epoch end."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.values = x, y, []

    def on_epoch_end(self, epoch, logs=None):
        self.values.append(_accuracy(self.model, self.x, self.y))


def test_metric_objects_match_predict_every_epoch_validation_and_evaluate():
    rng = _rng(6)
    x, y = rng.standard_normal((60, 6)).astype(np.float32), rng.integers(0, 3, 60)
    xv, yv = rng.standard_normal((30, 6)).astype(np.float32), rng.integers(0, 3, 30)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(3, activation="softmax")])
    # learning rate 0: the weights stay put, so each epoch's training accuracy is
    # the accuracy of predict() on the training data, not a running mean since epoch 1
    metric = keras.metrics.SparseCategoricalAccuracy()
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy", metrics=[metric])
    h = model.fit(x, y, validation_data=(xv, yv), epochs=3, batch_size=16, verbose=0)
    assert h.history["sparse_categorical_accuracy"] == [pytest.approx(_accuracy(model, x, y))] * 3
    assert h.history["val_sparse_categorical_accuracy"] == \
        [pytest.approx(_accuracy(model, xv, yv))] * 3
    # training moves the weights; validation is still computed afresh each epoch
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy",
                  metrics=[metric])
    recorder = PredictAccuracy(xv, yv)
    h = model.fit(x, y, validation_data=(xv, yv), epochs=4, batch_size=16, verbose=0,
                  callbacks=[recorder])
    np.testing.assert_allclose(h.history["val_sparse_categorical_accuracy"], recorder.values)
    for data in ((x, y), (xv, yv), (x, y)):
        result = model.evaluate(*data, verbose=0, return_dict=True)
        assert result["sparse_categorical_accuracy"] == pytest.approx(_accuracy(model, *data))


# ----------------------------------------------------------------------------
# dtypes, shapes of custom layers, training flags, nesting, add_loss
# ----------------------------------------------------------------------------
class Embedish(layers.Layer):
    """Looks rows up with ops.take: needs integer ids."""

    def build(self, input_shape):
        self.table = self.add_weight(shape=(10, 3), initializer="random_normal")

    def call(self, ids):
        assert np.asarray(ids).dtype == np.int64, np.asarray(ids).dtype
        return ops.mean(ops.take(self.table, ids, axis=0), axis=1)


def test_integer_input_stays_integer():
    inp = keras.Input((4,), dtype="int64")
    assert inp.dtype == "int64"
    model = keras.Model(inp, layers.Dense(1)(Embedish()(inp)))
    model.compile("sgd", "mse")
    ids = _rng(1).integers(0, 10, (8, 4))
    model.fit(ids, np.zeros((8, 1)), verbose=0, epochs=2)
    assert model.predict(ids.astype(np.int32), verbose=0).shape == (8, 1)


class HalfFeatures(layers.Layer):
    """No compute_output_shape: its output shape must come from running call."""

    def call(self, x):
        return ops.reshape(x, (-1, x.shape[1] // 2, 2))[..., 0]


def test_custom_layer_output_shape_comes_from_call():
    inp = keras.Input((8,))
    out = layers.Dense(2)(HalfFeatures()(inp))
    assert out.shape == (None, 2)
    model = keras.Model(inp, out)
    assert model.layers[1].output.shape == (None, 4)
    assert model.layers[2].kernel.shape == (4, 2)
    lines = []
    model.summary(print_fn=lines.append)
    assert "(None, 4)" in lines[0]


class Noisy(layers.Layer):
    def call(self, x, training=False):
        return x + 1.0 if training else x


def test_call_with_and_without_training_and_inheritance():
    class NoTraining(layers.Layer):
        def call(self, x):
            return x * 2.0

    inner = keras.Sequential([layers.Dropout(0.5, seed=3)])
    inp = keras.Input((200,))
    model = keras.Model(inp, NoTraining()(Noisy()(inner(inp))))
    x = np.ones((2, 200), np.float32)
    np.testing.assert_array_equal(model(x), x * 2)
    y = np.asarray(model(x, training=True))
    assert set(np.unique(y)) <= {2.0, 6.0} and (y == 2.0).any()  # dropout ran, Noisy +1


def test_nested_model_trains_like_the_flat_one():
    keras.utils.set_random_seed(8)
    base = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(4)], name="base")
    inp = keras.Input((5,))
    nested = keras.Model(inp, layers.Dense(1)(base(inp)))
    flat = keras.Sequential([keras.Input((5,)), layers.Dense(8, activation="relu"),
                             layers.Dense(4), layers.Dense(1)])
    assert [l.name for l in nested.layers][1] == "base" and len(nested.weights) == 6
    flat.set_weights(nested.get_weights())
    rng = _rng(9)
    x, y = rng.standard_normal((32, 5)).astype(np.float32), rng.standard_normal((32, 1))
    for m in (nested, flat):
        m.compile(keras.optimizers.SGD(0.1), "mse")
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(nested.get_weights(), flat.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)



def test_feature_extraction_model_shares_the_layers():
    inp = keras.Input((6, 6, 1))
    x = layers.Conv2D(3, 3, activation="relu", name="conv1")(inp)
    x = layers.Conv2D(2, 3, name="conv2")(x)
    model = keras.Model(inp, layers.Dense(4)(layers.Flatten()(x)))
    features = keras.Model(model.inputs, model.get_layer("conv2").output)
    assert [l.name for l in features.layers[1:]] == ["conv1", "conv2"]
    images = _rng(2).standard_normal((2, 6, 6, 1)).astype(np.float32)
    conv1, conv2 = model.get_layer("conv1"), model.get_layer("conv2")
    np.testing.assert_allclose(features.predict(images, verbose=0), conv2(conv1(images)),
                               rtol=1e-6)


def test_model_from_an_intermediate_tensor_holds_only_the_layers_in_between():
    inp = keras.Input((4,))
    a = layers.Dense(5, name="a")(inp)
    c = layers.Dense(7, name="c")(layers.Dense(6, name="b")(a))
    head = keras.Model(a, c)
    assert [l.name for l in head.layers[1:]] == ["b", "c"] and len(head.weights) == 4
    x = _rng().standard_normal((3, 5)).astype(np.float32)
    full = keras.Model(inp, c)
    np.testing.assert_allclose(head.predict(x, verbose=0),
                               full.get_layer("c")(full.get_layer("b")(x)), rtol=1e-6)


class Penalized(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 2))

    def call(self, x):
        self.add_loss(0.5 * ops.sum(ops.square(self.w)))
        return ops.matmul(x, self.w)


def test_add_loss_enters_the_loss_and_its_gradient():
    model = keras.Sequential([keras.Input((3,)), Penalized()])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    w = model.weights[0].numpy()
    mse = float(np.mean((x @ w) ** 2))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(mse + 0.5 * np.sum(w ** 2), rel=1e-5)
    model.train_on_batch(x, y)
    grad = 2 * x.T @ (x @ w) / 8 + w  # d(mse)/dw + d(penalty)/dw
    np.testing.assert_allclose(model.weights[0].numpy(), w - 0.1 * grad, rtol=1e-5)


def test_frozen_batch_normalization_runs_in_inference_mode():
    bn = layers.BatchNormalization()
    model = keras.Sequential([keras.Input((3,)), bn, layers.Dense(1)])
    bn.trainable = False
    model.compile("sgd", "mse")
    x = _rng().standard_normal((16, 3)).astype(np.float32) * 3 + 2
    model.fit(x, np.zeros((16, 1)), verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))
    assert bn.trainable_weights == [] and len(model.trainable_weights) == 2
    bn.trainable = True
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((16, 1)), verbose=0, batch_size=16)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * x.mean(0), rtol=1e-5)


@pytest.mark.parametrize("reduction", ["sum", "none", "sum_over_batch_size"])
def test_loss_reductions(reduction):
    rng = _rng(2)
    y_true, y_pred = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    per_sample = np.mean((y_true - y_pred) ** 2, axis=-1)  # shape (4, 3), as Keras
    value = keras.losses.MeanSquaredError(reduction=reduction)(y_true, y_pred)
    expected = {"sum": per_sample.sum(), "none": per_sample,
                "sum_over_batch_size": per_sample.mean()}[reduction]
    np.testing.assert_allclose(value, expected, rtol=1e-5)


# ----------------------------------------------------------------------------
# clear errors
# ----------------------------------------------------------------------------
def test_graph_whose_output_does_not_depend_on_the_inputs():
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    out = layers.Dense(2, name="head")(b)
    with pytest.raises(ValueError, match=r"Output with path `` is not connected to `inputs`.*"
                                         r"'b' output 0"):
        keras.Model(a, out)


def test_merge_of_incompatible_shapes():
    a, b = keras.Input((3,)), keras.Input((4,))
    with pytest.raises(ValueError, match=re_escape("Inputs have incompatible shapes. Received "
                                                   "shapes (3,) and (4,)")):
        layers.Add()([a, b])
    c = keras.Input((4, 2))
    with pytest.raises(ValueError, match=r"A `Concatenate` layer requires inputs with matching "
                                         r"shapes except for the concatenation axis. Received: "
                                         r"input_shape=\[\(None, 3\), \(None, 4, 2\)\]"):
        layers.Concatenate()([a, c])
    with pytest.raises(ValueError, match=r"should be called on a list of inputs"):
        layers.Add()(a)


def test_dicts_with_unknown_names_list_the_valid_ones():
    model = graph_model()
    x, y = _graph_data()
    with pytest.raises(ValueError, match=r"key\(s\) \['c'\] that match no inputs of model "
                                         r"'\w+'; its inputs are \['a', 'b'\]"):
        model.fit({"a": x[0], "c": x[1]}, y, verbose=0)
    with pytest.raises(ValueError, match=r"key\(s\) \['nope'\] that match no outputs.*"
                                         r"its outputs are \['cls', 'reg'\]"):
        model.fit(x, {"cls": y[0], "nope": y[1]}, verbose=0)
    with pytest.raises(ValueError, match=r"compile\(loss=\.\.\.\) names output\(s\) \['typo'\]"):
        model.compile("sgd", loss={"cls": "mse", "typo": "mse"})
        model.fit(x, y, verbose=0)


def test_custom_call_returning_a_non_tensor():
    class Bad(layers.Layer):
        def call(self, x):
            return "not a tensor"

    with pytest.raises(TypeError, match=r"Layer 'bad\w*' \(Bad\).*returned str 'not a tensor'"):
        Bad()(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"Layer 'bad\w*' \(Bad\).*returned str"):
        Bad()(keras.Input((3,)))


def re_escape(text):
    import re
    return re.escape(text)


def test_custom_metric_function_and_overridden_test_and_predict_steps():
    def within_half(y_true, y_pred):  # a metric written with ops
        return ops.mean(ops.cast(ops.less(ops.abs(y_true - y_pred), 0.5), "float32"), axis=-1)

    class Doubling(keras.Sequential):
        def predict_step(self, data):
            return self(data[0], training=False) * 2.0

        def test_step(self, data):
            x, y = data
            logs = super().test_step(data)
            logs["extra"] = 1.0
            return logs

    model = Doubling([keras.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=[within_half])
    x = _rng(3).standard_normal((20, 2)).astype(np.float32)
    y = _rng(4).standard_normal((20, 1)).astype(np.float32)
    plain = np.asarray(model(x))
    np.testing.assert_allclose(model.predict(x, verbose=0), 2 * plain, rtol=1e-6)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["within_half"] == pytest.approx(np.mean(np.abs(y - plain) < 0.5))
    assert logs["extra"] == 1.0
    h = model.fit(x, y, epochs=1, verbose=0)
    assert sorted(h.history) == ["loss", "within_half"]

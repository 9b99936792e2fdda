"""Bad input gets a clear ValueError/RuntimeError/TypeError that names the layer or
argument and shows the expected and the actual value -- checked before any
kernel runs, so a user never sees a Numba typing error."""
import re

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import layers

L = layers


def cnn():
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        L.Conv2D(4, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Flatten(),
        L.Dense(10, activation="softmax"),
    ])


@pytest.fixture
def model():
    m = cnn()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.random((8, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, size=8)


def no_numba(excinfo):
    """The error is ours, raised before any kernel call."""
    assert "numba" not in type(excinfo.value).__module__
    assert "TypingError" not in type(excinfo.value).__name__
    assert "numba" not in str(excinfo.value).lower()


# ----------------------------------------------------------------------------
# input shapes
# ----------------------------------------------------------------------------
WRONG_SHAPE = re.escape("expected shape=(None, 32, 32, 3), found shape=(8, 28, 28, 1)")


@pytest.mark.parametrize("call", ["fit", "predict", "evaluate", "train_on_batch"])
def test_wrong_input_shape(model, xy, call):
    x = np.zeros((8, 28, 28, 1), dtype=np.float32)
    y = xy[1]
    args = {"fit": lambda: model.fit(x, y, verbose=0),
            "predict": lambda: model.predict(x, verbose=0),
            "evaluate": lambda: model.evaluate(x, y, verbose=0),
            "train_on_batch": lambda: model.train_on_batch(x, y)}[call]
    with pytest.raises(ValueError, match=r"Input 0 of model '\w+'.*" + WRONG_SHAPE) as e:
        args()
    no_numba(e)


@pytest.mark.parametrize("shape", [(8, 32, 32), (8, 32, 32, 3, 1), (8,), (8, 3072)])
def test_wrong_rank(model, shape):
    with pytest.raises(ValueError, match=re.escape(f"found shape={shape}")) as e:
        model.predict(np.zeros(shape, dtype=np.float32), verbose=0)
    assert "expected shape=(None, 32, 32, 3)" in str(e.value)


def test_wrong_validation_data_shape(model, xy):
    x, y = xy
    with pytest.raises(ValueError, match=re.escape("found shape=(4, 28, 28, 1)")):
        model.fit(x, y, validation_data=(np.zeros((4, 28, 28, 1)), y[:4]), verbose=0)


def test_wrong_last_dim_into_dense():
    m = keras.Sequential([keras.Input((5,)), L.Dense(3)])
    with pytest.raises(ValueError, match=re.escape("expected shape=(None, 5), found shape=(4, 6)")):
        m.predict(np.ones((4, 6)), verbose=0)
    # the layer itself, called directly
    dense = L.Dense(3, name="my_dense")
    dense(np.ones((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"layer 'my_dense'.*value 5.*shape \(2, 6\)") as e:
        dense(np.ones((2, 6), dtype=np.float32))
    no_numba(e)
    # a Sequential built lazily from its first data, then fed another width
    lazy = keras.Sequential([L.Dense(3), L.Dense(2)])
    lazy.compile("sgd", "mse")
    lazy.fit(np.ones((4, 5)), np.ones((4, 2)), verbose=0)
    with pytest.raises(ValueError, match=re.escape("expected shape=(None, 5), found shape=(4, 6)")):
        lazy.predict(np.ones((4, 6)), verbose=0)


def test_conv_layer_on_wrong_rank():
    with pytest.raises(ValueError, match=r"conv2d_bad.*expected ndim=4.*found ndim=2"):
        keras.Sequential([keras.Input((4,)), L.Conv2D(2, 2, name="conv2d_bad")])
    conv = L.Conv2D(2, 2, name="conv2d_direct")
    with pytest.raises(ValueError, match=r"conv2d_direct.*expected ndim=4.*found ndim=3") as e:
        conv(np.ones((2, 5, 5), dtype=np.float32))
    no_numba(e)


# ----------------------------------------------------------------------------
# labels and lengths
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [10, -1, 255])
def test_sparse_labels_out_of_range(model, xy, bad):
    x, y = xy
    y = y.copy()
    y[3] = bad
    msg = rf"sparse_categorical_crossentropy.*label value of {bad}\b.*\[0, 10\).*10 classes"
    with pytest.raises(ValueError, match=msg) as e:
        model.fit(x, y, verbose=0)
    no_numba(e)
    with pytest.raises(ValueError, match=msg):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=msg):
        model.train_on_batch(x, y)


def test_sparse_labels_not_integers(model, xy):
    x, y = xy
    with pytest.raises(ValueError, match=r"integer class indices.*float64"):
        model.fit(x, y + 0.5, verbose=0)
    with pytest.raises(ValueError, match=r"integer class indices"):
        model.fit(x, np.where(y > 4, np.nan, y), verbose=0)


def test_labels_of_the_wrong_shape(model, xy):
    x, y = xy
    with pytest.raises(ValueError, match=re.escape("labels of shape (8, 10)")):
        model.fit(x, np.eye(10)[y], verbose=0)  # one-hot into a sparse loss
    model.compile("adam", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"targets of shape \(8,\) do not match the predictions "
                                         r"of shape \(8, 10\)"):
        model.fit(x, y, verbose=0)  # integer labels into a one-hot loss


def test_x_and_y_different_lengths(model, xy):
    x, y = xy
    msg = r"x sizes: 8, y sizes: 5"
    with pytest.raises(ValueError, match=msg):
        model.fit(x, y[:5], verbose=0)
    with pytest.raises(ValueError, match=msg):
        model.evaluate(x, y[:5], verbose=0)
    with pytest.raises(ValueError, match=msg):
        model.fit(x, y[:5], validation_split=0.25, verbose=0)
    with pytest.raises(ValueError, match=r"x sizes: 8, y sizes: 3"):
        model.fit(x, y, validation_data=(x, y[:3]), verbose=0)
    with pytest.raises(ValueError, match=r"`y` is required"):
        model.fit(x, verbose=0)


def test_no_samples(model):
    x = np.zeros((0, 32, 32, 3), dtype=np.float32)
    y = np.zeros((0,), dtype=np.int64)
    with pytest.raises(ValueError, match=re.escape("fit() received no samples")):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=re.escape("evaluate() received no samples")):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=re.escape("train_on_batch() received no samples")):
        model.train_on_batch(x, y)
    assert model.predict(x, verbose=0).shape == (0, 10)


# ----------------------------------------------------------------------------
# compile
# ----------------------------------------------------------------------------
def test_fit_before_compile(xy):
    m = cnn()
    x, y = xy
    for call in (lambda: m.fit(x, y, verbose=0), lambda: m.evaluate(x, y, verbose=0),
                 lambda: m.train_on_batch(x, y)):
        with pytest.raises(RuntimeError, match=r"must call `compile\(\)` on model '\w+'"):
            call()


def test_unknown_names():
    m = cnn()
    with pytest.raises(ValueError, match=r"optimizer identifier: 'adamx'.*'adam'"):
        m.compile("adamx", "mse")
    with pytest.raises(ValueError, match=r"Unknown loss 'msee'.*mean_squared_error"):
        m.compile("adam", "msee")
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'.*accuracy"):
        m.compile("adam", "mse", metrics=["acuracy"])
    with pytest.raises(ValueError, match=r"Unknown activation 'relux'.*relu"):
        L.Dense(3, activation="relux")
    with pytest.raises(ValueError, match=r"Unknown activation 'relux'"):
        L.Conv2D(3, 3, activation="relux")
    with pytest.raises(ValueError, match=r"Unknown initializer.*'glorot_unifrom'.*GlorotUniform"):
        keras.Sequential([keras.Input((3,)), L.Dense(3, kernel_initializer="glorot_unifrom")])
    with pytest.raises(ValueError, match=r"Could not interpret activation 3"):
        L.Dense(3, activation=3)
    assert not m.compiled
    m.compile("adam")  # no loss: allowed, as in Keras (a model may add_loss its own)
    x = np.zeros((2, 32, 32, 3), np.float32)
    with pytest.raises(ValueError, match=r"no loss to compute. Provide a `loss` argument"):
        m.fit(x, np.zeros(2), verbose=0)


# ----------------------------------------------------------------------------
# layer arguments
# ----------------------------------------------------------------------------
def test_conv_kernel_bigger_than_input():
    msg = (r"Layer 'big_conv': a window of \(5, 5\).*input of height x width 4 x 4.*"
           r"output would be 0 x 0")
    with pytest.raises(ValueError, match=msg):
        keras.Sequential([keras.Input((4, 4, 1)), L.Conv2D(2, 5, name="big_conv")])
    with pytest.raises(ValueError, match=r"'big_pool'.*height x width 4 x 4"):
        keras.Sequential([keras.Input((4, 4, 1)), L.MaxPooling2D(5, name="big_pool")])
    # built lazily from data
    lazy = keras.Sequential([L.Conv2D(2, 5, name="lazy_conv"), L.Flatten(), L.Dense(2)])
    lazy.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"'lazy_conv'.*height x width 3 x 3"):
        lazy.fit(np.ones((2, 3, 3, 1)), np.ones((2, 2)), verbose=0)
    # a model with unknown spatial dims gets data that is too small
    m = keras.Sequential([keras.Input((None, None, 1)), L.Conv2D(2, 5, name="dyn_conv"),
                          L.GlobalAveragePooling2D()])
    with pytest.raises(ValueError, match=r"'dyn_conv'.*height x width 3 x 3") as e:
        m.predict(np.ones((2, 3, 3, 1)), verbose=0)
    no_numba(e)


@pytest.mark.parametrize("cls", [L.Conv2D, L.MaxPooling2D, L.AveragePooling2D])
def test_bad_padding(cls):
    args = (2, 3) if cls is L.Conv2D else (2,)
    with pytest.raises(ValueError, match=r"'bad_pad': `padding` must be 'valid' or 'same', "
                                         r"received 'full'"):
        cls(*args, padding="full", name="bad_pad")


@pytest.mark.parametrize("kwargs,arg", [
    (dict(kernel_size=0), "kernel_size"), (dict(kernel_size=(3, -1)), "kernel_size"),
    (dict(kernel_size=3, strides=0), "strides"), (dict(kernel_size="a"), "kernel_size"),
])
def test_bad_window_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=rf"'bad_conv': `{arg}` must be"):
        L.Conv2D(2, name="bad_conv", **kwargs)


def test_bad_layer_sizes():
    with pytest.raises(ValueError, match=r"`pool_size` must be positive, received 0"):
        L.MaxPooling2D(0)
    with pytest.raises(ValueError, match=r"`filters` must be a positive integer, received 0"):
        L.Conv2D(0, 3)
    with pytest.raises(ValueError, match=r"`units` must be a positive integer, received units=0"):
        L.Dense(0)
    with pytest.raises(ValueError, match=r"`rate` must be in \[0, 1\), received rate=1.5"):
        L.Dropout(1.5)
    with pytest.raises(TypeError, match=r"Dense: unrecognized keyword argument.*'unitz'"):
        L.Dense(3, unitz=4)


# ----------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------
def test_set_weights_wrong_shapes(model):
    good = model.get_weights()
    with pytest.raises(ValueError, match=re.escape("expected shape (3, 3, 3, 4), received (4, 3, 3, 3)")):
        model.set_weights([w.T for w in good])
    with pytest.raises(ValueError, match=r"expects 4 weight arrays, received 3"):
        model.set_weights(good[:-1])
    with pytest.raises(ValueError, match=r"conv2d\w*/kernel.*expected shape \(3, 3, 3, 4\), received \(2, 2\)"):
        model.layers[0].set_weights([np.ones((2, 2)), np.ones(4)])
    with pytest.raises(ValueError, match=r"Layer '\w+' expects 2 weight arrays, received 1"):
        model.layers[0].set_weights([good[0]])
    # nothing was half-assigned by the failing calls
    for a, b in zip(model.get_weights(), good):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------
# fit arguments and data types
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("bs", [0, -1, 2.5, "32"])
def test_bad_batch_size(model, xy, bs):
    x, y = xy
    msg = rf"`batch_size` must be a positive integer, received {re.escape(repr(bs))}"
    with pytest.raises(ValueError, match=msg):
        model.fit(x, y, batch_size=bs, verbose=0)
    with pytest.raises(ValueError, match=msg):
        model.predict(x, batch_size=bs, verbose=0)
    with pytest.raises(ValueError, match=msg):
        model.evaluate(x, y, batch_size=bs, verbose=0)


@pytest.mark.parametrize("split", [1.5, -0.1, 1.0])
def test_bad_validation_split(model, xy, split):
    x, y = xy
    with pytest.raises(ValueError, match=rf"`validation_split` must be in \(0, 1\), received {split}"):
        model.fit(x, y, validation_split=split, verbose=0)


def test_validation_split_leaving_nothing(model, xy):
    x, y = xy
    with pytest.raises(ValueError, match=r"validation_split=0.5 leaves no .* of 1\b"):
        model.fit(x[:1], y[:1], validation_split=0.5, verbose=0)


@pytest.mark.parametrize("epochs", ["3", 2.5, -1])
def test_bad_epochs(model, xy, epochs):
    x, y = xy
    with pytest.raises(ValueError, match=rf"`epochs` must be a non-negative integer, received "
                                         rf"{re.escape(repr(epochs))}"):
        model.fit(x, y, epochs=epochs, verbose=0)


def test_non_numeric_x(model, xy):
    x, y = xy
    strings = np.full((8, 32, 32, 3), "a")
    with pytest.raises(ValueError, match=r"`x` must hold numbers, received an array of dtype <U1"):
        model.fit(strings, y, verbose=0)
    with pytest.raises(ValueError, match=r"`x` must hold numbers"):
        model.predict(["a", "b"], verbose=0)
    with pytest.raises(ValueError, match=r"`x` must hold numbers.*object"):
        model.predict(None, verbose=0)
    with pytest.raises(ValueError, match=r"`x` must hold numbers.*object"):
        model.predict(np.array([{"a": 1}] * 8), verbose=0)
    with pytest.raises(ValueError, match=r"`x` must hold real numbers.*complex"):
        model.predict(x + 1j, verbose=0)
    with pytest.raises(ValueError, match=r"`x` could not be converted"):
        model.predict([[1.0, 2.0], [3.0]], verbose=0)  # ragged
    with pytest.raises(ValueError, match=r"`y` must hold numbers, received an array of dtype <U"):
        model.fit(x, np.array(["cat"] * 8), verbose=0)


def test_more_inputs_than_the_model_has(model, xy):
    x, _ = xy
    with pytest.raises(ValueError, match=r"Model 'sequential\w*' expects 1 input\(s\)"):
        model.predict([x, x], verbose=0)
    with pytest.raises(ValueError, match=r"key\(s\) \['a'\] that match no inputs of model "
                                         r"'sequential\w*'; its inputs are \['input_layer"):
        model.predict({"a": x}, verbose=0)
    # a one-element list of arrays is one input (Keras's structure)
    assert model.predict([x], verbose=0).shape == (8, 10)


def test_unknown_initializer_fails_at_construction():
    with pytest.raises(ValueError, match="no_such_init"):
        layers.Dense(3, kernel_initializer="no_such_init")
    with pytest.raises(ValueError, match="no_such_init"):
        layers.Conv2D(3, 3, bias_initializer="no_such_init")


def test_input_shape_must_be_positive_ints():
    with pytest.raises(ValueError, match="shape='abc'"):
        keras.Input("abc")
    with pytest.raises(ValueError, match=r"shape=\(32, -1\)"):
        keras.Input((32, -1))


def test_callbacks_must_be_callbacks():
    m = keras.Sequential([keras.Input((4,)), layers.Dense(2, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    x, y = np.zeros((8, 4), np.float32), np.zeros(8, np.int64)
    with pytest.raises(TypeError, match="received 3 of type int"):
        m.fit(x, y, callbacks=[3], verbose=0)

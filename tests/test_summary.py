"""print_summary must print Keras 3's ``model.summary()`` text exactly."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

from nbkeras.models.summary import print_summary, readable_memory_size  # noqa: E402


# ----------------------------------------------------------------------------
# Fakes: just the attributes print_summary reads.
# ----------------------------------------------------------------------------
class FakeWeight:
    def __init__(self, size, dtype="float32"):
        self.size = int(size)
        self.dtype = dtype


class FakeLayer:
    def __init__(self, name, output_shape=None, params=0, built=True,
                 weights=(), trainable=True):
        self.name = name
        self.output_shape = output_shape
        self._params = params
        self.built = built
        self.weights = list(weights)
        self.trainable = trainable

    def count_params(self):
        return self._params


def layer(cls_name, name, output_shape=None, params=0, built=True, **kw):
    """A FakeLayer whose ``type(...).__name__`` is ``cls_name``."""
    cls = type(cls_name, (FakeLayer,), {})
    return cls(name, output_shape, params, built, **kw)


class FakeOptimizer:
    def __init__(self, variables, built=True):
        self.variables = variables
        self.built = built


class FakeModel:
    def __init__(self, name, layers, trainable=(), non_trainable=(), optimizer=None):
        self.name = name
        self.layers = layers
        self.trainable_weights = list(trainable)
        self.non_trainable_weights = list(non_trainable)
        self.optimizer = optimizer


def summary_text(model, **kw):
    out = []
    print_summary(model, print_fn=out.append, **kw)
    assert len(out) == 1  # like Keras: one call with the whole table
    return out[0]


@pytest.fixture(autouse=True)
def columns_80(monkeypatch):
    """Keras sizes the table from the terminal; pin it to 80 columns."""
    monkeypatch.setenv("COLUMNS", "80")


def cnn_fake():
    specs = [
        ("Conv2D", "conv2d", (None, 30, 30, 32), 896),
        ("MaxPooling2D", "max_pooling2d", (None, 15, 15, 32), 0),
        ("Conv2D", "conv2d_1", (None, 13, 13, 64), 18496),
        ("MaxPooling2D", "max_pooling2d_1", (None, 6, 6, 64), 0),
        ("Conv2D", "conv2d_2", (None, 4, 4, 64), 36928),
        ("Flatten", "flatten", (None, 1024), 0),
        ("Dense", "dense", (None, 64), 65600),
        ("Dense", "dense_1", (None, 10), 650),
    ]
    layers = [layer(*s) for s in specs]
    weights = [FakeWeight(s) for s in (864, 32, 18432, 64, 36864, 64, 65536, 64, 640, 10)]
    return FakeModel("sequential", layers, trainable=weights)


# Keras 3.15.1 output, COLUMNS=80.
CNN_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ conv2d (Conv2D)                 │ (None, 30, 30, 32)     │           896 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ max_pooling2d (MaxPooling2D)    │ (None, 15, 15, 32)     │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ conv2d_1 (Conv2D)               │ (None, 13, 13, 64)     │        18,496 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ max_pooling2d_1 (MaxPooling2D)  │ (None, 6, 6, 64)       │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ conv2d_2 (Conv2D)               │ (None, 4, 4, 64)       │        36,928 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ flatten (Flatten)               │ (None, 1024)           │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 64)             │        65,600 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │           650 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 122,570 (478.79 KB)
 Trainable params: 122,570 (478.79 KB)
 Non-trainable params: 0 (0.00 B)
"""

UNBUILT_SUMMARY = """\
Model: "sequential_1"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense_2 (Dense)                 │ ?                      │   0 (unbuilt) │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 0 (0.00 B)
 Trainable params: 0 (0.00 B)
 Non-trainable params: 0 (0.00 B)
"""

# Dense(5) frozen, BatchNormalization, Dense(3); after one Adam step.
FROZEN_SUMMARY = """\
Model: "m1"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 5)              │            45 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ batch_normalization             │ (None, 5)              │            20 │
│ (BatchNormalization)            │                        │               │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 3)              │            18 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 141 (564.00 B)
 Trainable params: 28 (112.00 B)
 Non-trainable params: 55 (220.00 B)
 Optimizer params: 58 (232.00 B)
"""


def frozen_fake(with_optimizer=True):
    layers = [layer("Dense", "dense", (None, 5), 45),
              layer("BatchNormalization", "batch_normalization", (None, 5), 20),
              layer("Dense", "dense_1", (None, 3), 18)]
    trainable = [FakeWeight(5), FakeWeight(5), FakeWeight(15), FakeWeight(3)]
    non_trainable = [FakeWeight(40), FakeWeight(5), FakeWeight(5), FakeWeight(5)]
    opt = None
    if with_optimizer:
        variables = ([FakeWeight(1, "int32"), FakeWeight(1)]
                     + [FakeWeight(n) for n in (5, 5, 5, 5, 15, 15, 3, 3)])
        opt = FakeOptimizer(variables)
    return FakeModel("m1", layers, trainable, non_trainable, opt)


def test_cnn_matches_keras_text():
    assert summary_text(cnn_fake()) == CNN_SUMMARY


def test_unbuilt_layer():
    m = FakeModel("sequential_1", [layer("Dense", "dense_2", None, 0, built=False)])
    assert summary_text(m) == UNBUILT_SUMMARY


def test_non_trainable_wrapping_and_optimizer_params():
    assert summary_text(frozen_fake()) == FROZEN_SUMMARY


def test_unbuilt_optimizer_not_reported():
    m = frozen_fake()
    m.optimizer.built = False
    text = summary_text(m)
    assert "Optimizer params" not in text
    assert " Total params: 83 (332.00 B)\n" in text


def test_default_print_fn_writes_to_stdout(capsys):
    print_summary(cnn_fake())
    assert capsys.readouterr().out == CNN_SUMMARY


def test_line_length_and_positions():
    text = summary_text(cnn_fake(), line_length=100, positions=[0.5, 0.9, 1.0])
    lines = text.splitlines()
    assert len(lines[1]) == 80  # cropped to the console, as rich does
    text = summary_text(cnn_fake(), line_length=60, positions=[0.5, 0.8, 1.0])
    top = text.splitlines()[1]
    assert len(top) == 60
    # columns ask for 30/18/12 (+2 padding); the 10 excess cells come off evenly
    assert [len(part) for part in top[1:-1].split("┳")] == [29, 16, 11]


def test_narrow_table_raises():
    with pytest.raises(ValueError, match="Insufficient console width"):
        summary_text(cnn_fake(), line_length=8)


def test_long_name_gets_ellipsis():
    m = FakeModel("x", [layer("Dense", "n" * 50, (None, 3), 27)],
                  trainable=[FakeWeight(27)])
    row = summary_text(m).splitlines()[4]
    assert row.startswith("│ " + "n" * 30 + "… │")


def test_shapes_formatting():
    m = FakeModel("s", [layer("Lambda", "a", (None,)), layer("Lambda", "b", ()),
                        layer("Split", "c", [(None, 3), (None, 4)])])
    text = summary_text(m)
    assert "│ (None)  " in text and "│ ()  " in text
    assert "[(None, 3), (None, 4)]" in text


def test_readable_memory_size():
    assert readable_memory_size(0) == "0.00 B"
    assert readable_memory_size(1023) == "1023.00 B"
    assert readable_memory_size(1024) == "1.00 KB"
    assert readable_memory_size(3 * 1024 ** 3) == "3.00 GB"


def test_memory_counts_dtype_and_shared_weights():
    w = FakeWeight(10)
    m = FakeModel("m", [], trainable=[w, w], non_trainable=[FakeWeight(8, "bool")])
    text = summary_text(m)
    # shared weight: counted twice in the count, once in the bytes (Keras)
    assert " Trainable params: 20 (40.00 B)\n" in text
    assert " Non-trainable params: 8 (1.00 B)\n" in text


# ----------------------------------------------------------------------------
# Against real Keras, when it is installed.
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def fake_from_keras(model):
    """A FakeModel with the names, shapes and counts of a Keras model."""
    def convert_layer(l):
        try:
            shape = tuple(l.output.shape)
        except Exception:
            shape = None
        return layer(type(l).__name__, l.name, shape,
                     l.count_params() if l.built else 0, built=l.built,
                     weights=l.weights, trainable=l.trainable)

    def weight(v):
        return FakeWeight(int(np.prod(v.shape)), str(v.dtype))

    opt = None
    if model.compiled and model.optimizer is not None and model.optimizer.built:
        opt = FakeOptimizer([weight(v) for v in model.optimizer.variables])
    return FakeModel(model.name, [convert_layer(l) for l in model.layers],
                     [weight(v) for v in model.trainable_weights],
                     [weight(v) for v in model.non_trainable_weights], opt)


def keras_text(model, **kw):
    out = []
    model.summary(print_fn=lambda s, **k: out.append(s), **kw)
    assert len(out) == 1
    return out[0]


@pytest.fixture(scope="module")
def keras_models(keras):
    L = keras.layers
    cnn = keras.Sequential([
        keras.Input((32, 32, 3)), L.Conv2D(32, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)), L.Conv2D(64, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)), L.Conv2D(64, (3, 3), activation="relu"),
        L.Flatten(), L.Dense(64, activation="relu"),
        L.Dense(10, activation="softmax")])
    unbuilt = keras.Sequential([L.Dense(4)])
    frozen = keras.Sequential([keras.Input((8,)), L.Dense(5),
                               L.BatchNormalization(), L.Dense(3)], name="m1")
    frozen.layers[0].trainable = False
    words = keras.Sequential([
        keras.Input((8,)),
        L.Dense(3, name="a b c d e f g h i j k l m n o p q r s t u v w x y z "
                        "abcdefghijklmnopqrstuvwxyz0123456789abcdefg"),
        L.Dense(2, name="x" * 35), L.Lambda(lambda x: x[:, 0], name="y" * 36)],
        name="words")
    trained = keras.Sequential([keras.Input((8,)), L.Dense(5), L.Dense(3)],
                               name="trained")
    trained.compile("adam", "mse")
    trained.fit(np.zeros((4, 8)), np.zeros((4, 3)), epochs=1, verbose=0)
    return {"cnn": cnn, "unbuilt": unbuilt, "frozen": frozen,
            "words": words, "trained": trained}


@pytest.mark.parametrize("name", ["cnn", "unbuilt", "frozen", "words", "trained"])
@pytest.mark.parametrize("kw", [
    {}, {"line_length": 40}, {"line_length": 120}, {"line_length": 33},
    {"line_length": 60, "positions": [0.3, 0.5, 0.7]},
    {"line_length": 50, "positions": [0.1, 0.2, 1.0]},
    {"show_trainable": True},
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
@pytest.mark.parametrize("columns", ["80", "200"])
def test_same_as_keras(keras_models, name, kw, columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", columns)
    model = keras_models[name]
    try:
        expected = keras_text(model, **kw)
    except ValueError:
        with pytest.raises(ValueError):
            summary_text(fake_from_keras(model), **kw)
        return
    assert summary_text(fake_from_keras(model), **kw) == expected


def test_layer_range_same_as_keras(keras_models):
    model = keras_models["cnn"]
    rng = ["max_pool.*", model.layers[4].name]
    assert summary_text(fake_from_keras(model), layer_range=rng) == \
        keras_text(model, layer_range=rng)

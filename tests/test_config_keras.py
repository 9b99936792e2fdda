"""Configs move both ways between Keras 3 and nbkeras.

Each layer's config (and its serialized entry, built or not) is the same dict as
Keras's for the same constructor call; a model config made by Keras loads in
nbkeras and one made by nbkeras loads in Keras, and with the weights copied across
both predict the same (rtol 1e-5). Keras runs on JAX; the module is skipped when it
is not installed.
"""
import copy
import json
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import nbkeras  # noqa: E402
from seed_cnn import seed_cnn  # noqa: E402

# Keras's own Variable.__array__ warns under NumPy 2; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def double(x):
    return x * 2.0


def plain(config):
    """A config as it is after JSON (tuples become lists)."""
    return json.loads(json.dumps(config))


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ----- layers: the same config dict as Keras's -----
LAYERS = {
    "Dense": (lambda m: m.layers.Dense(5, activation="relu", use_bias=False, name="l",
                                       kernel_initializer=m.initializers.HeNormal(seed=3)),
              (None, 4)),
    "Conv2D": (lambda m: m.layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh",
                                         bias_initializer="ones", name="l"), (None, 6, 6, 2)),
    "MaxPooling2D": (lambda m: m.layers.MaxPooling2D(3, strides=1, padding="same", name="l"),
                     (None, 6, 6, 2)),
    "AveragePooling2D": (lambda m: m.layers.AveragePooling2D((2, 2), name="l"), (None, 6, 6, 2)),
    "GlobalAveragePooling2D": (lambda m: m.layers.GlobalAveragePooling2D(keepdims=True,
                                                                         name="l"),
                               (None, 6, 6, 2)),
    "GlobalMaxPooling2D": (lambda m: m.layers.GlobalMaxPooling2D(name="l"), (None, 6, 6, 2)),
    "Flatten": (lambda m: m.layers.Flatten(name="l"), (None, 2, 3)),
    "Reshape": (lambda m: m.layers.Reshape((2, -1), name="l"), (None, 4)),
    "Activation": (lambda m: m.layers.Activation("softmax", name="l"), (None, 4)),
    "Dropout": (lambda m: m.layers.Dropout(0.3, seed=1, name="l"), (None, 4)),
    "BatchNormalization": (lambda m: m.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-2, center=False, name="l"), (None, 4)),
    "LayerNormalization": (lambda m: m.layers.LayerNormalization(
        scale=False, beta_initializer="random_normal", name="l"), (None, 4)),
    "Add": (lambda m: m.layers.Add(name="l"), "merge"),
    "Subtract": (lambda m: m.layers.Subtract(name="l"), "merge"),
    "Multiply": (lambda m: m.layers.Multiply(name="l"), "merge"),
    "Average": (lambda m: m.layers.Average(name="l"), "merge"),
    "Maximum": (lambda m: m.layers.Maximum(name="l"), "merge"),
    "Minimum": (lambda m: m.layers.Minimum(name="l"), "merge"),
    "Concatenate": (lambda m: m.layers.Concatenate(axis=1, name="l"), "merge"),
    "Dot": (lambda m: m.layers.Dot(axes=(1, 1), normalize=True, name="l"), "merge"),
    "Identity": (lambda m: m.layers.Identity(name="l"), (None, 4)),
    "Lambda": (lambda m: m.layers.Lambda(double, output_shape=(4,), name="l"), (None, 4)),
    "InputLayer": (lambda m: m.layers.InputLayer(shape=(3,), name="l"), None),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_config_is_keras_config(name):
    make, shape = LAYERS[name]
    ours, theirs = make(nbkeras), make(keras)
    assert list(ours.get_config()) == list(theirs.get_config())
    assert plain(ours.get_config()) == plain(theirs.get_config())
    if shape is not None:  # the serialized entry once built, build_config included
        for m, layer in ((nbkeras, ours), (keras, theirs)):
            x = m.Input((4,) if shape == "merge" else shape[1:])
            layer([x, x] if shape == "merge" else x)
    ours_entry = nbkeras.saving.serialize_keras_object(ours)
    theirs_entry = keras.saving.serialize_keras_object(theirs)
    assert plain(ours_entry) == plain(theirs_entry)
    # and each loads in the other
    custom = {"double": double}
    back = keras.saving.deserialize_keras_object(plain(ours_entry), custom_objects=custom)
    assert plain(back.get_config()) == plain(theirs.get_config())
    here = nbkeras.saving.deserialize_keras_object(plain(theirs_entry), custom_objects=custom)
    assert plain(here.get_config()) == plain(ours.get_config())


# ----- models -----
def two_in_two_out(m):
    L = m.layers
    in1, in2 = m.Input((4,), name="in1"), m.Input((4,), name="in2")
    shared = L.Dense(3, name="shared")
    a, b = shared(in1), shared(in2)
    c = L.BatchNormalization(name="bn")(L.Concatenate(name="cat")([a, b]))
    out1 = L.Dense(1, name="out1")(L.Dropout(0.2, name="drop")(c))
    out2 = L.Dense(2, activation="softmax", name="out2")(b)
    return m.Model([in1, in2], [out1, out2], name="fm")


def nested(m):
    L = m.layers
    inner_in = m.Input((4,), name="inner_in")
    inner = m.Model(inner_in, L.Dense(3, name="inner_dense")(inner_in), name="inner")
    seq = m.Sequential([m.Input((3,), name="seq_in"), L.Dense(2, name="seq_dense")],
                       name="seq")
    x = m.Input((4,), name="x")
    y = inner(x)
    return m.Model(x, [L.Dense(1, name="w")(seq(y)), y], name="outer")


def named_sequential(m):
    L = m.layers
    return m.Sequential([m.Input((8, 8, 3), name="img"),
                         L.Conv2D(4, 3, activation="relu", name="conv"),
                         L.MaxPooling2D(name="pool"), L.Flatten(name="flat"),
                         L.Dense(3, activation="softmax", name="dense")], name="seq")


def from_intermediate(m):
    L = m.layers
    x = m.Input((4,), name="x0")
    a = L.Dense(5, name="a")(x)
    return m.Model(a, L.Dense(7, name="c")(L.Dense(6, name="b")(a)), name="cut")


MODELS = {
    "seed_cnn": (seed_cnn, "Sequential", lambda: randn(4, 32, 32, 3)),
    "named_sequential": (named_sequential, "Sequential", lambda: randn(3, 8, 8, 3)),
    "two_in_two_out": (two_in_two_out, "Model", lambda: [randn(5, 4), randn(5, 4, seed=1)]),
    "nested": (nested, "Model", lambda: randn(3, 4)),
    "from_intermediate": (from_intermediate, "Model", lambda: randn(3, 5)),
}


def outputs(model, x):
    out = model(x)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def assert_same_predictions(source, target, x):
    target.set_weights([np.asarray(w) for w in source.get_weights()])
    for a, b in zip(outputs(source, x), outputs(target, x)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_config_loads_in_nbkeras(name):
    build, kind, data = MODELS[name]
    theirs = build(keras)
    config = plain(theirs.get_config())
    ours = getattr(nbkeras, kind).from_config(config)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert plain(ours.get_config()) == config  # the same config back
    assert_same_predictions(theirs, ours, data())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_nbkeras_config_loads_in_keras(name):
    build, kind, data = MODELS[name]
    ours = build(nbkeras)
    config = plain(ours.get_config())
    theirs = getattr(keras, kind).from_config(copy.deepcopy(config))  # Keras pops keys
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in ours.layers]
    assert plain(theirs.get_config()) == config
    assert_same_predictions(ours, theirs, data())


@pytest.mark.parametrize("name", ["named_sequential", "two_in_two_out", "nested"])
def test_model_config_is_keras_config(name):
    build = MODELS[name][0]
    assert plain(build(nbkeras).get_config()) == plain(build(keras).get_config())


def test_serialized_models_load_both_ways():
    for build in (two_in_two_out, named_sequential):
        ours = nbkeras.saving.serialize_keras_object(build(nbkeras))
        theirs = keras.saving.serialize_keras_object(build(keras))
        assert plain(ours) == plain(theirs)
        assert isinstance(keras.saving.deserialize_keras_object(plain(ours)), keras.Model)
        assert ours["compile_config"] == {}
        assert isinstance(nbkeras.saving.deserialize_keras_object(plain(theirs)),
                          nbkeras.Model)


# ----- a custom layer, registered in each library -----
@keras.saving.register_keras_serializable(package="cfgkeras")
class KerasScale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@nbkeras.saving.register_keras_serializable(package="cfgnb")
class NbScale(nbkeras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def scaled(m, scale_cls):
    x = m.Input((3,), name="sx")
    y = scale_cls(0.5, name="half")(m.layers.Dense(2, name="sd")(x))
    return m.Model(x, m.layers.Lambda(double, name="dbl")(y), name="scaled")


def test_custom_layers_through_custom_objects():
    x = randn(4, 3)
    theirs = scaled(keras, KerasScale)
    config = plain(theirs.get_config())
    assert config["layers"][2]["registered_name"] == "cfgkeras>KerasScale"
    ours = nbkeras.Model.from_config(config, custom_objects={"cfgkeras>KerasScale": NbScale,
                                                             "double": double})
    assert_same_predictions(theirs, ours, x)
    ours = scaled(nbkeras, NbScale)
    config = plain(ours.get_config())
    assert config["layers"][2]["registered_name"] == "cfgnb>NbScale"
    theirs = keras.Model.from_config(copy.deepcopy(config),  # Keras pops keys
                                     custom_objects={"cfgnb>NbScale": KerasScale,
                                                     "double": double})
    assert_same_predictions(ours, theirs, x)

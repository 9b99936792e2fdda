"""get_config / from_config round trips: every layer, Sequential and functional models,
through the one registry (``nbkeras.saving``), in Keras's ``serialize_keras_object``
layout. Keras itself is not needed here (see test_config_keras.py for that)."""
import json

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import layers as L
from nbkeras.saving import deserialize_keras_object, serialize_keras_object
from seed_cnn import seed_cnn

DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
         "registered_name": None}


def double(x):
    return x * 2.0


def json_round_trip(config):
    return json.loads(json.dumps(config))


# ----- layers -----
LAYERS = {
    "Dense": lambda: L.Dense(5, activation="relu", use_bias=False,
                             kernel_initializer=keras.initializers.HeNormal(seed=3)),
    "Conv2D": lambda: L.Conv2D(4, 3, strides=2, padding="same", activation="tanh",
                               bias_initializer="ones"),
    "MaxPooling2D": lambda: L.MaxPooling2D(3, strides=1, padding="same"),
    "AveragePooling2D": lambda: L.AveragePooling2D((2, 2)),
    "GlobalAveragePooling2D": lambda: L.GlobalAveragePooling2D(keepdims=True),
    "GlobalMaxPooling2D": lambda: L.GlobalMaxPooling2D(),
    "Flatten": lambda: L.Flatten(),
    "Reshape": lambda: L.Reshape((2, -1)),
    "Activation": lambda: L.Activation("softmax"),
    "Dropout": lambda: L.Dropout(0.3, seed=1),
    "BatchNormalization": lambda: L.BatchNormalization(momentum=0.9, epsilon=1e-2,
                                                       center=False),
    "LayerNormalization": lambda: L.LayerNormalization(scale=False,
                                                       beta_initializer="random_normal"),
    "Add": lambda: L.Add(), "Subtract": lambda: L.Subtract(),
    "Multiply": lambda: L.Multiply(), "Average": lambda: L.Average(),
    "Maximum": lambda: L.Maximum(), "Minimum": lambda: L.Minimum(),
    "Concatenate": lambda: L.Concatenate(axis=1),
    "Dot": lambda: L.Dot(axes=(1, 1), normalize=True),
    "Identity": lambda: L.Identity(),
    "Lambda": lambda: L.Lambda(double, output_shape=(4,)),
    "InputLayer": lambda: L.InputLayer(shape=(3,), name="in"),
}
INPUT_SHAPES = {"Conv2D": (None, 6, 6, 2), "MaxPooling2D": (None, 6, 6, 2),
                "AveragePooling2D": (None, 6, 6, 2), "GlobalAveragePooling2D": (None, 6, 6, 2),
                "GlobalMaxPooling2D": (None, 6, 6, 2), "Flatten": (None, 2, 3)}
MERGES = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"}


def test_every_layer_is_covered():
    exported = {name for name, obj in vars(L).items()
                if isinstance(obj, type) and issubclass(obj, L.Layer) and obj is not L.Layer
                and obj.__name__ == name}
    assert exported == set(LAYERS)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_config_round_trip(name):
    layer = LAYERS[name]()
    config = layer.get_config()
    json.dumps(config)
    if name != "InputLayer":
        assert list(config)[:3] == ["name", "trainable", "dtype"]
        assert config["dtype"] == DTYPE
    custom = {"double": double}
    clone = type(layer).from_config(json_round_trip(config), **(
        {"custom_objects": custom} if name == "Lambda" else {}))
    assert type(clone) is type(layer)
    assert json_round_trip(clone.get_config()) == json_round_trip(config)
    again = deserialize_keras_object(json_round_trip(serialize_keras_object(layer)), custom)
    assert json_round_trip(again.get_config()) == json_round_trip(config)


@pytest.mark.parametrize("name", sorted(set(LAYERS) - {"InputLayer"}))
def test_built_layer_round_trip_builds_the_same_weights(name):
    layer = LAYERS[name]()
    shape = INPUT_SHAPES.get(name, (None, 4))
    x = keras.Input(shape[1:])
    layer([x, x] if name in MERGES else x)
    entry = serialize_keras_object(layer)
    assert list(entry) == ["module", "class_name", "config", "registered_name"] + (
        ["build_config"] if layer.get_build_config() is not None else [])
    assert entry["module"] == "keras.layers" and entry["registered_name"] is None
    clone = deserialize_keras_object(json_round_trip(entry), {"double": double})
    if layer.weights:
        assert clone.built
        assert [w.shape for w in clone.weights] == [w.shape for w in layer.weights]
        assert [w.path for w in clone.weights] == [w.path for w in layer.weights]


def test_initializers_in_full_and_accepted_in_every_form():
    dense = L.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed=4))
    config = dense.get_config()
    assert config["kernel_initializer"] == {
        "module": "keras.initializers", "class_name": "GlorotUniform",
        "config": {"seed": 4, "input_axes": None, "output_axes": None},
        "registered_name": None}
    assert config["bias_initializer"] == {"module": "keras.initializers", "class_name": "Zeros",
                                          "config": {}, "registered_name": None}
    assert config["activation"] == "linear"
    for form in (config["kernel_initializer"], "glorot_uniform", "GlorotUniform"):
        assert type(L.Dense(3, kernel_initializer=form).kernel_initializer).__name__ == \
            "GlorotUniform"
    seeded = L.Dense(3, kernel_initializer=config["kernel_initializer"])
    seeded.build((None, 2))
    dense.build((None, 2))
    np.testing.assert_array_equal(seeded.kernel.numpy(), dense.kernel.numpy())


def test_dtype_as_policy_dict_or_string():
    assert L.Dense(2, dtype=DTYPE).get_config()["dtype"] == DTYPE
    assert L.Dense(2, dtype="float32").get_config()["dtype"] == DTYPE


def test_activation_function_and_its_serialized_form():
    layer = L.Dense(2, activation=keras.activations.relu)
    assert layer.get_config()["activation"] == "relu"
    fn = serialize_keras_object(keras.activations.relu)
    assert fn == {"module": "builtins", "class_name": "function", "config": "relu",
                  "registered_name": "function"}
    assert L.Dense(2, activation=fn).get_config()["activation"] == "relu"
    assert deserialize_keras_object(fn) is keras.activations.relu


def test_lambda_of_a_python_lambda_cannot_be_serialized():
    layer = L.Lambda(lambda x: x + 1)
    with pytest.raises(ValueError, match="lambda"):
        layer.get_config()


def test_lambda_function_by_registered_name():
    config = L.Lambda(double, arguments={}).get_config()
    assert config["function"] == {"module": "builtins", "class_name": "function",
                                  "config": "double", "registered_name": "function"}
    assert "output_shape" not in config and config["arguments"] == {}
    with pytest.raises(TypeError, match="Could not locate function 'double'"):
        L.Lambda.from_config(config)


# ----- plain values, losses, metrics, optimizers -----
def test_plain_values_pass_through():
    assert serialize_keras_object(None) is None
    assert serialize_keras_object("relu") == "relu"
    assert serialize_keras_object(3) == 3
    assert serialize_keras_object((1, 2)) == (1, 2)
    assert serialize_keras_object([1, (2, 3)]) == [1, (2, 3)]
    assert serialize_keras_object(np.float32(1.5)) == 1.5
    assert serialize_keras_object(np.array([1, 2])) == {
        "class_name": "__numpy__", "config": {"value": [1, 2], "dtype": "int64"}}
    np.testing.assert_array_equal(deserialize_keras_object(
        serialize_keras_object(np.array([1, 2]))), [1, 2])


@pytest.mark.parametrize("make, module", [
    (lambda: keras.losses.MeanSquaredError(), "keras.losses"),
    (lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True), "keras.losses"),
    (lambda: keras.metrics.MeanAbsoluteError(), "keras.metrics"),
    (lambda: keras.metrics.SparseCategoricalAccuracy(), "keras.metrics"),
    (lambda: keras.optimizers.Adam(1e-2), "keras.optimizers"),
    (lambda: keras.optimizers.SGD(momentum=0.5), "keras.optimizers"),
    (lambda: keras.initializers.RandomNormal(stddev=0.2, seed=1), "keras.initializers"),
])
def test_objects_round_trip(make, module):
    obj = make()
    entry = serialize_keras_object(obj)
    assert entry["module"] == module and entry["class_name"] == type(obj).__name__
    assert entry["registered_name"] is None
    clone = deserialize_keras_object(json_round_trip(entry))
    assert type(clone) is type(obj)
    assert clone.get_config() == obj.get_config()


def test_loss_layout_and_functions():
    assert serialize_keras_object(keras.losses.MeanSquaredError()) == {
        "module": "keras.losses", "class_name": "MeanSquaredError",
        "config": {"name": "mean_squared_error", "reduction": "sum_over_batch_size"},
        "registered_name": None}
    fn = serialize_keras_object(keras.losses.mean_squared_error)
    assert fn == {"module": "builtins", "class_name": "function",
                  "config": "mean_squared_error", "registered_name": "function"}
    assert deserialize_keras_object(fn) is keras.losses.mean_squared_error
    assert type(keras.losses.get(serialize_keras_object(keras.losses.Huber(2.0)))) is \
        keras.losses.Huber
    assert type(keras.metrics.get(serialize_keras_object(keras.metrics.MeanSquaredError()))) \
        is keras.metrics.MeanSquaredError


# ----- custom objects -----
class Scale(L.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="cfgtest")
class RegisteredScale(Scale):
    pass


def test_unregistered_custom_layer_needs_custom_objects():
    entry = serialize_keras_object(Scale(3.0, name="s"))
    assert entry["module"] == __name__ and entry["class_name"] == "Scale"
    assert entry["registered_name"] == "Scale"
    with pytest.raises(TypeError, match="Could not locate class 'Scale'"):
        deserialize_keras_object(entry)
    clone = deserialize_keras_object(entry, custom_objects={"Scale": Scale})
    assert type(clone) is Scale and clone.factor == 3.0 and clone.name == "s"


def test_registered_custom_layer():
    assert keras.saving.get_registered_object("cfgtest>RegisteredScale") is RegisteredScale
    assert keras.utils.register_keras_serializable is keras.saving.register_keras_serializable
    entry = serialize_keras_object(RegisteredScale(4.0))
    assert entry["registered_name"] == "cfgtest>RegisteredScale"
    clone = keras.utils.deserialize_keras_object(json_round_trip(entry))
    assert type(clone) is RegisteredScale and clone.factor == 4.0


def test_registered_function():
    @keras.saving.register_keras_serializable(package="cfgtest")
    def triple(x):
        return x * 3.0
    entry = serialize_keras_object(triple)
    assert entry == {"module": "builtins", "class_name": "function",
                     "config": "cfgtest>triple", "registered_name": "function"}
    assert deserialize_keras_object(entry) is triple


# ----- models -----
def predictions(model, inputs):
    """The model's outputs on ``inputs``, as a list of arrays."""
    out = model(inputs)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def assert_rebuilds(model, inputs, from_config, **kwargs):
    config = model.get_config()
    json_config = json_round_trip(config)
    clone = from_config(json_config, **kwargs)
    assert json_round_trip(clone.get_config()) == json_config
    clone.set_weights(model.get_weights())
    for a, b in zip(predictions(model, inputs), predictions(clone, inputs)):
        np.testing.assert_array_equal(a, b)
    return config, clone


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_sequential_seed_cnn():
    model = seed_cnn(keras)
    config, clone = assert_rebuilds(model, randn(3, 32, 32, 3), keras.Sequential.from_config)
    assert list(config) == ["name", "trainable", "dtype", "layers", "build_input_shape"]
    assert config["build_input_shape"] == (None, 32, 32, 3)
    assert config["layers"][0]["class_name"] == "InputLayer"
    assert "build_config" not in config["layers"][0]
    assert type(clone) is keras.Sequential and clone.built
    entry = serialize_keras_object(model)
    assert (entry["module"], entry["class_name"], entry["registered_name"]) == \
        ("keras", "Sequential", None)
    assert entry["build_config"] == {"input_shape": (None, 32, 32, 3)}
    assert type(deserialize_keras_object(json_round_trip(entry))) is keras.Sequential


def test_unbuilt_sequential_builds_from_build_input_shape():
    model = keras.Sequential([L.Dense(3), L.Dense(1)])
    config = model.get_config()
    assert "build_input_shape" not in config
    clone = keras.Sequential.from_config(config)
    assert not clone.weights
    model.build((None, 4))
    assert_rebuilds(model, randn(2, 4), keras.Sequential.from_config)


def two_in_two_out():
    in1, in2 = keras.Input((4,), name="in1"), keras.Input((4,), name="in2")
    shared = L.Dense(3, name="shared")
    a, b = shared(in1), shared(in2)
    c = L.BatchNormalization(name="bn")(L.Concatenate(name="cat")([a, b]))
    out1 = L.Dense(1, name="out1")(L.Dropout(0.2, name="drop")(c))
    out2 = L.Dense(2, activation="softmax", name="out2")(b)
    return keras.Model([in1, in2], [out1, out2], name="fm")


def test_functional_shared_layer_concatenate_batchnorm():
    model = two_in_two_out()
    config, clone = assert_rebuilds(model, [randn(5, 4), randn(5, 4, seed=1)],
                                    keras.Model.from_config)
    assert list(config) == ["name", "trainable", "layers", "input_layers", "output_layers"]
    assert config["input_layers"] == [["in1", 0, 0], ["in2", 0, 0]]
    assert config["output_layers"] == [["out1", 0, 0], ["out2", 0, 0]]
    by_name = {entry["name"]: entry for entry in config["layers"]}
    assert list(by_name) == ["in1", "in2", "shared", "cat", "bn", "drop", "out1", "out2"]
    assert list(by_name["shared"]) == ["module", "class_name", "config", "registered_name",
                                       "build_config", "name", "inbound_nodes"]
    assert by_name["in1"]["inbound_nodes"] == []
    assert len(by_name["shared"]["inbound_nodes"]) == 2
    cat_args = by_name["cat"]["inbound_nodes"][0]["args"]
    assert [t["config"]["keras_history"] for t in cat_args[0]] == [["shared", 0, 0],
                                                                   ["shared", 1, 0]]
    assert by_name["out2"]["inbound_nodes"][0]["args"][0] == {
        "class_name": "__keras_tensor__",
        "config": {"shape": (None, 3), "dtype": "float32", "keras_history": ["shared", 1, 0]}}
    assert by_name["drop"]["inbound_nodes"][0]["kwargs"] == {"training": False}
    assert by_name["bn"]["inbound_nodes"][0]["kwargs"] == {"mask": None}
    assert len(clone.get_layer("shared")._inbound_nodes) == 2
    # the recorded training=False does not freeze the rebuilt Dropout (as in Keras)
    assert clone.get_layer("drop")._inbound_nodes[0].call_kwargs == {}
    entry = serialize_keras_object(model)
    assert (entry["module"], entry["class_name"], entry["registered_name"]) == \
        ("keras.src.models.functional", "Functional", "Functional")
    assert entry["build_config"] == {"input_shape": None}
    assert isinstance(deserialize_keras_object(json_round_trip(entry)), keras.Model)


def test_functional_dict_inputs_and_single_output():
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    out = L.Dense(2, name="d")(L.Add(name="add")([a, b]))
    model = keras.Model({"a": a, "b": b}, out)
    config, _ = assert_rebuilds(model, {"a": randn(2, 3), "b": randn(2, 3, seed=1)},
                                keras.Model.from_config)
    assert config["input_layers"] == {"a": ["a", 0, 0], "b": ["b", 0, 0]}
    assert config["output_layers"] == ["d", 0, 0]


def test_nested_sequential_and_functional():
    inner_in = keras.Input((4,), name="inner_in")
    inner = keras.Model(inner_in, L.Dense(3, name="inner_dense")(inner_in), name="inner")
    seq = keras.Sequential([keras.Input((3,), name="seq_in"), L.Dense(2, name="seq_dense")],
                           name="seq")
    x = keras.Input((4,), name="x")
    y = inner(x)
    model = keras.Model(x, [L.Dense(1, name="w")(seq(y)), y], name="outer")
    config, clone = assert_rebuilds(model, randn(3, 4), keras.Model.from_config)
    by_name = {entry["name"]: entry for entry in config["layers"]}
    assert by_name["inner"]["class_name"] == "Functional"
    assert by_name["seq"]["class_name"] == "Sequential"
    assert by_name["seq"]["inbound_nodes"][0]["kwargs"] == {"mask": None}
    # Keras counts a nested functional model's own node in output_layers only
    assert config["output_layers"] == [["w", 0, 0], ["inner", 1, 0]]
    assert by_name["seq"]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == \
        ["inner", 0, 0]
    assert type(clone.get_layer("seq")) is keras.Sequential


def test_node_indices_count_only_this_models_nodes():
    shared = L.Dense(3, name="shared2")
    first = keras.Input((4,), name="first")
    keras.Model(first, shared(first))  # node 0 of `shared` belongs to another model
    second = keras.Input((4,), name="second")
    model = keras.Model(second, L.Dense(1, name="top")(shared(second)))
    assert len(shared._inbound_nodes) == 2
    config, _ = assert_rebuilds(model, randn(2, 4), keras.Model.from_config)
    by_name = {entry["name"]: entry for entry in config["layers"]}
    assert len(by_name["shared2"]["inbound_nodes"]) == 1
    assert by_name["top"]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == \
        ["shared2", 0, 0]


def test_model_from_an_intermediate_tensor():
    x = keras.Input((4,), name="x0")
    a = L.Dense(5, name="a")(x)
    c = L.Dense(7, name="c")(L.Dense(6, name="b")(a))
    model = keras.Model(a, c)
    config, clone = assert_rebuilds(model, randn(2, 5), keras.Model.from_config)
    first = config["layers"][0]
    assert first["class_name"] == "InputLayer" and "CLONE" in first["name"]
    assert config["input_layers"] == [first["name"], 0, 0]
    assert [entry["name"] for entry in config["layers"]][1:] == ["b", "c"]
    b_input = config["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
    assert b_input == [first["name"], 0, 0]


def test_custom_layer_in_a_model():
    x = keras.Input((3,), name="cx")
    model = keras.Model(x, RegisteredScale(0.5, name="half")(Scale(3.0, name="s3")(x)))
    config = json_round_trip(model.get_config())
    with pytest.raises(TypeError, match="Scale"):
        keras.Model.from_config(config)
    assert_rebuilds(model, randn(2, 3), keras.Model.from_config,
                    custom_objects={"Scale": Scale})


def test_lambda_in_a_model_by_custom_objects():
    x = keras.Input((3,), name="lx")
    model = keras.Model(x, L.Dense(2, name="ld")(L.Lambda(double, name="dbl")(x)))
    assert_rebuilds(model, randn(2, 3), keras.Model.from_config,
                    custom_objects={"double": double})


def test_ops_nodes_are_not_supported_yet():
    x = keras.Input((3,), name="ox")
    model = keras.Model(x, L.Dense(2)(x) + 1.0)
    with pytest.raises(NotImplementedError, match="cannot be written in a model config"):
        model.get_config()

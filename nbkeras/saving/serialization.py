"""``serialize_keras_object`` / ``deserialize_keras_object`` in Keras 3's layout.

An object with a config becomes ``{"module", "class_name", "config",
"registered_name"}`` (plus ``"build_config"`` for a built layer); a function
becomes ``{"module": "builtins", "class_name": "function", "config": <its
(registered) name>, "registered_name": "function"}``; strings, numbers, None,
lists, tuples and dicts pass through (their items serialized), NumPy arrays
become ``__numpy__`` and symbolic tensors ``__keras_tensor__`` entries. Names
are resolved through :mod:`nbkeras.saving.registry`.
"""
import types

import numpy as np

from ..engine.keras_tensor import KerasTensor
from . import registry

_PLAIN = (str, int, float, bool)
_ANY_MODULE = "*"


def dtype_policy(name):
    """A layer's dtype as Keras writes it (a serialized ``DTypePolicy``)."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name},
            "registered_name": None}


def serialize_keras_object(obj):
    """The config of ``obj`` (a layer, model, loss, metric, optimizer, initializer,
    function, or a structure of them) in Keras's layout."""
    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(v) for v in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(),
                                                       "dtype": obj.dtype.name}}
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.item()
    if isinstance(obj, KerasTensor):
        h = obj._keras_history
        return {"class_name": "__keras_tensor__",
                "config": {"shape": obj.shape, "dtype": obj.dtype,
                           "keras_history": None if h is None else [h[0].name, h[1], h[2]]}}
    from .. import activations
    if isinstance(obj, activations.Activation):  # a built-in activation: its function
        obj = getattr(activations, obj.name)
    if isinstance(obj, types.FunctionType):
        if obj.__name__ == "<lambda>":
            raise ValueError(
                f"Cannot serialize the Python lambda {obj!r}: nbkeras writes functions by "
                f"name and does not save code. Use a named function (decorated with "
                f"@keras.saving.register_keras_serializable(), or passed in "
                f"`custom_objects` when loading) instead.")
        return {"module": "builtins", "class_name": "function",
                "config": registry.get_registered_name(obj), "registered_name": "function"}
    if not hasattr(obj, "get_config"):
        raise TypeError(f"Cannot serialize object {obj!r} of type {type(obj).__name__}. To be "
                        f"serializable, a class must implement the `get_config()` method.")
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"The `get_config()` method of {obj!r} should return a dict. It "
                        f"returned: {config!r}")
    module, class_name, registered_name = registry.public_name(type(obj))
    out = {"module": module, "class_name": class_name,
           "config": serialize_keras_object(config), "registered_name": registered_name}
    for key in ("build_config", "compile_config"):
        getter = getattr(obj, f"get_{key}", None)
        value = getter() if getter is not None else None
        if value is not None:
            out[key] = serialize_keras_object(value)
    return out


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, module_objects=None,
                             default_module=None):
    """The object a config of :func:`serialize_keras_object` describes.

    ``custom_objects`` maps names (class names or ``"package>Name"``) to classes
    and functions not registered with ``register_keras_serializable``;
    ``default_module`` (e.g. ``"keras.layers"``) is where a config without a
    ``"module"`` key (an older format) is looked up.
    """
    scope = {**(module_objects or {}), **(custom_objects or {})}
    with registry.custom_object_scope(scope):
        return _deserialize(config, default_module)


def _deserialize(config, default_module=None):
    if config is None:
        return None
    if isinstance(config, str):
        found = registry.get_registered_object(config)
        return config if found is None else found
    if isinstance(config, (list, tuple)):
        return [_deserialize(v, default_module) for v in config]
    if isinstance(config, _PLAIN):
        return config
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {k: _deserialize(v, default_module) for k, v in config.items()}
    class_name = config["class_name"]
    inner = config["config"] if config["config"] is not None else {}
    if class_name == "__keras_tensor__":
        tensor = KerasTensor(inner["shape"], inner["dtype"])
        tensor._pre_serialization_keras_history = inner["keras_history"]
        return tensor
    if class_name in ("__numpy__", "__tensor__"):
        return np.array(inner["value"], dtype=inner["dtype"])
    if class_name == "__lambda__":
        raise ValueError("This config holds a serialized Python lambda (its bytecode), which "
                         "nbkeras does not load: define the function by name and pass it in "
                         "`custom_objects` (or register it).")
    if class_name in ("DTypePolicy", "FloatDTypePolicy"):
        return inner.get("name", "float32")
    # an older config without "module": the default module, else any built-in
    module = config["module"] if "module" in config else (default_module or _ANY_MODULE)
    if class_name == "function":
        if not isinstance(inner, str):
            raise TypeError(f"Expected 'config' to be a non-null str for a function "
                            f"class_name, received {inner!r}. Full config: {config}")
        return _retrieve(inner, None, module, config, function=True)
    if not isinstance(inner, dict):
        raise TypeError(f"Expected 'config' to be a dict for {class_name}, received "
                        f"{type(inner).__name__}. Full config: {config}")
    cls = _retrieve(class_name, config.get("registered_name"), module, config)
    if isinstance(cls, types.FunctionType):
        return cls
    if not hasattr(cls, "from_config"):
        raise TypeError(f"Unable to reconstruct an instance of '{class_name}' because the "
                        f"class is missing a `from_config()` method. Full object config: "
                        f"{config}")
    instance = cls.from_config(dict(inner))
    build_config = config.get("build_config")
    if build_config and not getattr(instance, "built", True):
        instance.build_from_config(build_config)
    compile_config = config.get("compile_config")
    if compile_config and hasattr(instance, "compile_from_config"):
        instance.compile_from_config(compile_config)
    return instance


def _retrieve(name, registered_name, module, full_config, function=False):
    """A class or function: a custom object first, then nbkeras's built-in of that
    Keras module and name."""
    for key in (registered_name, name):
        found = registry.get_registered_object(key) if key else None
        if found is not None:
            return found
    kind = "function" if function else "class"
    if module == _ANY_MODULE:
        for table in registry.tables().values():
            found = table.get(name)
            if found is not None and isinstance(found, type) != function:
                return found
    elif module:
        found = registry.lookup_builtin(module, name, function)
        if found is not None:
            return found
    if module and module.startswith("keras"):
        raise TypeError(f"Could not locate {kind} '{module}.{name}': nbkeras has no such "
                        f"built-in (yet). Full object config: {full_config}")
    raise TypeError(
        f"Could not locate {kind} '{name}'. Make sure custom classes and functions are "
        f"decorated with `@keras.saving.register_keras_serializable()`. If they are already "
        f"decorated, make sure they are all imported so that the decorator is run before "
        f"trying to load them. Full object config: {full_config}")


def serialize_layer(layer):
    """A layer's entry in a model config (``serialize_keras_object`` of a layer)."""
    return serialize_keras_object(layer)


def deserialize_layer(config, custom_objects=None):
    """A layer (or model) from its entry in a model config."""
    from ..layers.layer import Layer
    layer = deserialize_keras_object(config, custom_objects, default_module="keras.layers")
    if not isinstance(layer, Layer):
        raise ValueError(f"Expected a layer config, received a config of "
                         f"{type(layer).__name__}: {config!r}")
    return layer

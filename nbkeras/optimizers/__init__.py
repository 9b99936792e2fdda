"""Optimizers: Keras 3's SGD, RMSprop, Adagrad, Adam and AdamW over a flat
parameter arena, each step one fused kernel (see ``base_optimizer``)."""
from nbkeras.optimizers.adagrad import Adagrad
from nbkeras.optimizers.adam import Adam
from nbkeras.optimizers.adamw import AdamW
from nbkeras.optimizers.base_optimizer import Optimizer
from nbkeras.optimizers.rmsprop import RMSprop
from nbkeras.optimizers.sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "AdamW",
           "get", "serialize", "deserialize"]

ALL_OBJECTS = (SGD, RMSprop, Adagrad, Adam, AdamW)
_BY_LOWER_NAME = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}


def _known():
    return ", ".join(repr(n) for n in sorted(_BY_LOWER_NAME))


def _lookup(name, identifier, custom_objects=None):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    cls = _BY_LOWER_NAME.get(str(name).lower())
    if cls is None:
        raise ValueError(
            f"Could not interpret optimizer identifier: {identifier!r}. "
            f"Known optimizers: {_known()}.")
    return cls


def serialize(optimizer):
    """``{"module", "class_name", "config", "registered_name"}`` like Keras."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """An optimizer from ``{"class_name": ..., "config": {...}}``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret optimizer identifier: {config!r}. "
                         "Expected a dict with a 'class_name' key.")
    cls = _lookup(config["class_name"], config, custom_objects)
    return cls.from_config(dict(config.get("config") or {}), custom_objects=custom_objects)


def get(identifier):
    """Resolve an optimizer: ``None``, an instance (returned as is), a name
    (case-insensitive: "adam", "sgd", "rmsprop", "adagrad", "adamw"), or a
    ``{"class_name": ..., "config": ...}`` dict."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier, identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(
        f"Could not interpret optimizer identifier: {identifier!r}. "
        f"Known optimizers: {_known()}.")

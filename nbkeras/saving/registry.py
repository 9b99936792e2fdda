"""The one registry: Keras's public names <-> nbkeras objects, and custom objects.

Built-in objects are found by their Keras module and name, as Keras writes them
in a config (``("keras.layers", "Dense")``, ``("keras.initializers",
"GlorotUniform")``, ...); the tables are read off nbkeras's own modules, so a
new layer, loss, metric, optimizer, initializer or activation is registered by
being exported. User objects are registered under ``"package>Name"`` with
:func:`register_keras_serializable`, or passed as ``custom_objects``.
"""
import contextlib
import functools
import inspect

_CUSTOM_OBJECTS = {}   # "package>Name" -> class or function
_CUSTOM_NAMES = {}     # class or function -> "package>Name"
_scopes = [{}]         # custom_object_scope stack (innermost last)

# Keras's modules for functions written as {"module": "builtins", ...}
_FUNCTION_MODULES = ("keras.activations", "keras.losses", "keras.metrics")
# objects Keras serializes without a public name: (module, name), registered_name=name
_UNEXPORTED_MODULE = "keras.src.models.functional"


@functools.lru_cache(maxsize=None)
def tables():
    """``{keras module: {name: nbkeras object}}`` for every built-in object."""
    from .. import activations, initializers, layers, losses, metrics, models, optimizers
    from ..layers.layer import Layer
    from ..losses import Loss
    from ..metrics import Metric
    from ..optimizers import Optimizer

    def classes(module, base):
        return {name: obj for name, obj in vars(module).items()
                if isinstance(obj, type) and issubclass(obj, base) and not name.startswith("_")}

    loss_functions = {fn.__name__: fn for fn in losses._BY_FUNCTION}
    loss_functions.update({k: getattr(losses, k) for k in ("mse", "mae", "MSE", "MAE")})
    # in the order a class's public name is looked for: keras.Layer, not keras.layers.Layer
    return {
        "keras": {"Sequential": models.Sequential, "Model": models.Model, "Layer": Layer},
        "keras.layers": classes(layers, Layer),
        "keras.initializers": dict(initializers._BY_NAME),
        "keras.losses": {**classes(losses, Loss), **loss_functions},
        "keras.metrics": classes(metrics, Metric),
        "keras.optimizers": classes(optimizers, Optimizer),
        "keras.activations": {name: getattr(activations, name)
                              for name in activations.KNOWN},
        "keras.models": {"Sequential": models.Sequential, "Model": models.Model},
        _UNEXPORTED_MODULE: {"Functional": models.Functional},
    }


def public_name(cls):
    """``(module, class_name, registered_name)`` Keras writes for an instance of ``cls``."""
    for module, table in tables().items():
        if table.get(cls.__name__) is cls:
            registered = cls.__name__ if module == _UNEXPORTED_MODULE else None
            return module, cls.__name__, registered
    module = None if cls.__module__ == "__main__" else cls.__module__
    return module, cls.__name__, get_registered_name(cls)


def lookup_builtin(module, name, function=False):
    """The built-in object Keras calls ``module.name`` (None when nbkeras has none)."""
    if function and module == "builtins":
        for m in _FUNCTION_MODULES:
            obj = tables()[m].get(name)
            if obj is not None and not isinstance(obj, type):
                return obj
        return None
    return tables().get(module, {}).get(name)


# ----- custom objects -----
def register_keras_serializable(package="Custom", name=None):
    """Register a class or function under ``"package>name"`` (``name``: its own name)."""
    def decorator(arg):
        registered_name = f"{package}>{name if name is not None else arg.__name__}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() "
                             "method.")
        _CUSTOM_OBJECTS[registered_name] = arg
        _CUSTOM_NAMES[arg] = registered_name
        return arg
    return decorator


def get_registered_name(obj):
    """The name ``obj`` is registered under, else its own ``__name__``."""
    return _CUSTOM_NAMES.get(obj, obj.__name__)


def get_custom_objects():
    """The live dict of registered objects (``"package>Name"`` -> object)."""
    return _CUSTOM_OBJECTS


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered, scoped or passed under ``name`` (None if there is none)."""
    for source in (_scopes[-1], _CUSTOM_OBJECTS, custom_objects or {}, module_objects or {}):
        if name in source:
            return source[name]
    return None


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Make ``custom_objects`` visible to every deserialization inside the block."""
    _scopes.append({**_scopes[-1], **(custom_objects or {})})
    try:
        yield
    finally:
        _scopes.pop()


CustomObjectScope = custom_object_scope

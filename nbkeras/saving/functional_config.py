"""A functional model's config, as Keras 3 writes it, and the model back from one.

``config["layers"]`` lists each layer of the model (inputs first, then in call
order), serialized, with its ``name`` and ``inbound_nodes``: one ``{"args",
"kwargs"}`` per call of the layer *in this model*, each KerasTensor argument
written as ``__keras_tensor__`` with ``keras_history = [layer name, node index,
tensor index]``. Node indices count only this model's nodes of that layer (a
layer also called in another model has nodes that are not written), as Keras
renumbers them. ``input_layers`` / ``output_layers`` mirror the structure of
the model's inputs and outputs with the same ``[name, node, tensor]`` leaves,
except that Keras counts one extra node for a nested functional model there.
A model made from an intermediate tensor writes its stand-in InputLayer, as
Keras writes the ``...CLONE`` input it makes. Keras also records some call
arguments it fills in itself (``training=False`` for Dropout, ``mask=None`` for
a layer whose call takes a mask); they are written, and dropped again on
loading (where Keras's executor overrides them too).
"""
import inspect

from .. import tree
from ..engine.keras_tensor import KerasTensor
from . import registry
from .serialization import _deserialize, serialize_keras_object


def functional_config(model):
    from ..layers.layer import Layer
    from ..models.functional import Functional
    for node in model._nodes:
        if not isinstance(node.operation, Layer):
            raise NotImplementedError(
                f"Model '{model.name}' applies {node.operation!r} (an nbkeras.ops call on "
                f"symbolic tensors) between its layers; such nodes cannot be written in a "
                f"model config yet. Wrap the computation in a layer (a custom layer with a "
                f"get_config, or a Lambda of a named function).")
    input_layer_of = {id(t): layer for t, layer in zip(model._flat_inputs, model._input_layers)}
    own = {id(n) for n in model._nodes}

    def history(tensor):
        if id(tensor) in input_layer_of:
            return [input_layer_of[id(tensor)].name, 0, 0]
        layer, node_index, tensor_index = tensor._keras_history
        renumbered = sum(1 for n in layer._inbound_nodes[:node_index] if id(n) in own)
        return [layer.name, renumbered, tensor_index]

    def argument(value):
        if not isinstance(value, KerasTensor):
            return serialize_keras_object(value)
        return {"class_name": "__keras_tensor__",
                "config": {"shape": value.shape, "dtype": value.dtype,
                           "keras_history": history(value)}}

    def endpoint(tensor):
        ref = history(tensor)
        if id(tensor) not in input_layer_of and isinstance(tensor._keras_history[0], Functional):
            ref[1] += 1  # Keras counts a functional model's own node first
        return ref

    def node_config(node, implicit):
        kwargs = dict(node.call_kwargs)
        for key, value in implicit.items():
            kwargs.setdefault(key, value)
        return {"args": tree.map_structure(argument, list(node.call_args)),
                "kwargs": tree.map_structure(argument, kwargs)}

    layers = []
    for layer in model._graph_layers:
        entry = serialize_keras_object(layer)
        entry["name"] = layer.name
        implicit = keras_call_kwargs(layer)
        entry["inbound_nodes"] = [node_config(node, implicit) for node in layer._inbound_nodes
                                  if id(node) in own]
        layers.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": tree.map_structure(endpoint, model._inputs_struct),
            "output_layers": tree.map_structure(endpoint, model._outputs_struct)}


def keras_call_kwargs(layer):
    """The call arguments Keras records in each node of ``layer`` (its class's
    ``_keras_call_kwargs``, else read off the signature of its ``call``)."""
    from ..layers.layer import Layer
    if layer._keras_call_kwargs is not None:
        return layer._keras_call_kwargs
    if type(layer).call is Layer.call:  # a fused built-in layer
        return {}
    params = inspect.signature(type(layer).call).parameters
    out = {}
    if "mask" in params and params["mask"].default is None:
        out["mask"] = None
    training = params.get("training")
    if training is not None and training.default not in (None, inspect.Parameter.empty):
        out["training"] = training.default
    return out


class _NotYet(Exception):
    """A node's input comes from a layer call that has not been replayed yet."""


def functional_from_config(cls, config, custom_objects=None):
    """An instance of ``cls`` (Model, Functional or a subclass) from a functional config:
    every layer deserialized, then called on its inbound nodes as their inputs come
    to exist (a shared layer may be called at several depths)."""
    from ..models.functional import Functional
    config = dict(config)
    with registry.custom_object_scope(custom_objects):
        created, pending = {}, []
        for data in config.pop("layers"):
            layer = _deserialize(data, "keras.layers")
            created[data["name"]] = layer
            pending.append((layer, list(data.get("inbound_nodes") or [])))

        def layer_named(name):
            if name not in created:
                raise ValueError(f"Invalid Functional model configuration: unknown layer "
                                 f"'{name}'.")
            return created[name]

        def revive(value):
            history = getattr(value, "_pre_serialization_keras_history", None)
            if not isinstance(value, KerasTensor) or history is None:
                return value
            layer = layer_named(history[0])
            if history[1] >= len(layer._inbound_nodes):
                raise _NotYet
            return layer._inbound_nodes[history[1]].output_tensors[history[2]]

        def call_arguments(layer, node):  # Keras's implicit kwargs dropped again
            args = tree.map_structure(revive, _deserialize(node.get("args", [])))
            kwargs = tree.map_structure(revive, _deserialize(node.get("kwargs", {})))
            implicit = keras_call_kwargs(layer)
            return args, {k: v for k, v in kwargs.items()
                          if not (k in implicit and v is implicit[k])}

        while any(nodes for _, nodes in pending):
            progress = False
            for layer, nodes in pending:
                while nodes:
                    try:
                        args, kwargs = call_arguments(layer, nodes[0])
                    except _NotYet:
                        break
                    layer(*args, **kwargs)
                    nodes.pop(0)
                    progress = True
            if not progress:
                raise ValueError(
                    "Invalid Functional model configuration. The graph of the Functional "
                    "model either has loops or disconnected nodes. The following layers' "
                    "nodes failed to be resolved: "
                    f"{[layer.name for layer, nodes in pending if nodes]}")

        def endpoint(ref):
            name, node_index, tensor_index = ref
            layer = layer_named(name)
            if isinstance(layer, Functional):
                node_index -= 1  # Keras counts a functional model's own node first
            return layer._inbound_nodes[node_index].output_tensors[tensor_index]

        inputs = _map_refs(endpoint, config.pop("input_layers"))
        outputs = _map_refs(endpoint, config.pop("output_layers"))
    return cls(inputs=inputs, outputs=outputs, name=config.pop("name", None),
               trainable=config.pop("trainable", True), **config)


def _map_refs(fn, refs):
    """``fn`` on every ``[layer name, node index, tensor index]`` leaf of ``refs``."""
    if isinstance(refs, (list, tuple)) and len(refs) == 3 and isinstance(refs[0], str):
        return fn(refs)
    if isinstance(refs, dict):
        return {k: _map_refs(fn, v) for k, v in refs.items()}
    return [_map_refs(fn, v) for v in refs]

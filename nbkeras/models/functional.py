"""Functional: a model that is the call nodes between its inputs and outputs.

Walking back from the outputs stops at the model's inputs, so
``Model(intermediate, out)`` holds only the layers in between (the intermediate
tensor gets a stand-in InputLayer, named as Keras names it). Running the model
replays the nodes in order on concrete values; every layer call lands on the
tape like any other, so shared layers, merges, several inputs and outputs and
nested models need nothing special. (A Conv2D node that only a MaxPooling2D
node reads is replayed fused with it: ``layers/conv_pool.py``.)
"""
import numpy as np

from .. import tree
from ..engine.keras_tensor import KerasTensor
from ..engine.tensor import Tensor
from ..layers import conv_pool
from ..layers.input_layer import InputLayer
from ..layers.layer import Layer
from ..utils import naming
from ..variables import Variable
from ..trainers.data_adapter import unknown_and_missing
from .model import Model


class Functional(Model):
    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        Functional._init_graph_on(self, inputs, outputs, name=name, trainable=trainable,
                                  **kwargs)

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    @staticmethod
    def _init_graph_on(model, inputs, outputs, name=None, trainable=True, **kwargs):
        if name is None:
            name = naming.unique_name("functional" if isinstance(model, Functional)
                                      else naming.to_snake_case(type(model).__name__))
        Layer.__init__(model, trainable=trainable, name=name, **kwargs)
        from ..trainers.trainer import Trainer
        Trainer.__init__(model)
        _check_tensors("inputs", inputs)
        _check_tensors("outputs", outputs)
        d = model.__dict__
        d["_inputs_struct"] = inputs
        d["_outputs_struct"] = outputs
        flat_inputs = tree.flatten(inputs)
        d["_flat_inputs"] = flat_inputs
        d["_flat_outputs"] = tree.flatten(outputs)
        d["_nodes"] = _nodes_between(flat_inputs, d["_flat_outputs"], outputs)
        d["_plan"] = conv_pool.plan_nodes(d["_nodes"], d["_flat_outputs"])
        d["_input_layers"] = [_input_layer_of(t) for t in flat_inputs]
        d["_graph_layers"] = _ordered_layers(d["_input_layers"], d["_nodes"])
        d["built"] = True

    # ----- structure -----
    def _sublayers(self):
        extra = [l for l in self._layers if not any(l is g for g in self._graph_layers)]
        return self._graph_layers + extra

    @property
    def inputs(self):
        return list(self._flat_inputs)

    @property
    def outputs(self):
        return list(self._flat_outputs)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._flat_inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._flat_outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input_names(self):
        return [l.name for l in self._input_layers]

    @property
    def output_names(self):
        return [t._keras_history[0].name if t._keras_history else t.name
                for t in self._flat_outputs]

    # ----- data hooks of the training loop -----
    def _data_input_names(self):
        return self.input_names

    def _data_output_names(self):
        return self.output_names

    def _data_input_dtypes(self):
        return [t.dtype for t in self._flat_inputs]

    def _check_data_shapes(self, flat_x):
        for i, (spec, x) in enumerate(zip(self._flat_inputs, flat_x)):
            _check_shape(self, i, spec, x.shape)

    # ----- running -----
    def call(self, inputs, training=None, mask=None):
        flat = self._flatten_inputs(inputs)
        values = {id(t): v for t, v in zip(self._flat_inputs, flat)}
        for args_node, operation, node in self._plan:
            args, kwargs = args_node.arguments(values)
            out = operation(*args, **kwargs)
            outs = node.output_tensors
            if len(outs) == 1:
                values[id(outs[0])] = out
            else:
                for t, v in zip(outs, tree.flatten(out)):
                    values[id(t)] = v
        return tree.pack_sequence_as(self._outputs_struct,
                                     [values[id(t)] for t in self._flat_outputs])

    def _flatten_inputs(self, inputs):
        """The model's inputs, in order, from an array, a list or a dict by input name;
        each cast to its Input's dtype and checked against its shape."""
        names = self.input_names
        if isinstance(inputs, dict):
            unknown, missing = unknown_and_missing(inputs, names)
            if unknown:
                raise ValueError(f"Model '{self.name}' received input(s) named {unknown}, "
                                 f"which it does not have; its inputs are {names}.")
            if missing:
                raise ValueError(f"Model '{self.name}' is missing input(s) {missing}; its "
                                 f"inputs are {names}.")
            flat = [inputs[n] for n in names]
        elif isinstance(inputs, (list, tuple)) and len(self._flat_inputs) > 1:
            flat = list(inputs)
        elif isinstance(inputs, (list, tuple)) and len(inputs) == 1 \
                and not np.isscalar(inputs[0]) and hasattr(inputs[0], "shape"):
            flat = list(inputs)
        else:
            flat = [inputs]
        if len(flat) != len(self._flat_inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self._flat_inputs)} input(s) "
                             f"{names}, but received {len(flat)}.")
        return [_conform(self, i, spec, v) for i, (spec, v) in
                enumerate(zip(self._flat_inputs, flat))]

    def compute_output_spec(self, *args, **kwargs):
        inputs = args[0]
        flat = tree.flatten(inputs) if not isinstance(inputs, dict) else [
            inputs[n] for n in self.input_names]
        batch = flat[0].shape[0] if flat and isinstance(flat[0], KerasTensor) else None
        outs = [KerasTensor((batch,) + t.shape[1:], t.dtype) for t in self._flat_outputs]
        return tree.pack_sequence_as(self._outputs_struct, outs)

    def compute_output_shape(self, input_shape):
        shapes = [t.shape for t in self._flat_outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def get_config(self):
        from ..saving.functional_config import functional_config
        return functional_config(self)

    def get_build_config(self):
        return {"input_shape": None}  # as Keras writes it: the graph builds the model


def _check_tensors(what, structure):
    for v in tree.flatten(structure):
        if not isinstance(v, KerasTensor):
            raise ValueError(f"All `{what}` values must be KerasTensors. Received: "
                             f"{what}={structure!r} including invalid value {v!r} of type "
                             f"{type(v).__name__}.")


def _nodes_between(flat_inputs, flat_outputs, outputs_struct):
    """The call nodes that lead from the inputs to the outputs, in an order where
    every node comes after those it depends on; a clear error when an output
    cannot be computed from the inputs."""
    input_ids = {id(t) for t in flat_inputs}
    order, done = [], set()
    paths = _output_paths(outputs_struct)

    def visit(tensor, path):
        if id(tensor) in input_ids:
            return
        node = tensor.node
        if node is None or node.is_input:
            raise ValueError(
                f"Output with path `{path}` is not connected to `inputs`: it depends on "
                f"{_describe(tensor)}, which is not among the model's inputs "
                f"{[_describe(t) for t in flat_inputs]}.")
        if id(node) in done:
            return
        for t in node.input_tensors:
            visit(t, path)
        done.add(id(node))
        order.append(node)

    for tensor, path in zip(flat_outputs, paths):
        visit(tensor, path)
    return order


def _output_paths(structure, prefix=()):
    if isinstance(structure, dict):
        return [p for k in sorted(structure)
                for p in _output_paths(structure[k], prefix + (str(k),))]
    if isinstance(structure, (list, tuple)):
        return [p for i, v in enumerate(structure) for p in _output_paths(v, prefix + (str(i),))]
    return [".".join(prefix)]


def _describe(t):
    if t._keras_history is not None:
        return f"'{t._keras_history[0].name}' output {t._keras_history[2]} (shape {t.shape})"
    return f"a tensor of shape {t.shape}"


def _input_layer_of(tensor):
    """The InputLayer of a model input; an intermediate tensor gets a stand-in, as
    Keras clones one for it (``<tensor name>CLONE``)."""
    history = tensor._keras_history
    if history is not None and isinstance(history[0], InputLayer):
        return history[0]
    stand_in = InputLayer(batch_shape=tensor.shape, dtype=tensor.dtype,
                          name=naming.unique_name(f"{tensor.name}CLONE"))
    stand_in._stands_for = tensor
    return stand_in


def _ordered_layers(input_layers, nodes):
    """Keras's ``model.layers``: the input layers, then each layer in node order."""
    out, seen = [], set()
    for layer in input_layers + [n.operation for n in nodes]:
        if isinstance(layer, Layer) and id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out


def _conform(model, index, spec, value):
    """An input value as its Input declares it: dtype cast, shape checked."""
    if isinstance(value, (Tensor, Variable)):
        return value
    if isinstance(value, KerasTensor):
        raise TypeError("symbolic input in a concrete call")
    a = np.asarray(value)
    if a.dtype.name != spec.dtype:
        a = a.astype(spec.dtype)
    _check_shape(model, index, spec, a.shape)
    return a


def _check_shape(model, index, spec, shape):
    if len(shape) != len(spec.shape) or any(
            e is not None and e != d for e, d in zip(spec.shape[1:], shape[1:])):
        raise ValueError(
            f"Input {index} of model '{model.name}' is incompatible with the model: expected "
            f"shape={spec.shape}, found shape={tuple(shape)}.")


_SUBCLASSES = {}


def functional_subclass(cls):
    """``cls`` with Functional mixed in (a Model subclass built from inputs, outputs)."""
    if cls not in _SUBCLASSES:
        _SUBCLASSES[cls] = type(cls.__name__, (cls, Functional), {"__module__": cls.__module__})
    return _SUBCLASSES[cls]


def functional_from_config(cls, config, custom_objects=None):
    from ..saving.functional_config import functional_from_config as build
    return build(cls, config, custom_objects)

"""Node: one call event of an operation (a layer or an op) in the functional graph.

A node keeps the call's arguments as given (KerasTensors among them) and its
output tensors. One layer called three times has three nodes, so shared layers
and layers with several outputs are ordinary. The model's executor replays a
node by substituting concrete values for the KerasTensors in its arguments.
"""
from .. import tree
from .keras_tensor import KerasTensor


class Node:
    def __init__(self, operation, call_args, call_kwargs, outputs):
        self.operation = operation
        self.call_args = tuple(call_args)
        self.call_kwargs = dict(call_kwargs)
        self.outputs = outputs
        self.input_tensors = [t for t in tree.flatten((self.call_args, self.call_kwargs))
                              if isinstance(t, KerasTensor)]
        self.output_tensors = [t for t in tree.flatten(outputs) if isinstance(t, KerasTensor)]
        index = len(operation._inbound_nodes)
        operation._inbound_nodes.append(self)
        for i, t in enumerate(self.output_tensors):
            t._keras_history = (operation, index, i)
        # the common call f(x): one positional KerasTensor, nothing else
        self._single = (len(self.call_args) == 1 and not self.call_kwargs
                        and isinstance(self.call_args[0], KerasTensor))

    @property
    def is_input(self):
        return not self.input_tensors

    def arguments(self, values):
        """(args, kwargs) with each KerasTensor replaced by ``values[id(tensor)]``."""
        if self._single:
            return (values[id(self.call_args[0])],), {}

        def sub(v):
            return values[id(v)] if isinstance(v, KerasTensor) else v
        return (tree.map_structure(sub, self.call_args),
                tree.map_structure(sub, self.call_kwargs))

    def parent_nodes(self):
        return [t.node for t in self.input_tensors if t.node is not None]

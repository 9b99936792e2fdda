"""The one graph executor: layers in topological order forward, reverse backward.

Sequential builds the same graph as the functional API. Gradients are summed
where a tensor fans out to several consumers. A layer may appear only once in
a graph for now (its forward state is per layer, not per call).
"""
from ..layers.input_layer import InputLayer


class Graph:
    def __init__(self, inputs, outputs):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.order = _topological(self.outputs)
        seen = set()
        for tensor in self.order:
            layer = tensor.producer
            if id(layer) in seen:
                raise NotImplementedError(
                    f"Layer '{layer.name}' is used more than once in the model; shared "
                    f"layers are not supported yet.")
            seen.add(id(layer))
        input_ids = {id(t) for t in self.inputs}
        for tensor in self.order:
            if not isinstance(tensor.producer, InputLayer):
                tensor.producer.needs_input_grad = not all(
                    id(t) in input_ids for t in tensor.inbound)
        self.layers = [t.producer for t in self.order if not isinstance(t.producer, InputLayer)]

    def forward(self, input_arrays, training):
        values = {id(t): a for t, a in zip(self.inputs, input_arrays)}
        for tensor in self.order:
            if id(tensor) in values:
                continue
            args = [values[id(t)] for t in tensor.inbound]
            values[id(tensor)] = tensor.producer.call(args[0] if len(args) == 1 else args,
                                                      training=training)
        return [values[id(t)] for t in self.outputs]

    def backward(self, output_grads):
        grads = {id(t): g for t, g in zip(self.outputs, output_grads)}
        for tensor in reversed(self.order):
            g = grads.pop(id(tensor), None)
            if g is None or isinstance(tensor.producer, InputLayer):
                continue
            result = tensor.producer.backward(g)
            if not tensor.producer.needs_input_grad:
                continue
            in_grads = result if len(tensor.inbound) > 1 else [result]
            for t, ig in zip(tensor.inbound, in_grads):
                if isinstance(t.producer, InputLayer):
                    continue
                if id(t) in grads:
                    grads[id(t)] = grads[id(t)] + ig
                else:
                    grads[id(t)] = ig


def _topological(outputs):
    order, visited = [], set()

    def visit(tensor):
        if id(tensor) in visited:
            return
        visited.add(id(tensor))
        for t in tensor.inbound:
            visit(t)
        order.append(tensor)

    for out in outputs:
        visit(out)
    return order

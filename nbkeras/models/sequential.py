"""Sequential: a linear stack of layers, run by the same graph executor as Model."""
from ..layers.input_layer import InputLayer, KerasTensor
from ..layers.layer import Layer
from .graph import Graph
from .model import Model


class Sequential(Model):
    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(name=name, trainable=trainable)
        self._stack = []
        self._input = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append a layer (or start with ``keras.Input(shape)``)."""
        if isinstance(layer, KerasTensor):
            if self._stack or self._input is not None:
                raise ValueError("A keras.Input can only be the first element of a Sequential.")
            self._input = layer
            return
        if isinstance(layer, InputLayer):
            self._input = layer.output
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential '{self.name}' can only hold layers; received "
                             f"{layer!r} of type {type(layer).__name__}.")
        if self._input is None and not self._stack and layer._declared_input_shape is not None:
            self._input = InputLayer(shape=layer._declared_input_shape).output
        self._stack.append(layer)
        self._graph = None
        if self._input is not None:
            self._build_graph()

    def pop(self):
        layer = self._stack.pop()
        self._graph = None
        if self._input is not None and self._stack:
            self._build_graph()
        return layer

    def _build_graph(self):
        t = self._input
        for layer in self._stack:
            t = layer(t)
        self._set_graph(Graph([self._input], [t]))

    def build(self, input_shape=None):
        if self._graph is None:
            if input_shape is None:
                raise ValueError(f"Sequential '{self.name}': build() needs an input shape.")
            self._input = InputLayer(shape=tuple(input_shape)[1:]).output
            self._build_graph()

    def _ensure_graph(self, x):
        if self._graph is None:
            if not self._stack:
                raise ValueError(f"Sequential '{self.name}' has no layers.")
            self._input = InputLayer(shape=x.shape[1:]).output
            self._build_graph()

    @property
    def layers(self):
        return list(self._stack)

    @property
    def input_shape(self):
        return self._input.shape

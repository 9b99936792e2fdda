"""Sequential: a linear stack of layers, each called on the previous one's output."""
from ..engine.keras_tensor import KerasTensor
from ..layers.input_layer import InputLayer
from ..layers.layer import Layer
from ..utils import naming
from .model import Model


class Sequential(Model):
    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(name=name or naming.unique_name("sequential"), trainable=trainable)
        d = self.__dict__
        d["_stack"] = []
        d["_input_tensor"] = None
        d["_output_tensor"] = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer, rebuild=True):
        """Append a layer (or start with ``keras.Input(shape)``)."""
        if isinstance(layer, KerasTensor):
            if self._stack or self._input_tensor is not None:
                raise ValueError("A keras.Input can only be the first element of a Sequential.")
            self._start(layer)
            return
        if isinstance(layer, InputLayer):
            if self._stack or self._input_tensor is not None:
                raise ValueError("An InputLayer can only be the first element of a Sequential.")
            self._start(layer.output)
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential '{self.name}' can only hold layers; received "
                             f"{layer!r} of type {type(layer).__name__}.")
        if self._input_tensor is None and not self._stack \
                and layer._declared_input_shape is not None:
            self._start(InputLayer(shape=layer._declared_input_shape).output)
        self._stack.append(layer)
        if self._output_tensor is not None:
            self.__dict__["_output_tensor"] = layer(self._output_tensor)

    def _start(self, tensor):
        self.__dict__["_input_tensor"] = tensor
        self.__dict__["_output_tensor"] = tensor
        self.__dict__["built"] = True

    def pop(self):
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        if self._input_tensor is not None:
            out = self._input_tensor
            for l in self._stack:
                out = l(out)
            self.__dict__["_output_tensor"] = out
        return layer

    def build(self, input_shape=None):
        if self._input_tensor is None:
            if input_shape is None:
                raise ValueError(f"Sequential '{self.name}': build() needs an input shape.")
            if not self._stack:
                raise ValueError(f"Sequential '{self.name}' has no layers.")
            self._start(InputLayer(batch_shape=(None,) + tuple(input_shape)[1:]).output)
            out = self._input_tensor
            for layer in self._stack:
                out = layer(out)
            self.__dict__["_output_tensor"] = out
        self.__dict__["built"] = True

    def call(self, inputs, training=None, mask=None):
        x = inputs
        for layer in self._stack:
            x = layer(x)
        return x

    def _sublayers(self):
        return self._stack

    def _data_input_names(self):
        return None if self._input_tensor is None else [self._input_tensor._keras_history[0].name]

    def _data_output_names(self):
        return None if not self._stack else [self._stack[-1].name]

    def _data_input_dtypes(self):
        return None if self._input_tensor is None else [self._input_tensor.dtype]

    def _check_data_shapes(self, flat_x):
        if self._input_tensor is not None and len(flat_x) == 1:
            from .functional import _check_shape
            _check_shape(self, 0, self._input_tensor, flat_x[0].shape)

    @property
    def inputs(self):
        return [] if self._input_tensor is None else [self._input_tensor]

    @property
    def outputs(self):
        return [] if self._output_tensor is None else [self._output_tensor]

    @property
    def input(self):
        return self._input_tensor

    @property
    def output(self):
        return self._output_tensor

    @property
    def input_shape(self):
        if self._input_tensor is None:
            raise AttributeError(f"Sequential '{self.name}' has no defined input shape yet.")
        return self._input_tensor.shape

    @property
    def output_shape(self):
        if self._output_tensor is None:
            raise AttributeError(f"Sequential '{self.name}' has no defined output shape yet.")
        return self._output_tensor.shape

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._stack:
            shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self):
        from ..saving.serialization import serialize_layer
        layers = []
        if self._input_tensor is not None:
            layers.append(serialize_layer(self._input_tensor._keras_history[0]))
        layers += [serialize_layer(l) for l in self._stack]
        return {"name": self.name, "trainable": self.trainable, "dtype": None,
                "layers": layers}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving.serialization import deserialize_layer
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer_config in config["layers"]:
            model.add(deserialize_layer(layer_config, custom_objects))
        return model

"""Sequential: a linear stack of layers, each called on the previous one's output."""
from ..engine.keras_tensor import KerasTensor
from ..layers import conv_pool
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
        for step in self._call_plan():
            x = step(x)
        return x

    def _call_plan(self):
        """The stack as calls, a Conv2D and the MaxPooling2D after it as one fused
        op (``layers/conv_pool.py``); made again when the stack changes."""
        key = tuple(id(layer) for layer in self._stack)
        plan = self.__dict__.get("_plan")
        if plan is None or plan[0] != key:
            plan = (key, conv_pool.plan_calls(self._stack))
            self.__dict__["_plan"] = plan
        return plan[1]

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

    # ----- config (Keras's layout: the InputLayer first when there is one) -----
    def get_config(self):
        from ..saving.serialization import dtype_policy, serialize_layer
        layers = [] if self._input_tensor is None else [self._input_tensor._keras_history[0]]
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": dtype_policy(self._dtype),
                  "layers": [serialize_layer(l) for l in layers + self._stack]}
        if self._input_tensor is not None:
            config["build_input_shape"] = self._input_tensor.shape
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving.registry import custom_object_scope
        from ..saving.serialization import deserialize_layer
        if "name" not in config or "layers" not in config:
            raise ValueError(f"A Sequential model configuration must be a dictionary "
                             f"containing the 'name' and 'layers' keys. Received: "
                             f"config={config}")
        model = cls(name=config["name"])
        with custom_object_scope(custom_objects):
            for layer_config in config["layers"]:
                model.add(deserialize_layer(layer_config))
        shape = config.get("build_input_shape")
        if model._input_tensor is None and isinstance(shape, (list, tuple)) and shape:
            model.build(shape)
        if config.get("trainable") is False:
            model.trainable = False
        return model

    def get_build_config(self):
        return None if self._input_tensor is None else {"input_shape": self._input_tensor.shape}

    def build_from_config(self, config):
        if config and config.get("input_shape") and self._input_tensor is None:
            self.build(config["input_shape"])

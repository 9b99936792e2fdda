"""Lambda: a layer made of a function written with ``nbkeras.ops`` (differentiated
by the tape), as Keras's ``layers.Lambda``."""
import inspect

from .layer import Layer, _shape_structure


class Lambda(Layer):
    _keras_call_kwargs = {"mask": None}

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda '{self.name}': `function` must be callable, received "
                            f"{function!r}.")
        if mask is not None:
            raise NotImplementedError(f"Lambda '{self.name}': `mask` is not supported yet.")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape
        self._takes_training = "training" in inspect.signature(function).parameters

    def call(self, inputs, training=None):
        kwargs = dict(self.arguments)
        if self._takes_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return Layer.compute_output_shape(self, input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        shape = _shape_structure(self._output_shape)
        return (batch,) + tuple(shape) if not isinstance(shape, list) else shape

    def compute_output_spec(self, *args, **kwargs):
        if self._output_shape is None:  # run the function on stand-in arrays
            from ..engine import probe
            return probe.output_spec(self.__call__, args, kwargs)
        return Layer.compute_output_spec(self, *args, **kwargs)

    def get_config(self):
        """Keras's layout; the function by its (registered) name: a Python lambda
        cannot be written (a clear ValueError)."""
        from ..saving.serialization import serialize_keras_object as serialize
        config = {**super().get_config(), "function": serialize(self.function)}
        if self._output_shape is not None:
            config["output_shape"] = serialize(self._output_shape)
        config["arguments"] = serialize(self.arguments)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving.serialization import deserialize_keras_object as deserialize
        config = dict(config)
        for key in ("function", "output_shape", "arguments"):
            if key in config:
                config[key] = deserialize(config[key], custom_objects)
        shape = config.get("output_shape")
        if isinstance(shape, list) and all(d is None or isinstance(d, int) for d in shape):
            config["output_shape"] = tuple(shape)
        return cls(**config)

"""Model: a layer with Keras's training API.

``keras.Model(inputs, outputs)`` gives a :class:`~nbkeras.models.functional.Functional`
(a graph of call nodes); a subclass of ``Model`` writes ``call`` in Python and
its layers are tracked as attributes; :class:`~nbkeras.models.sequential.Sequential`
is a stack. All three run forward and backward on the one tape executor; the
training loop itself lives in :mod:`nbkeras.trainers.trainer`.
"""
from ..layers.layer import Layer
from ..trainers.trainer import Trainer
from ..utils import naming


class Model(Trainer, Layer):
    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional
            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        inputs = kwargs.pop("inputs", args[0] if args else None)
        outputs = kwargs.pop("outputs", args[1] if len(args) > 1 else None)
        if inputs is not None or outputs is not None:
            from .functional import Functional, functional_subclass
            if not isinstance(self, Functional):
                # a subclass of Model that builds itself from inputs and outputs
                # becomes functional too, as in Keras
                object.__setattr__(self, "__class__", functional_subclass(type(self)))
            Functional._init_graph_on(self, inputs, outputs, **kwargs)
            return
        trainable = kwargs.pop("trainable", True)
        name = kwargs.pop("name", None)
        Layer.__init__(self, trainable=trainable, name=name, **kwargs)
        Trainer.__init__(self)

    # ----- structure -----
    @property
    def layers(self):
        return [l for l in self._sublayers()]

    def get_layer(self, name=None, index=None):
        if index is not None:
            layers = self.layers
            if index >= len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"only has {len(layers)} layers.")
            return layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[l.name for l in self.layers]}.")

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        from .summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    def call(self, *args, **kwargs):
        raise NotImplementedError(
            f"Model '{self.name}' ({type(self).__name__}) has no `call`: a subclass of "
            f"keras.Model must define `call(self, inputs)`, or build the model from "
            f"inputs and outputs: keras.Model(inputs, outputs).")

    def _build_from(self, args):
        if type(self).build is Model.build:  # calling the model builds its layers
            self.__dict__["built"] = True
            return
        Layer._build_from(self, args)

    def build(self, input_shape=None):
        """A subclassed model builds by running ``call`` once on stand-in data."""
        if input_shape is not None and type(self).call is not Model.call:
            from ..engine.keras_tensor import KerasTensor
            from ..layers.layer import _shape_structure, map_shapes
            spec = map_shapes(KerasTensor, _shape_structure(input_shape))
            self.compute_output_spec(spec)
        self.__dict__["built"] = True

    def get_config(self):
        """A subclassed model's config: Layer's (name, trainable, dtype)."""
        return Layer.get_config(self)

    def get_compile_config(self):
        """``{}`` for a model not compiled, as Keras writes it; a compiled model's
        compile arguments are not written yet (None: no ``compile_config``)."""
        return None if self.compiled else {}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .functional import functional_from_config
        if "layers" in config and "input_layers" in config:
            return functional_from_config(cls, config, custom_objects)
        config = dict(config)
        return cls(**config)


def default_name(cls):
    return naming.unique_name(naming.to_snake_case(cls.__name__))

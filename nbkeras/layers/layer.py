"""Layer: the base class every nbkeras layer extends (Keras's contract, plus backward).

A layer is built lazily from its first input shape (``build``), runs ``call``
forward (keeping what its backward needs) and ``backward(grad_output)``, which
returns the input gradient and writes its parameter gradients into each
variable's ``grad``. Calling a layer on a symbolic :class:`KerasTensor` records
a node of the functional graph instead of computing.
"""
import numpy as np

from .. import backend
from .. import initializers as initializers_module
from ..utils import naming
from ..variables import Variable


class Layer:
    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None,
                 batch_input_shape=None, input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unrecognized keyword argument(s) "
                f"{sorted(kwargs)}.")
        self.name = name or naming.unique_name(naming.to_snake_case(type(self).__name__))
        self.trainable = trainable
        self.built = False
        self._variables = []
        self._workspace = {}
        self.needs_input_grad = True
        self.fused_output_grad = False
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape[1:])
        self._declared_input_shape = tuple(input_shape) if input_shape is not None else None
        self._inbound_nodes = []
        self.output_shape = None

    def _reject_unsupported(self, **options):
        """Raise for Keras options this layer accepts in its signature but does not
        implement yet (each must be None), naming the layer and the option."""
        for arg, value in options.items():
            if value is not None:
                raise NotImplementedError(
                    f"{type(self).__name__} '{self.name}': `{arg}` is not supported yet.")

    # ----- weights -----
    def add_weight(self, shape, initializer="glorot_uniform", name=None, trainable=True):
        init = initializers_module.get(initializer)
        value = np.asarray(init(tuple(shape), dtype="float32"), dtype=np.float32)
        var = Variable(value, name=name, trainable=trainable, path=f"{self.name}/{name}")
        self._variables.append(var)
        return var

    @property
    def weights(self):
        return list(self._variables)

    @property
    def trainable_weights(self):
        return [v for v in self._variables if v.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._variables)
        return [v for v in self._variables if not v.trainable]

    def get_weights(self):
        return [v.numpy() for v in self._variables]

    def set_weights(self, weights):
        if len(weights) != len(self._variables):
            raise ValueError(
                f"Layer '{self.name}' expects {len(self._variables)} weight arrays, "
                f"received {len(weights)}.")
        for var, w in zip(self._variables, weights):
            var.assign(w)

    def count_params(self):
        return int(sum(v.size for v in self._variables))

    # ----- shapes -----
    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def _ensure_built(self, input_shape):
        if not self.built:
            self.build(tuple(input_shape))
            self.built = True

    def workspace(self, key, shape, dtype=np.float32):
        """A buffer named ``key`` of ``shape``, allocated once and reused every step.

        Buffers are kept per shape, so an epoch's smaller last batch (or a
        validation batch) does not force the full-size ones to be reallocated.
        """
        slot = (key, tuple(shape), np.dtype(dtype).str)
        buf = self._workspace.get(slot)
        if buf is None:
            if len(self._workspace) > 64:  # many batch shapes seen: start over
                self._workspace.clear()
            buf = backend.empty(shape, dtype)
            self._workspace[slot] = buf
        return buf

    # ----- compute -----
    def call(self, inputs, training=False):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError(f"Layer '{self.name}' has no backward pass.")

    def __call__(self, inputs, training=False, **kwargs):
        from .input_layer import KerasTensor
        if isinstance(inputs, KerasTensor) or (
                isinstance(inputs, (list, tuple)) and inputs
                and all(isinstance(t, KerasTensor) for t in inputs)):
            return self._call_symbolic(inputs)
        x = backend.to_device(inputs)
        self._ensure_built(x.shape)
        return np.array(self.call(x, training=training), copy=True)

    def _call_symbolic(self, inputs):
        from .input_layer import KerasTensor
        shapes = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
        self._ensure_built(shapes)
        out_shape = tuple(self.compute_output_shape(shapes))
        out = KerasTensor(out_shape, producer=self,
                          inbound=list(inputs) if isinstance(inputs, (list, tuple)) else [inputs])
        self._inbound_nodes.append(out)
        self.output_shape = out_shape
        return out

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self._declared_input_shape is not None:
            config["batch_input_shape"] = (None,) + self._declared_input_shape
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

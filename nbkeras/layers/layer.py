"""Layer: the base class of every nbkeras layer (Keras 3's contract).

A layer holds its configuration and its weights, nothing else between calls.
Calling it:

- on symbolic KerasTensors records a :class:`~nbkeras.engine.node.Node` of the
  functional graph (output shapes from ``compute_output_shape``, or found by
  running ``call`` on stand-in arrays when the layer has none);
- on arrays or tensors computes. A *built-in* layer is one fused op: it
  implements ``forward(ctx, inputs, training)`` and ``backward(ctx, grad)``,
  keeping what its backward needs on the per-call context ``ctx``. A *custom*
  layer implements ``call`` with ``nbkeras.ops`` and other layers, and its
  gradient comes from the tape with no backward to write.

Sublayers, variables and metrics assigned as attributes are tracked, in
assignment order, as Keras tracks them (``model.weights`` lists them).
"""
import functools
import inspect

import numpy as np

from .. import backend, tree
from .. import initializers as initializers_module
from ..engine import call_context, probe
from ..engine import tape as tape_module
from ..engine.keras_tensor import KerasTensor, is_symbolic, standardize_dtype
from ..engine.node import Node
from ..engine.tensor import Tensor
from ..utils import naming
from ..variables import Variable

_losses_used = [False]  # becomes True at the first add_loss: only then are losses cleared
_metrics_tracked = [False]  # becomes True when a layer tracks a metric attribute
_CONCRETE = (np.ndarray, Tensor)


class Layer:
    def __init__(self, trainable=True, name=None, dtype=None, autocast=True, input_shape=None,
                 batch_input_shape=None, input_dim=None, batch_size=None, **kwargs):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unrecognized keyword argument(s) "
                f"{sorted(kwargs)}.")
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError(f"{type(self).__name__}: `name` must be a string without '/', "
                             f"received {name!r}.")
        d = self.__dict__
        d["_layers"] = []
        d["_trainable_variables"] = []
        d["_non_trainable_variables"] = []
        d["_tracked_metrics"] = []
        d["_inbound_nodes"] = []
        d["_losses"] = []
        d["_trainable"] = bool(trainable)
        d["name"] = name or naming.unique_name(naming.to_snake_case(type(self).__name__))
        d["built"] = False
        d["_build_shapes"] = None
        d["_dtype"] = _dtype_name(dtype)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape[1:])
        d["_declared_input_shape"] = tuple(input_shape) if input_shape is not None else None

    def _reject_unsupported(self, **options):
        """Raise for Keras options this layer accepts in its signature but does not
        implement yet (each must be None), naming the layer and the option."""
        for arg, value in options.items():
            if value is not None:
                raise NotImplementedError(
                    f"{type(self).__name__} '{self.name}': `{arg}` is not supported yet.")

    def _keep_unsupported(self, **options):
        """As ``_reject_unsupported``, and keep each option (None) as an attribute, so
        that ``get_config`` writes it as Keras does."""
        self._reject_unsupported(**options)
        for option, value in options.items():
            setattr(self, option, value)

    # ----- attribute tracking -----
    def __setattr__(self, name, value):
        if "_layers" in self.__dict__:
            self._track(value)
        object.__setattr__(self, name, value)

    def _track(self, value):
        from ..metrics import Metric
        if isinstance(value, Layer):
            if value is not self and not any(value is l for l in self._layers):
                self._layers.append(value)
        elif isinstance(value, Variable):
            self._track_variable(value)
        elif isinstance(value, Metric):
            if not any(value is m for m in self._tracked_metrics):
                self._tracked_metrics.append(value)
                _metrics_tracked[0] = True
        elif isinstance(value, (list, tuple)):
            for v in value:
                self._track(v)
        elif isinstance(value, dict):
            for v in value.values():
                self._track(v)

    def _track_variable(self, variable):
        if any(variable is v for v in self._trainable_variables + self._non_trainable_variables):
            return
        if variable.trainable:
            self._trainable_variables.append(variable)
        else:
            self._non_trainable_variables.append(variable)
        if not self._trainable:
            variable.trainable = False

    # ----- weights -----
    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable=True,
                   autocast=True, regularizer=None, constraint=None, aggregation="none",
                   overwrite_with_gradient=False, name=None):
        if args:
            if len(args) > 3:
                raise TypeError(f"add_weight() takes at most 3 positional arguments but "
                                f"{len(args)} were given.")
            if isinstance(args[0], str):
                raise ValueError(f"`name` must be a keyword argument. Received: "
                                 f"add_weight({args[0]!r}, ...). Use: add_weight(shape=..., "
                                 f"name={args[0]!r}).")
            shape = args[0]
            if len(args) > 1:
                initializer = args[1]
            if len(args) > 2:
                dtype = args[2]
        self._reject_unsupported(regularizer=regularizer, constraint=constraint)
        shape = () if shape is None else tuple(int(d) for d in shape)
        dtype = standardize_dtype(dtype) if dtype is not None else self._dtype
        if initializer is None:
            initializer = "glorot_uniform" if "float" in dtype else "zeros"
        init = initializers_module.get(initializer)
        variable = Variable(init(shape, dtype=dtype), shape=shape, dtype=dtype,
                            trainable=trainable, name=name)
        variable.path = f"{self.name}/{variable.name}"
        self._track_variable(variable)
        return variable

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        self.__dict__["_trainable"] = value
        for v in self._trainable_variables:
            v.trainable = value
        for layer in self._layers:
            layer.trainable = value

    @property
    def weights(self):
        weights, seen = [], set()
        for w in self._trainable_variables + self._non_trainable_variables:
            if id(w) not in seen:
                weights.append(w)
                seen.add(id(w))
        for layer in self._sublayers():
            for w in layer.weights:
                if id(w) not in seen:
                    weights.append(w)
                    seen.add(id(w))
        return weights

    variables = weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [v for v in self.weights if v.trainable]

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [v for v in self.weights if not v.trainable]

    non_trainable_variables = non_trainable_weights

    def _sublayers(self):
        """The layers this one holds directly (a functional model: its graph's)."""
        return self._layers

    def _flatten_layers(self):
        """This layer and every layer under it, each once."""
        out, seen, stack = [], set(), [self]
        while stack:
            layer = stack.pop(0)
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(layer._sublayers())
        return out

    def get_weights(self):
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(
                f"Layer '{self.name}' expects {len(own)} weight arrays, "
                f"received {len(weights)}.")
        for var, w in zip(own, weights):
            var.assign(w)

    def count_params(self):
        return int(sum(v.size for v in self.weights))

    # ----- losses -----
    def add_loss(self, loss):
        """Add a loss term (a scalar computed with ops in ``call``) to the model's loss."""
        if probe.probing():
            return
        _losses_used[0] = True
        self._losses.append(loss)

    @property
    def losses(self):
        """The losses added during the last call, this layer's and its sublayers'."""
        out = []
        for layer in self._flatten_layers():
            out.extend(layer._losses)
        return out

    def _clear_losses(self):
        for layer in self._flatten_layers():
            layer._losses.clear()

    # ----- shapes -----
    def build(self, input_shape):
        self.built = True

    def _build_from(self, args):
        shapes = [tree.map_structure(_shape_of, a) for a in args]
        params = _build_parameters(type(self).build)
        if len(params) >= 2 and len(shapes) >= 2:
            self.build(*shapes[:len(params)])
        else:
            self.build(shapes[0] if shapes else None)
        self.__dict__["built"] = True
        self.__dict__["_build_shapes"] = shapes[0] if shapes else None

    def compute_output_shape(self, input_shape):
        """Found by running ``call`` on stand-in arrays (a layer may override it)."""
        def spec(shape):
            return KerasTensor(shape, self._dtype)
        stand_in = map_shapes(spec, _shape_structure(input_shape))
        out = probe.output_spec(self.__call__, (stand_in,), {})
        return tree.map_structure(lambda t: t.shape, out)

    def compute_output_spec(self, *args, **kwargs):
        if type(self).compute_output_shape is Layer.compute_output_shape:
            return probe.output_spec(self.__call__, args, kwargs)
        shapes = tree.map_structure(_shape_of, args[0])
        out = self.compute_output_shape(shapes)
        return map_shapes(lambda s: KerasTensor(s, self._output_dtype()),
                          _shape_structure(out))

    def _output_dtype(self):
        return self._dtype

    @property
    def dtype(self):
        return self._dtype

    @property
    def compute_dtype(self):
        return self._dtype

    @property
    def input(self):
        return self._node_attribute("input")

    @property
    def output(self):
        return self._node_attribute("output")

    @property
    def output_shape(self):
        out = self.output if self._inbound_nodes else None
        return None if out is None else tree.map_structure(lambda t: t.shape, out)

    def _node_attribute(self, what):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no "
                                 f"defined {what}.")
        node = self._inbound_nodes[0]
        if what == "output":
            return node.outputs
        return node.call_args[0] if node.call_args else node.input_tensors

    def get_build_config(self):
        """``{"input_shape": ...}``, the shape(s) of the first call (None before, and
        for the layers Keras builds in their constructor)."""
        if self._build_shapes is None or self._built_at_init:
            return None
        return {"input_shape": self._build_shapes}

    def build_from_config(self, config):
        """Create the weights from :meth:`get_build_config`'s output."""
        if config and config.get("input_shape") is not None:
            shape = _shape_structure(config["input_shape"])
            self.build(shape)
            self.__dict__["built"] = True
            self.__dict__["_build_shapes"] = shape

    # ----- calling -----
    def call(self, inputs, training=False):
        """A built-in layer's call is its fused op (``forward``/``backward``)."""
        return self._fused_call(inputs, training)

    def forward(self, ctx, inputs, training):
        raise NotImplementedError(f"Layer '{self.name}' ({type(self).__name__}) implements "
                                  f"neither `call` nor `forward`.")

    def backward(self, ctx, grad_output):
        raise NotImplementedError(f"Layer '{self.name}' has no backward pass.")

    def __call__(self, *args, **kwargs):
        if not args and "inputs" in kwargs:
            args = (kwargs.pop("inputs"),)
        if not args:
            raise TypeError(f"Layer '{self.name}' was called without inputs.")
        plain = len(args) == 1 and type(args[0]) in _CONCRETE
        if not plain and (is_symbolic(args) or (kwargs and is_symbolic(kwargs))):
            return self._symbolic_call(args, kwargs)
        training = kwargs.pop("training", None)
        saved = call_context.enter(training)
        scope = None
        if tape_module.current() is None:
            scope = tape_module.Tape(record=False)
            scope.__enter__()
        try:
            top = saved[0] == 0
            if top and _losses_used[0]:
                self._clear_losses()
            if not self.built:
                self._build_from(args)
            training = bool(call_context.training())
            if type(self).call is Layer.call and len(args) == 1 and not kwargs:
                out = self._fused_call(args[0], training)
            else:
                out = self._python_call(args, kwargs, training)
            if top:
                out = _own_copy(out)
        finally:
            call_context.leave(saved)
            if scope is not None:
                scope.__exit__(None, None, None)
        return out

    def _python_call(self, args, kwargs, training):
        accepts = _call_arguments(type(self).call)
        if "training" in accepts or "**" in accepts:
            kwargs["training"] = training
        if "mask" in kwargs and "mask" not in accepts and "**" not in accepts:
            kwargs.pop("mask")
        out = self.call(*args, **kwargs)
        _check_outputs(self, out)
        return out

    def _fused_call(self, inputs, training, op=None):
        """Run ``op`` (by default this layer; else a fused op of several layers that
        starts with this one, see ``conv_pool.py``): its ``forward`` on
        the input arrays, recorded with its ``backward`` when a gradient is needed
        (of an input or of this layer's variables)."""
        op = self if op is None else op
        tape = tape_module.current()
        if tape is None:  # ``layer.call(x)`` straight from user code
            with tape_module.Tape(record=False):
                return _own_copy(self._fused_call(inputs, training, op))
        multi = isinstance(inputs, (list, tuple))
        arrays = [self._input_array(x) for x in inputs] if multi else self._input_array(inputs)
        ctx = tape.lease(op)
        record = False
        if tape.record:
            if multi:
                needs = [tape.requires_grad(x) for x in inputs]
                any_need = any(needs)
            else:
                needs = any_need = tape.requires_grad(inputs)
            ctx.needs_input_grad = needs
            record = any_need or (self._trainable and any(
                v.trainable for v in self._trainable_variables))
        out = op.forward(ctx, arrays, training)
        if record:
            if multi:
                sources = [x if n else None for x, n in zip(inputs, needs)]
            else:
                sources = [inputs if needs else None]
            return tape.add(op, ctx, sources, out)
        return out

    def _input_array(self, x):
        """What ``forward`` receives: a C-contiguous float32 array."""
        if isinstance(x, Tensor):
            x = x.value
        elif isinstance(x, Variable):
            x = x.value
        if isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous:
            return x
        try:
            return backend.to_device(x)
        except (TypeError, ValueError):
            raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) expects a numeric "
                            f"tensor as input, received {type(x).__name__}.") from None

    def _symbolic_call(self, args, kwargs):
        if not self.built:
            self._build_from(args)
        outputs = self.compute_output_spec(*args, **kwargs)
        Node(self, args, kwargs, outputs)
        return outputs

    def _who(self):
        return f"Layer '{self.name}' ({type(self).__name__})"

    # ----- config -----
    #: the constructor arguments ``get_config`` writes after name, trainable and
    #: dtype, in Keras's order; each is read from the attribute of the same name
    _config_keys = ()
    #: True for the weightless layers Keras builds in their constructor: Keras
    #: writes no build_config for them
    _built_at_init = False
    #: the call arguments Keras records in every functional node of this layer
    #: (``{"training": False}`` for Dropout, ``{"mask": None}`` where Keras's call
    #: takes a mask); None: read them off the signature of ``call``
    _keras_call_kwargs = None

    def get_config(self):
        """Keras's layer config: name, trainable, dtype (a DTypePolicy), then the
        arguments in ``_config_keys`` (activations by name, initializers in full)."""
        from ..saving.serialization import dtype_policy
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": dtype_policy(self._dtype)}
        config.update((key, _config_value(getattr(self, key))) for key in self._config_keys)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _config_value(value):
    """A constructor argument as Keras writes it in a config."""
    from ..activations import Activation
    if isinstance(value, Activation):
        return value.name
    if value is None or isinstance(value, (str, int, float, bool, tuple, list, dict)):
        return value
    from ..saving.serialization import serialize_keras_object
    return serialize_keras_object(value)


def _dtype_name(dtype):
    if isinstance(dtype, dict):  # a serialized DTypePolicy
        dtype = dtype.get("config", {}).get("name", "float32")
    if dtype is None:
        return "float32"
    name = getattr(dtype, "name", dtype)
    if name not in ("float32", "float64", "int32", "int64", "uint8", "bool", "float16"):
        name = standardize_dtype(name)
    return "float32" if name.startswith("float") or name == "mixed_float16" else name


def _shape_of(x):
    if isinstance(x, KerasTensor):
        return x.shape
    return tuple(np.shape(x.value if isinstance(x, (Tensor, Variable)) else x))


def _is_shape(s):
    return isinstance(s, (tuple, list)) and all(d is None or isinstance(d, (int, np.integer))
                                                for d in s)


def _shape_structure(s):
    """Shapes in a config (lists) back to tuples; a list of shapes stays a list."""
    if _is_shape(s):
        return tuple(None if d is None else int(d) for d in s)
    if isinstance(s, dict):
        return {k: _shape_structure(v) for k, v in s.items()}
    return [_shape_structure(v) for v in s]


def map_shapes(fn, s):
    """``fn`` applied to every shape in a structure of shapes (a shape is a leaf)."""
    if _is_shape(s):
        return fn(s)
    if isinstance(s, dict):
        return {k: map_shapes(fn, v) for k, v in s.items()}
    return [map_shapes(fn, v) for v in s]


@functools.lru_cache(maxsize=None)
def _call_arguments(call):
    """Names ``call`` accepts beyond the inputs ('**' when it takes **kwargs)."""
    names = set()
    for p in inspect.signature(call).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            names.add("**")
        else:
            names.add(p.name)
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def _build_parameters(build):
    return [p for p in list(inspect.signature(build).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _check_outputs(layer, out):
    for leaf in tree.flatten(out):
        if not isinstance(leaf, (np.ndarray, Tensor, np.generic)):
            raise TypeError(
                f"{layer._who()}: `call` returned {type(leaf).__name__} {leaf!r}, which is "
                f"not a tensor. `call` must return tensors (arrays or the results of "
                f"nbkeras.ops and layers), or lists, tuples or dicts of them.")


def _own_copy(out):
    """Outputs of a top-level call must not alias the call's reusable workspaces."""
    def copy(v):
        if isinstance(v, Tensor):
            v.value = np.array(v.value)
            return v
        if isinstance(v, np.ndarray):
            return np.array(v)
        if isinstance(v, np.generic):
            return np.asarray(v)
        return v
    return tree.map_structure(copy, out)

"""Op: one of ``nbkeras.ops``, a forward on arrays and its vector-Jacobian product.

``Op(name, forward, backward)`` is called with the op's tensor arguments (any
of arrays, Python numbers, Variables, eager Tensors or symbolic KerasTensors)
and its static keyword arguments:

- on KerasTensors it adds a node to the functional graph (output shape found by
  running the forward, :mod:`nbkeras.engine.probe`);
- while a tape records and an input needs a gradient, it computes and appends
  an entry, returning Tensors;
- otherwise it just computes and returns NumPy arrays.

``forward(ctx, *arrays, **static)`` may save what the backward needs on ``ctx``;
``backward(ctx, *output_grads)`` returns one gradient per tensor argument (None
where there is none). Float results are float32, as Keras's floatx.
"""
import numpy as np

from ..engine import probe
from ..engine import tape as tape_module
from ..engine.keras_tensor import KerasTensor, is_symbolic
from ..engine.node import Node
from ..engine.tensor import Tensor
from ..utils import naming
from ..variables import Variable


class OpContext:
    """What one op call saves for its backward (attributes set by the forward)."""


class Op:
    def __init__(self, name, forward, backward=None):
        self.name = name
        self.forward = forward
        self.backward_fn = backward

    def backward(self, ctx, *grads):
        return self.backward_fn(ctx, *grads)

    def __call__(self, *tensors, **static):
        if is_symbolic(tensors):
            return self._symbolic(tensors, static)
        arrays = [to_array(t) for t in tensors]
        tape = tape_module.recording()
        ctx = OpContext()
        if tape is not None and self.backward_fn is not None:
            needs = [tape.requires_grad(t) for t in tensors]
            if any(needs):
                ctx.needs = needs
                out = self._forward(ctx, arrays, static)
                if not _differentiable(out):
                    return out
                return tape.add(self, ctx, [t if n else None for t, n in zip(tensors, needs)],
                                out)
        return self._forward(ctx, arrays, static)

    def _forward(self, ctx, arrays, static):
        try:
            return _float32(self.forward(ctx, *arrays, **static))
        except (ValueError, IndexError) as e:
            shapes = ", ".join(str(np.shape(a)) for a in arrays)
            raise type(e)(f"Op '{self.name}' cannot be applied to inputs of shapes "
                          f"[{shapes}]: {e}") from None

    def _symbolic(self, tensors, static):
        operation = OpCall(self, static)
        outputs = probe.output_spec(operation, tensors, {})
        Node(operation, tensors, {}, outputs)
        return outputs

    def __repr__(self):
        return f"<op {self.name}>"


class OpCall:
    """An op with its static arguments bound: the operation of a graph node."""

    def __init__(self, op, static):
        self.op = op
        self.static = static
        self.name = naming.unique_name(op.name)
        self._inbound_nodes = []

    def __call__(self, *tensors, **kwargs):
        return self.op(*tensors, **self.static)


def to_array(x):
    """The array an op computes on: Tensors and Variables give their value; float64
    data becomes float32 (Keras's floatx); Python numbers stay numbers."""
    if isinstance(x, Tensor):
        return x.value
    if isinstance(x, Variable):
        return x.value
    if isinstance(x, np.ndarray):
        return x.astype(np.float32) if x.dtype == np.float64 else x
    if isinstance(x, (int, float, bool, np.number, np.bool_)) or x is None:
        return x
    if isinstance(x, KerasTensor):
        raise TypeError(f"{x!r} is symbolic here")
    a = np.asarray(x)
    if a.dtype == object:
        raise TypeError(f"Cannot use {type(x).__name__} {x!r} as a tensor.")
    return a.astype(np.float32) if a.dtype == np.float64 else a


def _float32(out):
    if isinstance(out, tuple):
        return tuple(_float32(o) for o in out)
    if isinstance(out, list):
        return tuple(_float32(o) for o in out)
    if not isinstance(out, np.ndarray):
        out = np.asarray(out)
    if out.dtype == np.float64:
        return out.astype(np.float32)
    return out


def _differentiable(out):
    if isinstance(out, tuple):
        return all(o.dtype.kind == "f" for o in out)
    return out.dtype.kind == "f"


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape`` (the VJP of NumPy broadcasting)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, (a, b) in enumerate(zip(shape, g.shape)) if a == 1 and b != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)

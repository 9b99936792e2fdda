"""The one executor: a tape of (operation, context, inputs, outputs) entries.

Every model kind runs on it. While a tape records, each call of a built-in
layer (one fused kernel forward) and each ``nbkeras.ops`` op whose inputs need a
gradient appends an entry; :meth:`Tape.backward` walks the entries in reverse,
calls each one's ``backward(ctx, *output_grads)`` and sums gradients where a
value fans out to several consumers (an accumulate kernel). Functional and
Sequential models record by replaying their node lists, subclassed models by
running their Python ``call``, so loops and branches just work.

A tape that does not record is an inference scope: it only leases the calls'
contexts (their workspaces) and returns them when it closes.
"""
import numpy as np

from .. import backend
from . import context as context_module
from .tensor import Tensor

_active = []


def current():
    """The innermost open tape or inference scope (None when there is none)."""
    return _active[-1] if _active else None


def recording():
    """The innermost scope if it records, else None."""
    if _active and _active[-1].record:
        return _active[-1]
    return None


class Entry:
    __slots__ = ("fn", "ctx", "inputs", "outputs", "tape")

    def __init__(self, fn, ctx, inputs, outputs, tape):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs
        self.outputs = outputs
        self.tape = tape


class Tape:
    def __init__(self, record=True, persistent=False, watch_variables=True):
        self.record = record
        self.persistent = persistent
        self.watch_variables = watch_variables
        self.entries = []
        self.watched = {}
        self._leases = []

    def __enter__(self):
        _active.append(self)
        return self

    def __exit__(self, *exc):
        _active.remove(self)
        if not self.record:
            self.release()

    # ----- contexts -----
    def lease(self, owner):
        ctx = context_module.lease(owner)
        self._leases.append((owner, ctx))
        return ctx

    def release(self):
        """Give every leased context back to its pool (after the backward pass)."""
        for owner, ctx in self._leases:
            context_module.release(owner, ctx)
        self._leases.clear()

    # ----- recording -----
    def watch(self, x):
        self.watched[id(x)] = x

    def requires_grad(self, x):
        if isinstance(x, Tensor):
            return x.requires_grad
        if getattr(x, "_nbkeras_variable", False):
            return (x.trainable and self.watch_variables) or id(x) in self.watched
        return id(x) in self.watched

    def add(self, fn, ctx, inputs, outputs):
        """Record one call; ``outputs`` (an array or a tuple of arrays) come back as
        Tensors linked to the entry. ``inputs``: what each input's gradient belongs
        to (a Tensor, Variable or watched array), None where none is needed."""
        entry = Entry(fn, ctx, inputs, None, self)
        for x in inputs:
            if isinstance(x, Tensor):
                x.uses += 1
        if isinstance(outputs, tuple):
            entry.outputs = [Tensor(v, entry) for v in outputs]
            result = tuple(entry.outputs)
        else:
            result = Tensor(outputs, entry)
            entry.outputs = [result]
        self.entries.append(entry)
        return result

    # ----- backward -----
    def backward(self, target, seed=None, keep=()):
        """Walk back from ``target`` (seeded with ``seed``, by default ones); returns the
        :class:`Gradients`. Variables' gradients land in their ``grad`` buffers."""
        grads = Gradients()
        if seed is None:
            seed = np.ones(np.shape(target.value), dtype=np.float32)
        grads.values[id(target)] = np.asarray(seed, dtype=np.float32)
        keep_ids = {id(k) for k in keep}
        values = grads.values
        for entry in reversed(self.entries):
            outputs = entry.outputs
            if len(outputs) == 1:
                key = id(outputs[0])
                g = values.get(key)
                if g is None:
                    continue
                if key not in keep_ids:
                    del values[key]
                entry.ctx.gradients = grads
                in_grads = entry.fn.backward(entry.ctx, g)
            else:
                gs = [values.get(id(t)) for t in outputs]
                if all(g is None for g in gs):
                    continue
                gs = [np.zeros(t.shape, np.float32) if g is None else g
                      for g, t in zip(gs, outputs)]
                entry.ctx.gradients = grads
                in_grads = entry.fn.backward(entry.ctx, *gs)
            grads.settle()
            inputs = entry.inputs
            if len(inputs) == 1:
                if inputs[0] is not None and in_grads is not None:
                    grads.add(inputs[0], in_grads)
            else:
                for inp, g in zip(inputs, in_grads):
                    if inp is not None and g is not None:
                        grads.add(inp, g)
        return grads


class Gradients:
    """The gradients of one backward walk, summed where a value fans out.

    A variable's gradient is written into its own ``grad`` buffer (a view of the
    model's gradient arena when it trains), so a fused layer's kernel can write
    it there directly (:meth:`buffer_for`); a second contribution goes to a
    scratch buffer and is added afterwards (a shared layer).
    """

    def __init__(self):
        self.values = {}
        self._owned = set()
        self._pending = []

    def get(self, x):
        return self.values.get(id(x))

    def add(self, x, g):
        key = id(x)
        current = self.values.get(key)
        if current is None:
            own = getattr(x, "grad", None) if getattr(x, "_nbkeras_variable", False) else None
            if own is not None:
                own[...] = g
                self.values[key] = own
                self._owned.add(key)
            else:
                self.values[key] = g
            return
        if key not in self._owned:
            current = np.array(current, dtype=np.float32)
            self.values[key] = current
            self._owned.add(key)
        accumulate(current, g)

    def buffer_for(self, variable):
        own = variable.grad if variable.trainable else None
        if own is None:
            return np.empty(variable.shape, dtype=np.float32)
        key = id(variable)
        if key not in self.values:
            self.values[key] = own
            self._owned.add(key)
            return own
        scratch = np.empty(variable.shape, dtype=np.float32)
        self._pending.append((variable, scratch))
        return scratch

    def settle(self):
        """Add the scratch contributions of the last backward call."""
        while self._pending:
            variable, scratch = self._pending.pop()
            self.add(variable, scratch)


def accumulate(dst, g):
    """dst += g (``g`` broadcast to dst's shape if it must be), in the accumulate kernel."""
    if g.shape == dst.shape and g.dtype == np.float32 and g.flags.c_contiguous \
            and dst.flags.c_contiguous:
        backend.ops().accumulate(dst.reshape(-1), g.reshape(-1), backend.num_threads())
    else:
        np.add(dst, g, out=dst, casting="unsafe")

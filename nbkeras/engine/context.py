"""Context: everything one call of a layer keeps for its backward pass.

A built-in layer's ``forward(ctx, ...)`` saves what its ``backward(ctx, ...)``
needs on ``ctx``, takes its buffers from ``ctx.workspace`` and reads the flags
the model around the call sets (``needs_input_grad``: does anyone need my input
gradient; ``fused_output_grad``: did the loss already take the gradient through
my final softmax/sigmoid). The layer object itself keeps nothing between calls,
so one layer serves any number of calls at once.

Contexts are leased from a per-layer pool for the life of a tape and then
returned, so a steady-state training step reuses the same workspaces (no large
allocations) while two live calls never share one.
"""
import weakref

import numpy as np

from .. import backend

_MAX_WORKSPACES = 64


class Context:
    def __init__(self):
        self._workspaces = {}
        self.reset()

    def reset(self):
        self.needs_input_grad = True
        self.fused_output_grad = False
        self.gradients = None

    def workspace(self, key, shape, dtype=np.float32):
        """A buffer named ``key`` of ``shape``, allocated once and reused by every call
        that leases this context. Kept per shape, so an epoch's smaller last batch
        does not force the full-size buffers to be reallocated."""
        slot = (key, shape if type(shape) is tuple else tuple(shape), dtype)
        buf = self._workspaces.get(slot)
        if buf is None:
            if len(self._workspaces) > _MAX_WORKSPACES:  # many shapes seen: start over
                self._workspaces.clear()
            buf = backend.empty(shape, dtype)
            self._workspaces[slot] = buf
        return buf

    def param_grad(self, variable):
        """The buffer the backward pass writes ``variable``'s gradient into
        (overwriting it); the tape adds it to what other calls contributed."""
        return self.gradients.buffer_for(variable)


_free = weakref.WeakKeyDictionary()


def lease(owner):
    """A context for one call of ``owner`` (a layer), reset, from its pool."""
    pool = _free.get(owner)
    ctx = pool.pop() if pool else Context()
    ctx.reset()
    return ctx


def release(owner, ctx):
    _free.setdefault(owner, []).append(ctx)

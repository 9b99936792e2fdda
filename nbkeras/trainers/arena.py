"""Parameter arena: every trainable weight as a view of one flat float32 buffer.

Gradients live in a second buffer of the same layout, so an optimizer step is
one fused kernel over two flat arrays, whatever the number of layers, and the
tape's backward pass writes each weight's gradient straight into its slice.
"""
from .. import backend


class Arena:
    def __init__(self, variables):
        self.variables = list(variables)
        self.shapes = [tuple(v.shape) for v in self.variables]
        sizes = [v.size for v in self.variables]
        total = int(sum(sizes))
        self.params = backend.zeros((total,))
        self.grads = backend.zeros((total,))
        offset = 0
        for v, n in zip(self.variables, sizes):
            v.rebind(self.params[offset:offset + n].reshape(v.shape),
                     self.grads[offset:offset + n].reshape(v.shape), self)
            offset += n

    def holds(self, variables):
        """True when ``variables`` are exactly this arena's, in its order, and still
        stored in it (a layer shared with another model may have moved into that
        model's arena since)."""
        return len(variables) == len(self.variables) and all(
            a is b and a._arena is self for a, b in zip(variables, self.variables))

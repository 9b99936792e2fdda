"""Parameter arena: every trainable weight as a view of one flat float32 buffer.

Gradients live in a second buffer of the same layout, so an optimizer step is
one fused kernel over two flat arrays, whatever the number of layers.
"""
import numpy as np

from .. import backend


class Arena:
    def __init__(self, variables):
        self.variables = list(variables)
        self.sizes = [v.size for v in self.variables]
        total = int(sum(self.sizes))
        self.params = backend.zeros((total,))
        self.grads = backend.zeros((total,))
        offset = 0
        for v, n in zip(self.variables, self.sizes):
            v.rebind(self.params[offset:offset + n].reshape(v.shape),
                     self.grads[offset:offset + n].reshape(v.shape))
            offset += n
        self.key = tuple(id(v) for v in self.variables)

"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
and their functional forms (``layers.add([a, b])``, ``layers.concatenate``, ...).

Each takes a list of tensors. They are written with ``nbkeras.ops``, so their
gradients (including the sums over broadcast axes) come from the tape.
Element-wise merges broadcast as Keras's do ((None, 3) + (None, 1) is (None, 3));
incompatible shapes fail with Keras's message.
"""
import functools

from .. import ops
from .layer import Layer, _is_shape


class _Merge(Layer):
    def _check_list(self, inputs):
        """The inputs (tensors, or their shapes) as a list; one tensor is an error."""
        single = (_is_shape(inputs) and inputs != () or not isinstance(inputs, (list, tuple)))
        if single:
            shape = inputs if _is_shape(inputs) else getattr(inputs, "shape", None)
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: "
                             f"input_shape={tuple(shape) if shape is not None else None} (not a "
                             f"list of shapes)")
        return list(inputs)

    def build(self, input_shape):
        self._check_list(input_shape)
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        out = tuple(shapes[0][1:])
        for s in shapes[1:]:
            out = _broadcast(out, tuple(s[1:]))
        batch = next((s[0] for s in shapes if s[0] is not None), None)
        return (batch,) + out

    def call(self, inputs):
        inputs = self._check_list(inputs)
        if len(inputs) == 1:
            return inputs[0]
        return self._merge(inputs)

    def _merge(self, inputs):
        return functools.reduce(self._pair, inputs)


def _broadcast(a, b):
    """Keras's element-wise merge shape (per-sample shapes, None for unknown)."""
    if len(a) < len(b):
        a, b = b, a
    b = (1,) * (len(a) - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == 1 or x is None and y != 1:
            out.append(y)
        elif y == 1 or y is None or x == y:
            out.append(x)
        else:
            raise ValueError(f"Inputs have incompatible shapes. Received shapes {a} and {b}")
    return tuple(out)


class Add(_Merge):
    @staticmethod
    def _pair(a, b):
        return ops.add(a, b)


class Subtract(_Merge):
    def _merge(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: {len(inputs)} inputs.")
        return ops.subtract(inputs[0], inputs[1])


class Multiply(_Merge):
    @staticmethod
    def _pair(a, b):
        return ops.multiply(a, b)


class Average(_Merge):
    def _merge(self, inputs):
        return ops.divide(functools.reduce(ops.add, inputs), float(len(inputs)))


class Maximum(_Merge):
    @staticmethod
    def _pair(a, b):
        return ops.maximum(a, b)


class Minimum(_Merge):
    @staticmethod
    def _pair(a, b):
        return ops.minimum(a, b)


class Concatenate(_Merge):
    _config_keys = ("axis",)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in self._check_list(input_shape)]
        rank = len(shapes[0])
        axis = self.axis % rank if rank else 0
        for s in shapes[1:]:
            if len(s) != rank or any(
                    i != axis and a is not None and b is not None and a != b
                    for i, (a, b) in enumerate(zip(shapes[0], s))):
                raise ValueError(
                    f"A `Concatenate` layer requires inputs with matching shapes except for "
                    f"the concatenation axis. Received: input_shape={shapes}")
        size = 0
        for s in shapes:
            if s[axis] is None:
                size = None
                break
            size += s[axis]
        out = list(shapes[0])
        out[axis] = size
        return tuple(out)

    def call(self, inputs):
        inputs = self._check_list(inputs)
        if len(inputs) == 1:
            return inputs[0]
        self.compute_output_shape([tuple(x.shape) for x in inputs])
        return ops.concatenate(inputs, axis=self.axis)


class Dot(_Merge):
    """A batched dot product of two inputs along ``axes`` (the batch axis is 0);
    ``normalize=True`` L2-normalizes both first (cosine similarity)."""
    _config_keys = ("axes", "normalize")

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, (int, list, tuple)) or (
                not isinstance(axes, int) and len(axes) != 2):
            raise TypeError(f"Dot '{self.name}': `axes` must be an int or a tuple of 2 ints, "
                            f"received {axes!r}.")
        self.axes = axes
        self.normalize = normalize

    def _axes(self, shapes):
        axes = [self.axes, self.axes] if isinstance(self.axes, int) else list(self.axes)
        return [a % len(s) for a, s in zip(axes, shapes)]

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in self._check_list(input_shape)]
        if len(shapes) != 2:
            raise ValueError(f"A `Dot` layer should be called on exactly 2 inputs. "
                             f"Received: {len(shapes)} inputs.")
        a, b = self._axes(shapes)
        if a == 0 or b == 0:
            raise ValueError("Cannot perform batch_dot over axis 0. If your inputs are not "
                             "batched, add a dummy batch dimension to your inputs using "
                             "keras.ops.expand_dims(x, 0)")
        if shapes[0][a] is not None and shapes[1][b] is not None \
                and shapes[0][a] != shapes[1][b]:
            raise ValueError(f"Incompatible input shapes: axis values {shapes[0][a]} (at axis "
                             f"{a}) != {shapes[1][b]} (at axis {b}). Full input shapes: "
                             f"{shapes[0]}, {shapes[1]}")
        out = [d for i, d in enumerate(shapes[0]) if i != a]
        out += [d for i, d in enumerate(shapes[1]) if i not in (0, b)]
        return tuple(out) if len(out) > 1 else tuple(out) + (1,)

    def call(self, inputs):
        x, y = self._check_list(inputs)
        self.compute_output_shape([tuple(x.shape), tuple(y.shape)])
        a, b = self._axes([x.shape, y.shape])
        if self.normalize:
            x = ops.divide(x, ops.maximum(ops.norm(x, axis=a, keepdims=True), 1e-12))
            y = ops.divide(y, ops.maximum(ops.norm(y, axis=b, keepdims=True), 1e-12))
        letters = "bcdefghijklmnopqrstuvwxyz"
        sx = "a" + letters[:len(x.shape) - 1]
        sy = "a" + letters[len(x.shape) - 1:len(x.shape) + len(y.shape) - 2]
        sy = sy[:b] + sx[a] + sy[b + 1:]
        out = "a" + "".join(c for c in sx[1:] if c != sx[a]) + "".join(
            c for c in sy[1:] if c != sx[a])
        result = ops.einsum(f"{sx},{sy}->{out}", x, y)
        return ops.expand_dims(result, -1) if len(out) == 1 else result


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"Functional interface to the `{cls.__name__}` layer."
    return merge


add = _functional(Add)
subtract = _functional(Subtract)
multiply = _functional(Multiply)
average = _functional(Average)
maximum = _functional(Maximum)
minimum = _functional(Minimum)
concatenate = _functional(Concatenate)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional interface to the `Dot` layer."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)

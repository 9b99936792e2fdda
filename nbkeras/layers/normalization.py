"""BatchNormalization and LayerNormalization: fused kernels forward and backward.

BatchNormalization (Keras 3): in training, batch statistics over every axis but
``axis`` (biased variance), and the moving statistics, non-trainable weights,
move by ``momentum`` toward them; in inference, the moving statistics. A frozen
layer (``trainable=False``) runs in inference mode even when training, as in
Keras. LayerNormalization normalizes each sample over ``axis`` (the last axes).
Epsilon sits inside the square root in both.
"""
import numpy as np

from .. import backend, initializers
from ._epilogue import empty_like_rank
from .layer import Layer


def _channels_last(x, axis):
    """``x`` as (rows, channels) with ``axis`` moved last, C-contiguous float32."""
    moved = np.moveaxis(x, axis, -1) if axis not in (-1, x.ndim - 1) else x
    return np.ascontiguousarray(moved, dtype=np.float32).reshape(-1, x.shape[axis]), moved.shape


def _restore(y2, moved_shape, axis, ndim):
    y = y2.reshape(moved_shape)
    return np.moveaxis(y, -1, axis) if axis not in (-1, ndim - 1) else y


class BatchNormalization(Layer):
    _config_keys = ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                    "gamma_initializer", "moving_mean_initializer",
                    "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                    "beta_constraint", "gamma_constraint", "synchronized", "renorm",
                    "renorm_clipping", "renorm_momentum")
    _keras_call_kwargs = {"mask": None}

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, renorm=False,
                 renorm_clipping=None, renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self._keep_unsupported(beta_regularizer=beta_regularizer,
                               gamma_regularizer=gamma_regularizer,
                               beta_constraint=beta_constraint,
                               gamma_constraint=gamma_constraint,
                               renorm_clipping=renorm_clipping)
        self._reject_unsupported(renorm=renorm or None)
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.synchronized = synchronized
        self.renorm = False
        self.renorm_momentum = renorm_momentum

    def build(self, input_shape):
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"BatchNormalization '{self.name}': axis {self.axis} of input "
                             f"shape {tuple(input_shape)} must be known.")
        shape = (int(dim),)
        self.gamma = (self.add_weight(shape=shape, initializer=self.gamma_initializer,
                                      name="gamma") if self.scale else None)
        self.beta = (self.add_weight(shape=shape, initializer=self.beta_initializer,
                                     name="beta") if self.center else None)
        self.moving_mean = self.add_weight(shape=shape, initializer=self.moving_mean_initializer,
                                           name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(
            shape=shape, initializer=self.moving_variance_initializer, name="moving_variance",
            trainable=False)
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, ctx, inputs, training):
        axis = self.axis % inputs.ndim
        if inputs.shape[axis] != self.moving_mean.shape[0]:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis "
                f"{self.axis} of input shape to have value {self.moving_mean.shape[0]}, but "
                f"received input with shape {tuple(inputs.shape)}.")
        x2, moved = _channels_last(inputs, axis)
        c = x2.shape[1]
        gamma = self.gamma.value if self.scale else empty_like_rank(1)
        beta = self.beta.value if self.center else empty_like_rank(1)
        y = ctx.workspace("y", x2.shape)
        ops = backend.ops()
        ctx.training = bool(training) and self.trainable and x2.shape[0] > 0
        if ctx.training:
            mean = ctx.workspace("mean", (c,))
            var = ctx.workspace("var", (c,))
            inv_std = ctx.workspace("inv_std", (c,))
            ops.batchnorm_train_forward(x2, gamma, beta, self.epsilon, y, mean, var,
                                        inv_std, backend.num_threads())
            m = np.float32(self.momentum)
            self.moving_mean.assign(self.moving_mean.value * m + mean * (np.float32(1) - m))
            self.moving_variance.assign(self.moving_variance.value * m
                                        + var * (np.float32(1) - m))
            ctx.mean, ctx.inv_std = mean, inv_std
        else:
            ops.batchnorm_infer_forward(x2, gamma, beta, self.moving_mean.value,
                                        self.moving_variance.value, self.epsilon, y,
                                        backend.num_threads())
        ctx.x2, ctx.moved, ctx.axis, ctx.ndim = x2, moved, axis, inputs.ndim
        return _restore(y, moved, axis, inputs.ndim)

    def backward(self, ctx, grad_output):
        dy, _ = _channels_last(grad_output, ctx.axis)
        need_dx = ctx.needs_input_grad
        dgamma = ctx.param_grad(self.gamma) if self.scale else empty_like_rank(1)
        dbeta = ctx.param_grad(self.beta) if self.center else empty_like_rank(1)
        if not ctx.training:  # inference mode: an affine map per channel
            inv = np.float32(1) / np.sqrt(self.moving_variance.value + np.float32(self.epsilon))
            g = self.gamma.value if self.scale else np.float32(1)
            if self.scale:
                xhat = (ctx.x2 - self.moving_mean.value) * inv
                dgamma[...] = (dy * xhat).sum(axis=0)
            if self.center:
                dbeta[...] = dy.sum(axis=0)
            if not need_dx:
                return None
            return _restore(dy * (g * inv), ctx.moved, ctx.axis, ctx.ndim)
        dx = ctx.workspace("dx", ctx.x2.shape) if need_dx else empty_like_rank(2)
        gamma = self.gamma.value if self.scale else empty_like_rank(1)
        backend.ops().batchnorm_backward(ctx.x2, gamma, ctx.mean, ctx.inv_std, dy, dx, dgamma,
                                         dbeta, backend.num_threads())
        return _restore(dx, ctx.moved, ctx.axis, ctx.ndim) if need_dx else None



class LayerNormalization(Layer):
    _config_keys = ("axis", "epsilon", "center", "scale", "rms_scaling", "beta_initializer",
                    "gamma_initializer", "beta_regularizer", "gamma_regularizer",
                    "beta_constraint", "gamma_constraint")

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        self._keep_unsupported(beta_regularizer=beta_regularizer,
                               gamma_regularizer=gamma_regularizer,
                               beta_constraint=beta_constraint,
                               gamma_constraint=gamma_constraint)
        self._reject_unsupported(rms_scaling=rms_scaling or None)
        if not isinstance(axis, (int, list, tuple)):
            raise TypeError(f"Expected an int or a list/tuple of ints for the argument 'axis', "
                            f"but received: {axis}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.rms_scaling = False
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _axes(self, ndim):
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        axes = sorted(a % ndim for a in axes)
        if axes != list(range(ndim - len(axes), ndim)):
            raise NotImplementedError(f"LayerNormalization '{self.name}': only the last axes "
                                      f"can be normalized (axis={self.axis}).")
        return axes

    def build(self, input_shape):
        axes = self._axes(len(input_shape))
        shape = tuple(int(input_shape[a]) for a in axes)
        self.axis = [a - len(input_shape) for a in axes] if not isinstance(self.axis, int) \
            else [self.axis]
        self.gamma = (self.add_weight(shape=shape, initializer=self.gamma_initializer,
                                      name="gamma") if self.scale else None)
        self.beta = (self.add_weight(shape=shape, initializer=self.beta_initializer,
                                     name="beta") if self.center else None)
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, ctx, inputs, training):
        axes = self._axes(inputs.ndim)
        features = int(np.prod([inputs.shape[a] for a in axes]))
        x2 = inputs.reshape(-1, features)
        gamma = self.gamma.value.reshape(-1) if self.scale else empty_like_rank(1)
        beta = self.beta.value.reshape(-1) if self.center else empty_like_rank(1)
        y = ctx.workspace("y", x2.shape)
        mean = ctx.workspace("mean", (x2.shape[0],))
        inv_std = ctx.workspace("inv_std", (x2.shape[0],))
        backend.ops().layernorm_forward(x2, gamma, beta, self.epsilon, y, mean,
                                        inv_std, backend.num_threads())
        ctx.x2, ctx.mean, ctx.inv_std, ctx.shape = x2, mean, inv_std, inputs.shape
        return y.reshape(inputs.shape)

    def backward(self, ctx, grad_output):
        dy = np.ascontiguousarray(grad_output, dtype=np.float32).reshape(ctx.x2.shape)
        need_dx = ctx.needs_input_grad
        dx = ctx.workspace("dx", ctx.x2.shape) if need_dx else empty_like_rank(2)
        dgamma = (ctx.param_grad(self.gamma).reshape(-1) if self.scale
                  else empty_like_rank(1))
        dbeta = ctx.param_grad(self.beta).reshape(-1) if self.center else empty_like_rank(1)
        gamma = self.gamma.value.reshape(-1) if self.scale else empty_like_rank(1)
        backend.ops().layernorm_backward(ctx.x2, gamma, ctx.mean, ctx.inv_std, dy, dx, dgamma,
                                         dbeta, backend.num_threads())
        return dx.reshape(ctx.shape) if need_dx else None

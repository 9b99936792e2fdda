"""Plain NumPy references for the optimizer kernels, written for obviousness.

They follow Keras 3's optimizer sources step by step, one variable at a time
(a list of arrays, as Keras holds them), in float32 with the scalars cast where
Keras casts them. Nothing here is fast or in place.
"""
import numpy as np

f32 = np.float32


# --------------------------------------------------------------- clipping
def clip_by_value(g, clipvalue):
    return np.clip(g, -f32(clipvalue), f32(clipvalue)).astype(np.float32)


def l2_norm(g):
    return f32(np.sqrt(np.sum(np.square(g.astype(np.float64)))))


def clip_by_norm(g, clipnorm):
    """Keras ``_clip_by_norm``: ``g * clipnorm / max(norm, clipnorm)``."""
    norm = l2_norm(g)
    return (g * f32(clipnorm) / max(norm, f32(clipnorm))).astype(np.float32)


def clip_by_global_norm(grads, clipnorm):
    """Keras ``clip_by_global_norm`` over a list of gradients."""
    norm = f32(np.sqrt(sum(np.sum(np.square(g.astype(np.float64))) for g in grads)))
    if not np.isfinite(norm):
        return [np.full_like(g, np.nan) for g in grads]
    scale = f32(1) if norm <= f32(clipnorm) else f32(clipnorm) / norm
    return [(g * scale).astype(np.float32) for g in grads]


def clip_gradients(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """Keras ``_clip_gradients``: at most one kind, in this precedence."""
    if clipnorm:
        return [clip_by_norm(g, clipnorm) for g in grads]
    if global_clipnorm:
        return clip_by_global_norm(grads, global_clipnorm)
    if clipvalue:
        return [clip_by_value(g, clipvalue) for g in grads]
    return [g.copy() for g in grads]


def weight_decay(w, lr, wd):
    """Keras ``_apply_weight_decay``: ``w - w * wd * lr``."""
    return (w - w * f32(wd) * f32(lr)).astype(np.float32)


# ---------------------------------------------------------- update rules
def sgd(w, g, m, lr, momentum, nesterov):
    lr = f32(lr)
    if momentum == 0:
        return w - g * lr, m
    mom = f32(momentum)
    m = m * mom - g * lr
    if nesterov:
        return w + (m * mom - g * lr), m
    return w + m, m


def adagrad(w, g, acc, lr, epsilon):
    acc = acc + g * g
    return w - (f32(lr) * g) / np.sqrt(acc + f32(epsilon)), acc


def rmsprop(w, g, velocity, mom, avg, lr, rho, momentum, epsilon, centered):
    rho32, one_m_rho = f32(rho), f32(1 - rho)
    velocity = rho32 * velocity + one_m_rho * np.square(g)
    if centered:
        avg = rho32 * avg + one_m_rho * g
        denominator = velocity - np.square(avg) + f32(epsilon)
    else:
        denominator = velocity + f32(epsilon)
    increment = (f32(lr) * g) / np.sqrt(denominator)
    if momentum > 0:
        mom = f32(momentum) * mom + increment
        return w - mom, velocity, mom, avg
    return w - increment, velocity, mom, avg


def adam(w, g, m, v, vhat, lr, beta_1, beta_2, epsilon, step, amsgrad):
    """``step`` is Keras's ``local_step = iterations + 1``."""
    t = f32(step)
    b1p, b2p = f32(beta_1) ** t, f32(beta_2) ** t
    alpha = f32(lr) * np.sqrt(f32(1) - b2p) / (f32(1) - b1p)
    m = m + (g - m) * f32(1 - beta_1)
    v = v + (np.square(g) - v) * f32(1 - beta_2)
    v_used = v
    if amsgrad:
        vhat = np.maximum(vhat, v)
        v_used = vhat
    return w - (m * alpha) / (np.sqrt(v_used) + f32(epsilon)), m, v, vhat


# ------------------------------------------------------- a whole optimizer
class RefOptimizer:
    """Keras 3's optimizer loop over a list of variables: clip, weight decay,
    update, ``iterations += 1``. ``kind``: sgd, adagrad, rmsprop, adam, adamw."""

    DEFAULTS = {
        "sgd": dict(learning_rate=0.01, momentum=0.0, nesterov=False),
        "adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7),
        "rmsprop": dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                        centered=False),
        "adam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                     amsgrad=False),
        "adamw": dict(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                      epsilon=1e-7, amsgrad=False),
    }

    def __init__(self, kind, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 weight_decay=None, **hyper):
        self.kind = kind
        self.h = dict(self.DEFAULTS[kind])
        if kind == "adamw" and weight_decay is None:
            weight_decay = self.h["weight_decay"]
        self.h.update(hyper)
        self.clip = dict(clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm)
        self.wd = weight_decay
        self.iterations = 0
        self.state = None

    def _init_state(self, params):
        z = [np.zeros_like(p) for p in params]
        if self.kind == "sgd":
            return {"m": [a.copy() for a in z]}
        if self.kind == "adagrad":
            init = f32(self.h["initial_accumulator_value"])
            return {"acc": [np.full_like(p, init) for p in params]}
        if self.kind == "rmsprop":
            return {k: [a.copy() for a in z] for k in ("vel", "mom", "avg")}
        return {k: [a.copy() for a in z] for k in ("m", "v", "vhat")}

    def apply(self, params, grads):
        """Return the updated list of params (the inputs are not modified)."""
        h = self.h
        if self.state is None:
            self.state = self._init_state(params)
        lr = h["learning_rate"]
        if callable(lr):
            lr = lr(self.iterations)
        grads = clip_gradients([np.asarray(g, np.float32) for g in grads], **self.clip)
        out = []
        s = self.state
        for i, (w, g) in enumerate(zip(params, grads)):
            if self.wd is not None:
                w = weight_decay(w, lr, self.wd)
            if self.kind == "sgd":
                w, s["m"][i] = sgd(w, g, s["m"][i], lr, h["momentum"], h["nesterov"])
            elif self.kind == "adagrad":
                w, s["acc"][i] = adagrad(w, g, s["acc"][i], lr, h["epsilon"])
            elif self.kind == "rmsprop":
                w, s["vel"][i], s["mom"][i], s["avg"][i] = rmsprop(
                    w, g, s["vel"][i], s["mom"][i], s["avg"][i], lr, h["rho"],
                    h["momentum"], h["epsilon"], h["centered"])
            else:
                w, s["m"][i], s["v"][i], s["vhat"][i] = adam(
                    w, g, s["m"][i], s["v"][i], s["vhat"][i], lr, h["beta_1"],
                    h["beta_2"], h["epsilon"], self.iterations + 1, h["amsgrad"])
            out.append(np.asarray(w, dtype=np.float32))
        self.iterations += 1
        return out

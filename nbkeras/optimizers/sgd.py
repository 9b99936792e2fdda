"""SGD with optional momentum and Nesterov momentum (Keras 3)."""
from nbkeras import backend
from nbkeras.optimizers.base_optimizer import Optimizer, _is_number


class SGD(Optimizer):
    """Gradient descent (with momentum), Keras 3's update rule.

    ``momentum == 0``: ``w -= lr * g``. Otherwise ``m = momentum * m - lr * g``
    and ``w += m``, or with ``nesterov=True`` ``w += momentum * m - lr * g``.

    Args:
        learning_rate: float or schedule; default 0.01.
        momentum: float in [0, 1]; default 0.0.
        nesterov: bool; default False.
        **kwargs: the base :class:`Optimizer` arguments (weight_decay, clipnorm,
            clipvalue, global_clipnorm, name, ...).
    """

    _fuses_weight_decay = True

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not _is_number(momentum) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _create_slots(self):
        if self.momentum != 0:
            self.add_slot("momentum")

    def update_step(self, gradient, variable, learning_rate):
        backend.ops().sgd_update(
            variable, gradient, self._slot_or_empty("momentum"),
            float(learning_rate), self.momentum, self.nesterov,
            self._weight_decay_arg())

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config

"""RMSprop (Keras 3)."""
from nbkeras import backend
from nbkeras.optimizers.base_optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop, Keras 3's update rule (epsilon inside the sqrt).

    ``velocity = rho * velocity + (1 - rho) * g^2``; with ``centered``,
    ``average_grad = rho * average_grad + (1 - rho) * g`` and the denominator
    is ``velocity - average_grad^2 + epsilon``, else ``velocity + epsilon``;
    ``increment = lr * g / sqrt(denominator)``; with ``momentum > 0``,
    ``m = momentum * m + increment; w -= m``, else ``w -= increment``.

    Args:
        learning_rate: default 0.001. rho: default 0.9. momentum: default 0.0.
        epsilon: default 1e-7. centered: default False.
        **kwargs: the base :class:`Optimizer` arguments (weight_decay, clipnorm,
            clipvalue, global_clipnorm, name, ...).
    """

    _fuses_weight_decay = True

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def _create_slots(self):
        self.add_slot("velocity")
        if self.momentum > 0:
            self.add_slot("momentum")
        if self.centered:
            self.add_slot("average_gradient")

    def _slot_groups(self):
        names = ["velocity", "momentum", "average_gradient"]
        return [[n] for n in names if n in self._slots]

    def update_step(self, gradient, variable, learning_rate):
        backend.ops().rmsprop_update(
            variable, gradient, self._slots["velocity"],
            self._slot_or_empty("momentum"), self._slot_or_empty("average_gradient"),
            float(learning_rate), float(self.rho), float(self.momentum),
            float(self.epsilon), bool(self.centered), self._weight_decay_arg())

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum,
                       "epsilon": self.epsilon, "centered": self.centered})
        return config

"""Adam (Keras 3)."""
from nbkeras import backend
from nbkeras.optimizers.base_optimizer import Optimizer


class Adam(Optimizer):
    """Adam, Keras 3's update rule (epsilon outside the sqrt).

    With ``t = iterations + 1``: ``alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``;
    ``m += (g - m) * (1 - beta_1)``; ``v += (g^2 - v) * (1 - beta_2)``;
    amsgrad: ``vhat = max(vhat, v)`` replaces ``v``;
    ``w -= alpha * m / (sqrt(v) + epsilon)``.

    Args:
        learning_rate: default 0.001. beta_1: default 0.9. beta_2: default 0.999.
        epsilon: default 1e-7. amsgrad: default False.
        **kwargs: the base :class:`Optimizer` arguments (weight_decay, clipnorm,
            clipvalue, global_clipnorm, name, ...).
    """

    _fuses_weight_decay = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def _create_slots(self):
        self.add_slot("momentum")
        self.add_slot("velocity")
        if self.amsgrad:
            self.add_slot("velocity_hat")

    def _slot_groups(self):
        groups = [["momentum", "velocity"]]
        if "velocity_hat" in self._slots:
            groups.append(["velocity_hat"])
        return groups

    def update_step(self, gradient, variable, learning_rate):
        backend.ops().adam_update(
            variable, gradient, self._slots["momentum"], self._slots["velocity"],
            self._slot_or_empty("velocity_hat"), float(learning_rate),
            float(self.beta_1), float(self.beta_2), float(self.epsilon),
            int(self.iterations) + 1, bool(self.amsgrad), self._weight_decay_arg())

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2,
                       "epsilon": self.epsilon, "amsgrad": self.amsgrad})
        return config

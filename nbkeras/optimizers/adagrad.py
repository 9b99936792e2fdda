"""Adagrad (Keras 3)."""
from nbkeras import backend
from nbkeras.optimizers.base_optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad, Keras 3's update rule (epsilon inside the sqrt).

    The accumulator starts at ``initial_accumulator_value``;
    ``acc += g^2; w -= lr * g / sqrt(acc + epsilon)``.

    Args:
        learning_rate: default 0.001. initial_accumulator_value: default 0.1.
        epsilon: default 1e-7. (plus the base optimizer arguments)
    """

    _fuses_weight_decay = True

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _create_slots(self):
        self.add_slot("accumulator", initial_value=self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate):
        backend.ops().adagrad_update(
            variable, gradient, self._slots["accumulator"], float(learning_rate),
            float(self.epsilon), self._weight_decay_arg())

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value,
                       "epsilon": self.epsilon})
        return config

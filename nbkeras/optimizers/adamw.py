"""AdamW (Keras 3): Adam with decoupled weight decay."""
from nbkeras.optimizers.adam import Adam


class AdamW(Adam):
    """Adam with decoupled weight decay: before each Adam update,
    ``w -= w * weight_decay * lr`` (Keras 3 applies it in the base optimizer;
    here it is fused into the same kernel pass).

    Args:
        learning_rate: default 0.001. weight_decay: default 0.004 (must not be
        None). beta_1, beta_2, epsilon, amsgrad: as :class:`Adam`.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay,
                         **kwargs)
        if self.weight_decay is None:
            raise ValueError(
                "Argument `weight_decay` must be a float. Received: weight_decay=None")

"""Training steps through the model core: the custom-``Linear`` MLP (ops and the
tape) against the same MLP of fused ``Dense`` layers, in one benchmark group.
``python benchmarks/model_core.py`` prints their ratio against its target."""
import numpy as np
import pytest

import mlp_models


@pytest.mark.parametrize("kind", ["dense", "custom"])
def test_mlp_train_step(benchmark, kind):
    """One train_on_batch of 784-256-256-10 at batch 128; repeating it on one batch
    must fit that batch (the loss falls well below ln 10)."""
    benchmark.group = "MLP 784-256-256-10 train step, batch 128"
    model = mlp_models.compiled(mlp_models.dense_mlp() if kind == "dense"
                                else mlp_models.CustomMLP())
    rng = np.random.default_rng(3)
    x, y = rng.random((128, 784)).astype(np.float32), rng.integers(0, 10, 128)
    losses = [float(model.train_on_batch(x, y))]

    def step():
        losses.append(float(model.train_on_batch(x, y)))

    benchmark.pedantic(step, rounds=20, warmup_rounds=2)
    while len(losses) < 30:  # also with --benchmark-disable, which runs step once
        step()
    assert losses[-1] < 0.5 * losses[0]

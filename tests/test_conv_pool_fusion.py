"""Models run a Conv2D and the MaxPooling2D reading it as one fused op: same
numbers as the two layers, the same errors, and the layers' own call where the
geometry does not fit."""
import numpy as np
import pytest

import nbkeras
from nbkeras import layers
from nbkeras.layers import conv_pool


@pytest.fixture
def unfused(monkeypatch):
    """Within the test, models plan no fusion (the reference runs)."""
    def off():
        monkeypatch.setattr(conv_pool, "fusable", lambda conv, pool: False)
    return off


def _cnn(seed=0, pool_padding="valid"):
    nbkeras.utils.set_random_seed(seed)
    model = nbkeras.Sequential([
        nbkeras.Input((11, 12, 3)),
        layers.Conv2D(8, 3, activation="relu"),
        layers.MaxPooling2D(2, padding=pool_padding),
        layers.Conv2D(6, 2, padding="same"),
        layers.MaxPooling2D((1, 2)),
        layers.Flatten(),
        layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _data(n=40):
    rng = np.random.default_rng(3)
    return rng.random((n, 11, 12, 3), dtype=np.float32), rng.integers(0, 4, n)


def _train(model):
    x, y = _data()
    before = model.predict(x, verbose=0)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    return before, model.get_weights()


def test_sequential_fuses_and_trains_as_the_layers_do(unfused):
    model = _cnn()
    kinds = [type(step).__name__ for step in model._call_plan()]
    assert kinds == ["ConvMaxPool", "ConvMaxPool", "Flatten", "Dense"]
    fused_out, fused_weights = _train(model)
    unfused()
    reference = _cnn()
    assert all(type(step).__name__ != "ConvMaxPool" for step in reference._call_plan())
    want_out, want_weights = _train(reference)
    np.testing.assert_array_equal(fused_out, want_out)
    for got, want in zip(fused_weights, want_weights):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pooling_that_does_not_tile_falls_back(unfused):
    # 'same' pooling of the 9x10 output pads a row: the layers run one by one
    x, _ = _data(5)
    got = _cnn(pool_padding="same").predict(x, verbose=0)
    unfused()
    np.testing.assert_array_equal(got, _cnn(pool_padding="same").predict(x, verbose=0))


def test_overlapping_windows_are_not_fused():
    conv = layers.Conv2D(2, 3)
    assert not conv_pool.fusable(conv, layers.MaxPooling2D(3, strides=2))
    assert not conv_pool.fusable(layers.Conv2D(2, 3, activation="gelu"), layers.MaxPooling2D())
    assert not conv_pool.fusable(conv, layers.AveragePooling2D())
    assert conv_pool.fusable(conv, layers.MaxPooling2D())


def test_functional_fuses_only_a_conv_output_no_one_else_reads(unfused):
    def build():
        nbkeras.utils.set_random_seed(1)
        inp = nbkeras.Input((10, 10, 2))
        a = layers.MaxPooling2D()(layers.Conv2D(4, 3, activation="relu")(inp))   # fused
        b = layers.Conv2D(4, 3)(a)                                             # read twice
        merged = layers.Concatenate()([layers.Flatten()(layers.MaxPooling2D()(b)),
                                       layers.GlobalMaxPooling2D()(b)])
        return nbkeras.Model(inp, layers.Dense(3)(merged))
    model = build()
    fused = [op for _, op, _ in model._plan if isinstance(op, conv_pool.ConvMaxPool)]
    assert len(fused) == 1 and fused[0].conv.filters == 4 and fused[0].conv.kernel_size == (3, 3)
    assert len(model._plan) == len(model._nodes) - 1
    x = np.random.default_rng(0).random((6, 10, 10, 2), dtype=np.float32)
    got = model.predict(x, verbose=0)
    unfused()
    np.testing.assert_array_equal(got, build().predict(x, verbose=0))


def test_a_model_output_is_not_fused_away():
    inp = nbkeras.Input((6, 6, 1))
    features = layers.Conv2D(2, 3)(inp)
    model = nbkeras.Model(inp, [features, layers.MaxPooling2D()(features)])
    assert not any(isinstance(op, conv_pool.ConvMaxPool) for _, op, _ in model._plan)
    outs = model.predict(np.ones((2, 6, 6, 1), np.float32), verbose=0)
    assert outs[0].shape == (2, 4, 4, 2) and outs[1].shape == (2, 2, 2, 2)


def test_bad_input_gets_the_conv_layers_error():
    model = _cnn()
    with pytest.raises(ValueError, match="conv2d.*expected axis -1 of input shape to have "
                                         "value 3, but received input with shape"):
        model(np.zeros((2, 11, 12, 4), np.float32))

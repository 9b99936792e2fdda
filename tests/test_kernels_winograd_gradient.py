"""The gradients of 3x3 convolutions by Winograd F(2x2, 3x3)
(``kernels/cpu/winograd_gradient.py``) against the float64 reference.

Reached through the public ``conv2d_backward`` and ``conv2d_pool_backward``
with shapes that send them there (a spy checks it, and whether the pass made
dx too or returned dz for col2im); dx is checked either way. The layers'
backward passes on it are checked against finite differences
(``test_kernels_winograd.py``, ``test_winograd_conv2d_maxpool_fused_backward``
and below)."""
import contextlib

import numpy as np
from hypothesis import given, settings, strategies as st

import nbkeras
import reference as ref
from nbkeras import layers
from nbkeras.kernels.cpu import winograd_gradient
from nbkeras.kernels.cpu.tile import V
from nbkeras.kernels.cpu.vector_maps import (ADDS_INTO, FILTER_GRADIENT, GRADIENT_TILE,
                                             INPUT_GRADIENT, INPUT_TILE, OUTPUT_TILE, WEIGHTS,
                                             dense_map)
from test_kernels_winograd import _CODES, _NO_PAD, C0, _operands, _source
from test_layers_gradients import _check, _x

cases = st.fixed_dictionaries({
    "n": st.integers(1, 3), "th": st.integers(1, 5), "tw": st.integers(1, 5),
    "c": st.sampled_from([C0, C0 + V]), "f": st.sampled_from([V, C0, 2 * C0]),
    "padding": st.sampled_from(["valid", "same"]),
    "activation": st.sampled_from(["linear", "relu", "sigmoid", "tanh"]),
    "bias": st.booleans(), "chunks": st.integers(1, 3), "seed": st.integers(0, 2**16)})


@contextlib.contextmanager
def counting_gradients():
    """[the number of calls of winograd_gradient.weight_gradient so far, and
    how many of them made dx too]."""
    count = [0, 0]
    real = winograd_gradient.weight_gradient

    def recording(*args, **kwargs):
        count[0] += 1
        result = real(*args, **kwargs)
        count[1] += result is None   # (dx made: no dz returned)
        return result
    winograd_gradient.weight_gradient = recording
    try:
        yield count
    finally:
        winograd_gradient.weight_gradient = real


def _derivative_from_output(activation, out):
    return {"linear": np.ones_like(out), "relu": (out > 0).astype(np.float64),
            "sigmoid": out * (1 - out), "tanh": 1 - out * out}[activation]


def test_gradient_maps_are_the_forward_maps_transposed():
    np.testing.assert_allclose(dense_map(GRADIENT_TILE), dense_map(OUTPUT_TILE).T)
    np.testing.assert_allclose(dense_map(FILTER_GRADIENT), dense_map(WEIGHTS).T)
    np.testing.assert_allclose(dense_map(INPUT_GRADIENT), dense_map(INPUT_TILE).T)
    assert INPUT_GRADIENT in ADDS_INTO and INPUT_TILE not in ADDS_INTO


def _sized(case, oh, ow):
    """The case's input for an oh x ow output."""
    extra = 2 if case["padding"] == "valid" else 0
    return dict(case, h=oh + extra, w=ow + extra)


@settings(max_examples=30, deadline=None)
@given(cases)
def test_plain_weight_gradient(case):
    """Whole 2x2 tiles (even output sizes): dw, db, dz = dy * f'(z) and dx, in
the same pass where its products fit, else col2im from that dz."""
    oh, ow = 2 * case["th"], 2 * case["tw"]
    case = _sized(case, oh, ow)
    x, kernel, b = _operands(case)
    source, oh, ow = _source(x, case["padding"])
    n, c, f = case["n"], case["c"], case["f"]
    code = _CODES[case["activation"]]
    w2 = kernel.reshape(-1, f)
    z = np.empty((n * oh * ow, f), np.float32)
    y = np.empty_like(z)
    nbkeras.kernels.cpu.conv2d_forward(source, w2, b, 3, 3, 1, 1, 0, 0, oh, ow, code, 0.0,
                                       _NO_PAD, z, y, case["chunks"])
    dy = np.random.default_rng(case["seed"] + 1).standard_normal(z.shape).astype(np.float32)
    dz = np.empty_like(z)
    dw2 = np.full_like(w2, np.nan)
    db = np.full(f, np.nan, np.float32)
    dx = np.full(source.shape, np.nan, np.float32)
    with counting_gradients() as calls:
        nbkeras.kernels.cpu.conv2d_backward(w2, source, z, y, dy, 3, 3, 1, 1, 0, 0, oh, ow,
                                            code, 0.0, dz, dw2, db if case["bias"] else
                                            np.zeros(0, np.float32), dx, case["chunks"])
    assert calls == [1, int(winograd_gradient.input_gradient_fits(case["c"], f))]
    want_dz = dy.astype(np.float64) * _derivative_from_output(case["activation"],
                                                               y.astype(np.float64))
    np.testing.assert_allclose(dz, want_dz, rtol=1e-6, atol=1e-6)
    want_dx, want_dk = ref.conv2d_backward(source.astype(np.float64),
                                           kernel.astype(np.float64),
                                           want_dz.reshape(n, oh, ow, f), (1, 1), "valid")
    scale = float(np.abs(want_dk).max()) + 1e-3
    np.testing.assert_allclose(dw2.reshape(want_dk.shape), want_dk, rtol=1e-5, atol=1e-5 * scale)
    if case["bias"]:
        np.testing.assert_allclose(db, want_dz.sum(axis=0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(cases)
def test_pooled_weight_gradient(case):
    """2x2 max pooling fused (each window one tile), odd sizes included (the
    last row or column no window covers): dw, db and dx, in the same pass
    where its products fit, else col2im from the dz rows."""
    oh, ow = 2 * case["th"] + case["seed"] % 2, 2 * case["tw"] + (case["seed"] // 2) % 2
    case = _sized(case, oh, ow)
    x, kernel, b = _operands(case)
    source, oh, ow = _source(x, case["padding"])
    n, f = case["n"], case["f"]
    poh, pow_ = oh // 2, ow // 2
    code = _CODES[case["activation"]]
    w2 = kernel.reshape(-1, f)
    y = np.empty((n, poh, pow_, f), np.float32)
    arg = np.empty(y.shape, np.int8)
    nbkeras.kernels.cpu.conv2d_pool_forward(source, w2, b, 3, 3, 1, 1, 0, 0, 2, 2, code, 0.0,
                                            _NO_PAD, y, arg, case["chunks"])
    dy = np.random.default_rng(case["seed"] + 1).standard_normal(y.shape).astype(np.float32)
    dw2 = np.full_like(w2, np.nan)
    db = np.full(f, np.nan, np.float32)
    dx = np.full(source.shape, np.nan, np.float32)
    with counting_gradients() as calls:
        nbkeras.kernels.cpu.conv2d_pool_backward(w2, source, y, arg, dy, 3, 3, 1, 1, 0, 0,
                                                 oh, ow, 2, 2, code, 0.0, dw2,
                                                 db if case["bias"] else np.zeros(0, np.float32),
                                                 dx, case["chunks"])
    # dx by Winograd too where its products fit (filters deep, channels wide)
    assert calls == [1, int(winograd_gradient.input_gradient_fits(case["c"], f))]
    # the reference: each window's gradient at its maximum, in the full output
    g = dy.astype(np.float64) * _derivative_from_output(case["activation"],
                                                         y.astype(np.float64))
    full = np.zeros((n, oh, ow, f))
    ni, pi, qi, fi = np.indices(y.shape)
    full[ni, 2 * pi + arg // 2, 2 * qi + arg % 2, fi] = g
    want_dx, want_dk = ref.conv2d_backward(source.astype(np.float64), kernel.astype(np.float64),
                                           full, (1, 1), "valid")
    scale = float(np.abs(want_dk).max()) + 1e-3
    np.testing.assert_allclose(dw2.reshape(want_dk.shape), want_dk, rtol=1e-5, atol=1e-5 * scale)
    if case["bias"]:
        np.testing.assert_allclose(db, g.reshape(-1, f).sum(axis=0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-4)


def test_other_shapes_keep_the_direct_weight_gradient():
    """An odd output size without pooling: no whole tiles, the direct product."""
    layer = layers.Conv2D(V, 3)
    with counting_gradients() as calls:
        _check(layer, _x((1, 7, 6, C0)), lambda x, k, b: ref.conv2d(x, k, b, (1, 1), "valid"))
    assert calls[0] == 0


def test_winograd_weight_gradient_layer_against_finite_differences():
    """A Conv2D layer with an even output trains on it: its backward against
    finite differences of the float64 reference."""
    layer = layers.Conv2D(V, 3, padding="same", activation="tanh")
    with counting_gradients() as calls:
        _check(layer, _x((2, 4, 6, C0)), lambda x, k, b: ref.conv2d(x, k, b, (1, 1), "same",
                                                                      "tanh"))
    assert calls[0] > 0


def test_input_gradient_in_the_same_pass_against_finite_differences():
    """Layers whose dx the Winograd pass makes (enough filters), 'same'
    padding included (dx made in the padded frame, then cropped): plain, and
    fused with 2x2 max pooling, against finite differences of the float64
    reference."""
    plain = layers.Conv2D(C0, 3, padding="same", activation="tanh")
    with counting_gradients() as calls:
        _check(plain, _x((2, 4, 6, C0)), lambda x, k, b: ref.conv2d(x, k, b, (1, 1), "same",
                                                                      "tanh"))
    assert calls[0] > 0 and calls[1] == calls[0]
    pooled = nbkeras.Sequential([layers.Conv2D(C0, 3, padding="same", activation="relu"),
                                 layers.MaxPooling2D(2)])
    with counting_gradients() as calls:
        _check(pooled, _x((2, 6, 5, C0), seed=3), lambda x, k, b: ref.pool2d(
            ref.conv2d(x, k, b, (1, 1), "same", "relu"), (2, 2), (2, 2), "valid", "max"))
    assert calls[0] > 0 and calls[1] == calls[0]


def test_tiles_per_step_are_whole_rows_of_tiles():
    for l2 in (256 * 1024, 512 * 1024, 1024 * 1024, 2048 * 1024):
        for c in (V, 2 * V, 4 * V, 16 * V):
            for f in (V, 4 * V, 16 * V):
                for tw in (1, 2, 6, 7, 31):
                    tiles = winograd_gradient.tiles_per_step(c, f, tw, l2)
                    assert tiles % tw == 0 and tiles > 0
                    assert tiles == tw or 16 * 4 * (c + f) * tiles <= l2 // 2


def test_many_steps_give_the_one_step_result(monkeypatch):
    """Pieces of many steps (N accumulated step by step) equal one deep step."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 12, 14, C0)).astype(np.float32)
    w2 = (rng.standard_normal((9 * C0, 2 * V)) / 20).astype(np.float32)
    ops = nbkeras.kernels.cpu
    y = np.empty((3, 5, 6, 2 * V), np.float32)
    arg = np.empty(y.shape, np.int8)
    ops.conv2d_pool_forward(x, w2, np.zeros(0, np.float32), 3, 3, 1, 1, 0, 0, 2, 2,
                            _CODES["relu"], 0.0, _NO_PAD, y, arg, 2)
    dy = rng.standard_normal(y.shape).astype(np.float32)

    def gradients():
        dw2, dx = np.empty_like(w2), np.empty_like(x)
        ops.conv2d_pool_backward(w2, x, y, arg, dy, 3, 3, 1, 1, 0, 0, 10, 12, 2, 2,
                                 _CODES["relu"], 0.0, dw2, np.zeros(0, np.float32), dx, 2)
        return dw2, dx

    deep = gradients()
    monkeypatch.setattr(winograd_gradient, "tiles_per_step", lambda c, f, tw: tw)
    shallow = gradients()
    np.testing.assert_allclose(shallow[0], deep[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(shallow[1], deep[1])

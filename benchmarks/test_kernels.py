"""Kernel and training-step benchmarks: ``pytest benchmarks --benchmark-only``.

Each benchmark times one thing and then asserts that what it timed computed the
right numbers (against NumPy, a plain reference, or PyTorch where installed).
Wall time is never asserted: these machines are shared and noisy. Benchmarks of
the same operation share a ``group`` so pytest-benchmark prints them side by side.
PyTorch comparisons skip cleanly when it is not installed (``importorskip``).
"""
import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import seed_models

LINEAR, RELU = 0, 1  # nbkeras.kernels.codes


def _rel_err(a, ref):
    """Frobenius-norm relative error, computed in float64."""
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.linalg.norm(a - ref) / max(np.linalg.norm(ref), 1e-30))


def _record_gflops(benchmark, flop):
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # absent under --benchmark-disable
        benchmark.extra_info["GFLOP/s (median)"] = round(flop / stats.stats.median / 1e9, 1)


# ------------------------------------------------------------------ GEMM
@pytest.mark.parametrize("impl", ["nbkeras", "numpy"])
@pytest.mark.parametrize("n", [256, 512, 1024, 2048])
def test_gemm(benchmark, ops, chunks, rng, n, impl):
    """``backend.ops().matmul`` vs ``numpy.matmul``, float32 square n x n."""
    benchmark.group = f"gemm n={n}"
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.full((n, n), np.nan, dtype=np.float32)
    if impl == "nbkeras":
        ops.matmul(a, b, out, chunks)  # warm-up (pytest-benchmark does none by default)
        benchmark(ops.matmul, a, b, out, chunks)
    else:
        np.matmul(a, b, out=out)
        benchmark(np.matmul, a, b, out=out)
    _record_gflops(benchmark, 2.0 * n ** 3)
    assert out.dtype == np.float32
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert _rel_err(out, ref) < 1e-5


# ------------------------------------------------------------------ conv2d
CONV_N, CONV_HW, CONV_C, CONV_F, CONV_K = 32, 34, 32, 64, 3
CONV_OUT = CONV_HW - CONV_K + 1
CONV_FLOP = 2.0 * CONV_N * CONV_OUT * CONV_OUT * CONV_K * CONV_K * CONV_C * CONV_F


@pytest.fixture(scope="module")
def conv_case():
    """N32 C32 34x34 input, 3x3x32x64 kernel, bias, and the float64 reference
    output (valid padding, stride 1, no activation) by explicit im2col."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((CONV_N, CONV_HW, CONV_HW, CONV_C), dtype=np.float32)
    kernel = (rng.standard_normal((CONV_K, CONV_K, CONV_C, CONV_F), dtype=np.float32)
              / np.float32(math.sqrt(CONV_K * CONV_K * CONV_C)))
    bias = rng.standard_normal(CONV_F, dtype=np.float32)
    windows = sliding_window_view(x.astype(np.float64), (CONV_K, CONV_K), axis=(1, 2))
    # windows: (n, oh, ow, c, kh, kw) -> patches in (kh, kw, c) order
    cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, CONV_K * CONV_K * CONV_C)
    z = cols @ kernel.astype(np.float64).reshape(-1, CONV_F) + bias
    return {"x": x, "kernel": kernel, "bias": bias, "cols": cols,
            "z": z.reshape(CONV_N, CONV_OUT, CONV_OUT, CONV_F)}


def test_conv2d_forward_layer(benchmark, conv_case):
    """Through the public API: ``nbkeras.layers.Conv2D(64, 3, activation='relu')(x)``."""
    from nbkeras import layers
    benchmark.group = "conv2d forward N32 C32 34x34 -> 64x3x3"
    layer = layers.Conv2D(CONV_F, CONV_K, activation="relu")
    layer(conv_case["x"][:1])  # build
    layer.kernel.assign(conv_case["kernel"])
    layer.bias.assign(conv_case["bias"])
    layer(conv_case["x"])  # warm-up: workspaces for this batch size
    y = benchmark(layer, conv_case["x"])
    _record_gflops(benchmark, CONV_FLOP)
    assert y.shape == (CONV_N, CONV_OUT, CONV_OUT, CONV_F) and y.dtype == np.float32
    assert _rel_err(y, np.maximum(conv_case["z"], 0.0)) < 1e-5


def test_conv2d_forward_kernel(benchmark, ops, chunks, conv_case):
    """The raw kernel ``conv2d_forward`` with caller-owned workspaces (no activation)."""
    benchmark.group = "conv2d forward N32 C32 34x34 -> 64x3x3"
    x, kernel, bias = conv_case["x"], conv_case["kernel"], conv_case["bias"]
    rows = CONV_N * CONV_OUT * CONV_OUT
    w2 = np.ascontiguousarray(kernel.reshape(-1, CONV_F))
    no_padding = np.empty((0, 0, 0, CONV_C), dtype=np.float32)  # 'valid': x is read in place
    z = np.full((rows, CONV_F), np.nan, dtype=np.float32)
    args = (x, w2, bias, CONV_K, CONV_K, 1, 1, 0, 0, CONV_OUT, CONV_OUT, LINEAR, 0.0,
            no_padding, z, z, chunks)
    ops.conv2d_forward(*args)  # warm-up
    benchmark(ops.conv2d_forward, *args)
    _record_gflops(benchmark, CONV_FLOP)
    assert z.dtype == np.float32
    assert _rel_err(z.reshape(conv_case["z"].shape), conv_case["z"]) < 1e-5


def test_conv2d_forward_torch(benchmark, conv_case):
    """PyTorch's conv2d (NCHW) on the same numbers, for scale; checked against the
    same reference."""
    torch = pytest.importorskip("torch")
    import os
    torch.set_num_threads(os.cpu_count())
    benchmark.group = "conv2d forward N32 C32 34x34 -> 64x3x3"
    x = torch.from_numpy(np.ascontiguousarray(conv_case["x"].transpose(0, 3, 1, 2)))
    w = torch.from_numpy(np.ascontiguousarray(conv_case["kernel"].transpose(3, 2, 0, 1)))
    b = torch.from_numpy(conv_case["bias"])

    def run():
        with torch.no_grad():
            return torch.nn.functional.conv2d(x, w, b)

    run()
    y = benchmark(run).numpy().transpose(0, 2, 3, 1)
    _record_gflops(benchmark, CONV_FLOP)
    assert _rel_err(y, conv_case["z"]) < 1e-5


def test_conv2d_backward_kernel(benchmark, ops, chunks, conv_case):
    """``conv2d_backward`` (linear activation): weight, bias and input gradients."""
    benchmark.group = "conv2d backward N32 C32 34x34 -> 64x3x3"
    rng = np.random.default_rng(11)
    x, kernel, bias = conv_case["x"], conv_case["kernel"], conv_case["bias"]
    rows = CONV_N * CONV_OUT * CONV_OUT
    w2 = np.ascontiguousarray(kernel.reshape(-1, CONV_F))
    z = np.empty((rows, CONV_F), dtype=np.float32)
    dy = rng.standard_normal((rows, CONV_F), dtype=np.float32)
    dz = np.empty_like(dy)
    dw2 = np.empty_like(w2)
    db = np.empty_like(bias)
    dx = np.empty_like(x)
    ops.conv2d_forward(x, w2, bias, CONV_K, CONV_K, 1, 1, 0, 0, CONV_OUT, CONV_OUT, LINEAR,
                       0.0, np.empty((0, 0, 0, CONV_C), dtype=np.float32), z, z, chunks)

    def setup():
        return (w2, x, z, z, dy, CONV_K, CONV_K, 1, 1, 0, 0, CONV_OUT, CONV_OUT,
                LINEAR, 0.0, dz, dw2, db, dx, chunks), {}

    benchmark.pedantic(ops.conv2d_backward, setup=setup, rounds=10, warmup_rounds=1)
    _record_gflops(benchmark, 2 * CONV_FLOP)
    cols_ref = conv_case["cols"]  # the reference's explicit patches
    dy64 = dy.astype(np.float64)
    assert _rel_err(dw2, cols_ref.T @ dy64) < 1e-5
    assert _rel_err(db, dy64.sum(axis=0)) < 1e-5
    # dx: scatter-add of dcols = dy @ w2^T back over each 3x3 window
    dcols = (dy64 @ kernel.astype(np.float64).reshape(-1, CONV_F).T).reshape(
        CONV_N, CONV_OUT, CONV_OUT, CONV_K, CONV_K, CONV_C)
    dx_ref = np.zeros(x.shape, dtype=np.float64)
    for i in range(CONV_K):
        for j in range(CONV_K):
            dx_ref[:, i:i + CONV_OUT, j:j + CONV_OUT, :] += dcols[:, :, :, i, j, :]
    assert _rel_err(dx, dx_ref) < 1e-5


# ------------------------------------------------------------------ max pooling
POOL_SHAPE = (128, 30, 30, 32)  # the seed CNN's first pooling input at batch 128


@pytest.fixture(scope="module")
def pool_input():
    return np.random.default_rng(3).standard_normal(POOL_SHAPE, dtype=np.float32)


def test_maxpool2d_forward(benchmark, ops, pool_input):
    benchmark.group = "maxpool2d 2x2 (128,30,30,32)"
    n, h, w, c = POOL_SHAPE
    y = np.full((n, h // 2, w // 2, c), np.nan, dtype=np.float32)
    ops.maxpool2d_forward(pool_input, 2, 2, 2, 2, 0, 0, y)  # warm-up
    benchmark(ops.maxpool2d_forward, pool_input, 2, 2, 2, 2, 0, 0, y)
    ref = pool_input.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    np.testing.assert_array_equal(y, ref)


def test_maxpool2d_backward(benchmark, ops, pool_input):
    benchmark.group = "maxpool2d 2x2 (128,30,30,32)"
    n, h, w, c = POOL_SHAPE
    y = np.empty((n, h // 2, w // 2, c), dtype=np.float32)
    ops.maxpool2d_forward(pool_input, 2, 2, 2, 2, 0, 0, y)
    dy = np.random.default_rng(4).standard_normal(y.shape, dtype=np.float32)
    dx = np.full(POOL_SHAPE, np.nan, dtype=np.float32)
    args = (pool_input, y, dy, 2, 2, 2, 2, 0, 0, dx)
    ops.maxpool2d_backward(*args)  # warm-up
    benchmark(ops.maxpool2d_backward, *args)
    windows = pool_input.reshape(n, h // 2, 2, w // 2, 2, c)
    is_max = windows == y[:, :, None, :, None, :]  # random normals: no ties
    ref = np.where(is_max, dy[:, :, None, :, None, :], 0.0).reshape(POOL_SHAPE)
    np.testing.assert_array_equal(dx, ref)


def test_maxpool2d_torch(benchmark, pool_input):
    torch = pytest.importorskip("torch")
    import os
    torch.set_num_threads(os.cpu_count())
    benchmark.group = "maxpool2d 2x2 (128,30,30,32)"
    n, h, w, c = POOL_SHAPE
    x = torch.from_numpy(np.ascontiguousarray(pool_input.transpose(0, 3, 1, 2)))

    def run():
        with torch.no_grad():
            return torch.nn.functional.max_pool2d(x, 2)

    run()
    y = benchmark(run).numpy().transpose(0, 2, 3, 1)
    ref = pool_input.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    np.testing.assert_array_equal(y, ref)


# ------------------------------------------------------------------ fused Adam
ADAM_SIZE = 1 << 20  # ~1M parameters


@pytest.fixture(scope="module")
def first_layer():
    """The seed CNN's first Conv2D(32, 3, relu) + MaxPooling2D(2) at batch 128."""
    rng = np.random.default_rng(5)
    x = rng.random((128, 32, 32, 3), dtype=np.float32)
    w2 = (rng.standard_normal((27, 32), dtype=np.float32) / np.float32(math.sqrt(27)))
    return x, w2, rng.standard_normal(32, dtype=np.float32) * np.float32(0.1)


@pytest.mark.parametrize("impl", ["fused", "conv then pool"])
def test_conv_maxpool_forward(benchmark, ops, chunks, first_layer, impl):
    """What Conv2D + MaxPooling2D cost in inference: the fused op (pooling as the
    product's epilogue) against the two kernels the layers ran before it."""
    benchmark.group = "conv 3x3x3x32 relu + maxpool 2x2, (128,32,32,3)"
    x, w2, b = first_layer
    none = np.empty((0, 0, 0, 3), dtype=np.float32)
    y = np.full((128, 15, 15, 32), np.nan, dtype=np.float32)
    if impl == "fused":
        no_index = np.empty((0, 0, 0, 0), dtype=np.int8)
        run = lambda: ops.conv2d_pool_forward(x, w2, b, 3, 3, 1, 1, 0, 0, 2, 2, RELU, 0.0,
                                              none, y, no_index, chunks)
    else:
        z = np.empty((128 * 30 * 30, 32), dtype=np.float32)
        def run():
            ops.conv2d_forward(x, w2, b, 3, 3, 1, 1, 0, 0, 30, 30, RELU, 0.0, none, z, z, chunks)
            ops.maxpool2d_forward(z.reshape(128, 30, 30, 32), 2, 2, 2, 2, 0, 0, y)
    run()  # warm-up
    benchmark(run)
    cols = sliding_window_view(x.astype(np.float64), (3, 3), axis=(1, 2))
    z64 = cols.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 27) @ w2.astype(np.float64) + b
    want = np.maximum(z64, 0).reshape(128, 15, 2, 15, 2, 32).max(axis=(2, 4))
    assert _rel_err(y, want) < 1e-5


def test_conv_maxpool_backward(benchmark, ops, chunks):
    """The seed CNN's second convolution's backward pass at batch 128, fused with
    its 2x2 max pooling (Winograd: dw and dx in one pass over the tiles),
    checked against the float64 reference of the routed gradient."""
    benchmark.group = "conv 3x3x32x64 relu + maxpool 2x2 backward, (128,15,15,32)"
    rng = np.random.default_rng(13)
    x = rng.standard_normal((128, 15, 15, 32), dtype=np.float32)
    w2 = rng.standard_normal((288, 64), dtype=np.float32) / np.float32(math.sqrt(288))
    b = rng.standard_normal(64, dtype=np.float32) * np.float32(0.1)
    none = np.empty((0, 0, 0, 32), dtype=np.float32)
    y = np.empty((128, 6, 6, 64), dtype=np.float32)
    arg = np.empty(y.shape, dtype=np.int8)
    ops.conv2d_pool_forward(x, w2, b, 3, 3, 1, 1, 0, 0, 2, 2, RELU, 0.0, none, y, arg, chunks)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    dw2, db, dx = np.empty_like(w2), np.empty_like(b), np.empty_like(x)
    run = lambda: ops.conv2d_pool_backward(w2, x, y, arg, dy, 3, 3, 1, 1, 0, 0, 13, 13, 2, 2,
                                           RELU, 0.0, dw2, db, dx, chunks)
    run()  # warm-up
    benchmark(run)
    # each window's gradient (ReLU passed) at its maximum, then the plain gradients
    g = np.where(y > 0, dy, 0).astype(np.float64)
    dz = np.zeros((128, 13, 13, 64))
    ni, pi, qi, fi = np.indices(y.shape)
    dz[ni, 2 * pi + arg // 2, 2 * qi + arg % 2, fi] = g
    cols = sliding_window_view(x.astype(np.float64), (3, 3), axis=(1, 2))
    cols = cols.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 288)
    assert _rel_err(dw2, cols.T @ dz.reshape(-1, 64)) < 1e-5
    assert _rel_err(db, g.sum(axis=(0, 1, 2))) < 1e-5
    dcols = (dz.reshape(-1, 64) @ w2.astype(np.float64).T).reshape(128, 13, 13, 3, 3, 32)
    dx_ref = np.zeros(x.shape)
    for i in range(3):
        for j in range(3):
            dx_ref[:, i:i + 13, j:j + 13, :] += dcols[:, :, :, i, j, :]
    assert _rel_err(dx, dx_ref) < 1e-5


@pytest.mark.parametrize("split", ["by rows of dw", "by samples"])
@pytest.mark.parametrize("batch, features, units", [(32, 1024, 64), (128, 784, 256)])
def test_dense_weight_gradient(benchmark, ops, chunks, monkeypatch, batch, features, units,
                               split):
    """A dense layer's backward without dx (dz, db, dw): its short reduction split
    by rows of dw (the default, ``products._product``) against split by samples
    with per-thread partial dws added afterwards (forced here)."""
    from nbkeras.kernels.cpu import products
    if split == "by samples":
        monkeypatch.setattr(products, "_ROWS_EACH", 1 << 62)
    benchmark.group = f"dense weight gradient {features}->{units}, batch {batch}"
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, features), dtype=np.float32)
    w = rng.standard_normal((features, units), dtype=np.float32)
    z = rng.standard_normal((batch, units), dtype=np.float32)
    dy = rng.standard_normal((batch, units), dtype=np.float32)
    dz, dw, db = np.empty_like(z), np.empty_like(w), np.empty(units, np.float32)
    none = np.empty((0, 0), np.float32)
    run = lambda: ops.dense_backward(x, w, z, z, dy, RELU, np.float32(0), dz, dw, db, none,
                                     chunks)
    run()  # warm-up
    benchmark(run)
    _record_gflops(benchmark, 2.0 * batch * features * units)
    g = dy.astype(np.float64) * (z > 0)
    assert _rel_err(dw, x.T.astype(np.float64) @ g) < 1e-5
    assert _rel_err(db, g.sum(0)) < 1e-5


def _adam_reference(w, g, m, v, step, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    """Keras 3's Adam step in float32 NumPy (epsilon outside the sqrt)."""
    f = np.float32
    alpha = f(lr) * np.sqrt(f(1) - f(b2) ** f(step)) / (f(1) - f(b1) ** f(step))
    m = m + (g - m) * f(1 - b1)
    v = v + (g * g - v) * f(1 - b2)
    return w - (m * alpha) / (np.sqrt(v) + f(eps)), m, v


@pytest.fixture
def adam_state():
    rng = np.random.default_rng(5)
    w = rng.standard_normal(ADAM_SIZE, dtype=np.float32)
    g = rng.standard_normal(ADAM_SIZE, dtype=np.float32)
    m = rng.standard_normal(ADAM_SIZE, dtype=np.float32) * np.float32(0.1)
    v = np.abs(rng.standard_normal(ADAM_SIZE, dtype=np.float32)) * np.float32(0.01)
    return w, g, m, v


def test_adam_update_kernel(benchmark, ops, adam_state):
    """The fused Adam kernel: one parallel pass over a 1M-parameter arena."""
    benchmark.group = "adam update 1M params"
    w0, g, m0, v0 = adam_state
    w, m, v = w0.copy(), m0.copy(), v0.copy()
    empty = np.empty(0, dtype=np.float32)
    ops.adam_update(w, g, m, v, empty, 0.001, 0.9, 0.999, 1e-7, 3, False, 0.0)  # warm-up
    benchmark(ops.adam_update, w, g, m, v, empty, 0.001, 0.9, 0.999, 1e-7, 3, False, 0.0)
    # Check one step from a known state against Keras's formula.
    w, m, v = w0.copy(), m0.copy(), v0.copy()
    ops.adam_update(w, g, m, v, empty, 0.001, 0.9, 0.999, 1e-7, 3, False, 0.0)
    w_ref, m_ref, v_ref = _adam_reference(w0, g, m0, v0, 3)
    assert w.dtype == np.float32
    np.testing.assert_allclose(m, m_ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(v, v_ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(w, w_ref, rtol=1e-6, atol=1e-6)
    assert not np.array_equal(w, w0)


def test_adam_update_optimizer(benchmark, adam_state):
    """``nbkeras.optimizers.Adam().step(params, grads)``: the kernel plus the
    optimizer's Python bookkeeping, as a training step calls it."""
    import nbkeras
    benchmark.group = "adam update 1M params"
    w0, g, _, _ = adam_state
    opt = nbkeras.optimizers.Adam()
    opt.build([ADAM_SIZE])
    w = w0.copy()
    benchmark.pedantic(opt.step, args=(w, g), rounds=30, warmup_rounds=1)
    steps = opt.iterations
    assert steps >= 1
    # Replay the same number of steps with the reference from zero slots.
    w_ref = w0.copy()
    m = np.zeros_like(w0)
    v = np.zeros_like(w0)
    for t in range(1, steps + 1):
        w_ref, m, v = _adam_reference(w_ref, g, m, v, t)
    np.testing.assert_allclose(w, w_ref, rtol=1e-5, atol=1e-5 * steps)


def test_adam_update_numpy(benchmark, adam_state):
    """Baseline: the same step as vectorised NumPy (temporaries and all)."""
    benchmark.group = "adam update 1M params"
    w, g, m, v = adam_state
    out = benchmark(_adam_reference, w, g, m, v, 3)
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in out)


# ------------------------------------------------------------------ training steps
FIT_STEPS = 60  # steps on one fixed batch before its loss is checked
@pytest.mark.parametrize("batch", [32, 128])
def test_seed_cnn_train_step(benchmark, batch):
    """One ``train_on_batch`` (forward + backward + fused Adam) of the seed CNN on
    a fixed CIFAR-shaped batch. Repeating the step on one batch must fit it: the
    loss has to fall well below its starting value (~ln 10)."""
    benchmark.group = f"seed CNN train step, batch {batch}"
    model = seed_models.nbkeras_seed_cnn(seed=1)
    x, y = seed_models.random_data(batch, seed=2)
    steps = [float(model.train_on_batch(x, y))]  # also compiles / loads the kernels

    def step():
        steps.append(float(model.train_on_batch(x, y)))

    benchmark.pedantic(step, rounds=15, warmup_rounds=1)
    while len(steps) < FIT_STEPS:
        step()
    first, last = steps[0], steps[-1]
    assert abs(first - math.log(10)) < 0.5
    assert np.isfinite(last) and last < 0.8 * first
    probs = model.predict(x, batch_size=batch, verbose=0)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("batch", [32, 128])
def test_seed_cnn_fit_steps(benchmark, batch):
    """A fixed ``fit`` over 4 batches (the whole Keras loop: shuffling, gathering,
    callbacks, loss bookkeeping)."""
    benchmark.group = f"seed CNN fit 4 batches, batch {batch}"
    model = seed_models.nbkeras_seed_cnn(seed=1)
    x, y = seed_models.random_data(4 * batch, seed=2)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up
    history = benchmark.pedantic(model.fit, args=(x, y),
                                 kwargs={"batch_size": batch, "epochs": 1, "verbose": 0},
                                 rounds=5, warmup_rounds=0)
    loss = history.history["loss"]
    assert len(loss) == 1 and np.isfinite(loss[0]) and loss[0] < math.log(10) + 0.5


@pytest.mark.parametrize("batch", [32, 128])
def test_seed_cnn_train_step_torch(benchmark, batch):
    """The same network's training step in PyTorch, for scale."""
    torch = pytest.importorskip("torch")
    import os
    torch.set_num_threads(os.cpu_count())
    benchmark.group = f"seed CNN train step, batch {batch}"
    model, opt, loss_fn = seed_models.torch_seed_cnn(seed=1)
    x, y = seed_models.random_data(batch, seed=2)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)

    steps = []

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        steps.append(float(loss.item()))

    step()
    benchmark.pedantic(step, rounds=15, warmup_rounds=1)
    while len(steps) < FIT_STEPS:
        step()
    assert np.isfinite(steps[-1]) and steps[-1] < 0.8 * steps[0]

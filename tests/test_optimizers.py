"""Optimizer kernels and classes vs the NumPy reference, and vs Keras 3.

Numba compile time dominates: every kernel is called with one signature only
(float32 C arrays, Python floats, Python bools, int step), so it compiles once.
"""
import os

import numba
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference_optimizers as ref
from nbkeras import backend, optimizers
from nbkeras.kernels.cpu import optimizers as K

RTOL, ATOL = 1e-5, 1e-6
F32 = np.float32
EMPTY = np.zeros(0, dtype=F32)

KERNELS = ["sgd_update", "adagrad_update", "rmsprop_update", "adam_update",
           "clip_by_value", "clip_by_norm_segments", "clip_by_global_norm",
           "scale_inplace"]

# Variable sizes: size 1, odd sizes, the occasional empty variable.
sizes_st = st.lists(st.integers(0, 37), min_size=1, max_size=4).map(
    lambda s: [max(s[0], 1)] + s[1:])
size_st = st.one_of(st.just(1), st.integers(1, 257))
fast = settings(max_examples=12, deadline=None)


def rand(rng, n, scale=1.0):
    return (rng.standard_normal(n) * scale).astype(F32)


def split(flat, sizes):
    return np.split(flat, np.cumsum(sizes)[:-1])


def assert_f32_close(actual, expected, rtol=RTOL, atol=ATOL):
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=F32), rtol=rtol, atol=atol)


# ------------------------------------------------------------------ kernels
@fast
@given(n=size_st, seed=st.integers(0, 2**16), momentum=st.sampled_from([0.0, 0.5, 0.9]),
       nesterov=st.booleans(), wd=st.sampled_from([0.0, 0.1]))
def test_sgd_kernel(n, seed, momentum, nesterov, wd):
    rng = np.random.default_rng(seed)
    w = rand(rng, n)
    m = np.zeros(n, F32)
    rw, rm = w.copy(), m.copy()
    for _ in range(3):
        g = rand(rng, n)
        K.sgd_update(w, g, m if momentum else EMPTY, 0.05, momentum, nesterov, wd)
        if wd:
            rw = ref.weight_decay(rw, 0.05, wd)
        rw, rm = ref.sgd(rw, g, rm, 0.05, momentum, nesterov)
    assert_f32_close(w, rw)
    assert_f32_close(m, rm)


@fast
@given(n=size_st, seed=st.integers(0, 2**16), wd=st.sampled_from([0.0, 0.05]))
def test_adagrad_kernel(n, seed, wd):
    rng = np.random.default_rng(seed)
    w = rand(rng, n)
    acc = np.full(n, F32(0.1))
    rw, racc = w.copy(), acc.copy()
    for _ in range(3):
        g = rand(rng, n)
        K.adagrad_update(w, g, acc, 0.01, 1e-7, wd)
        if wd:
            rw = ref.weight_decay(rw, 0.01, wd)
        rw, racc = ref.adagrad(rw, g, racc, 0.01, 1e-7)
    assert_f32_close(w, rw)
    assert_f32_close(acc, racc)


@fast
@given(n=size_st, seed=st.integers(0, 2**16), momentum=st.sampled_from([0.0, 0.6]),
       centered=st.booleans(), rho=st.sampled_from([0.9, 0.5]))
def test_rmsprop_kernel(n, seed, momentum, centered, rho):
    rng = np.random.default_rng(seed)
    w = rand(rng, n)
    vel, mom, avg = (np.zeros(n, F32) for _ in range(3))
    rw, rvel, rmom, ravg = w.copy(), vel.copy(), mom.copy(), avg.copy()
    for _ in range(3):
        g = rand(rng, n)
        K.rmsprop_update(w, g, vel, mom if momentum else EMPTY, avg if centered else EMPTY,
                         0.01, rho, momentum, 1e-7, centered, 0.0)
        rw, rvel, rmom, ravg = ref.rmsprop(rw, g, rvel, rmom, ravg, 0.01, rho, momentum,
                                           1e-7, centered)
    assert_f32_close(w, rw)
    assert_f32_close(vel, rvel)
    assert_f32_close(mom, rmom)
    assert_f32_close(avg, ravg)


@fast
@given(n=size_st, seed=st.integers(0, 2**16), amsgrad=st.booleans(),
       wd=st.sampled_from([0.0, 0.004, 0.1]), start=st.sampled_from([0, 7]))
def test_adam_kernel(n, seed, amsgrad, wd, start):
    rng = np.random.default_rng(seed)
    w = rand(rng, n)
    m, v, vhat = (np.zeros(n, F32) for _ in range(3))
    rw, rm, rv, rvhat = w.copy(), m.copy(), v.copy(), vhat.copy()
    for it in range(start, start + 4):
        g = rand(rng, n, scale=0.1 if it % 2 else 1.0)  # v shrinks: vhat matters
        K.adam_update(w, g, m, v, vhat if amsgrad else EMPTY, 0.01, 0.9, 0.999, 1e-7,
                      it + 1, amsgrad, wd)
        if wd:
            rw = ref.weight_decay(rw, 0.01, wd)
        rw, rm, rv, rvhat = ref.adam(rw, g, rm, rv, rvhat, 0.01, 0.9, 0.999, 1e-7,
                                     it + 1, amsgrad)
    assert_f32_close(w, rw)
    assert_f32_close(m, rm)
    assert_f32_close(v, rv)
    assert_f32_close(vhat, rvhat)


@pytest.mark.parametrize("update", ["sgd", "adagrad", "rmsprop", "adam"])
def test_update_split_over_threads(update, monkeypatch):
    """An arena long enough to be split over the threads (``K._MIN_EACH``
    elements each, an odd remainder): every element is updated, once, by the
    rule, with every option on, and it was split over every thread there is."""
    n = 3 * K._MIN_EACH + 5
    chunks = []
    real = K.over_arena
    monkeypatch.setattr(K, "over_arena", lambda *args: chunks.append(args[-1]) or real(*args))
    rng = np.random.default_rng(7)
    w = rand(rng, n)
    slots = [np.full(n, F32(0.1 if update == "adagrad" else 0.0)) for _ in range(3)]
    rw, rs = w.copy(), [s.copy() for s in slots]
    for step in range(1, 4):
        g = rand(rng, n, scale=1.0 if step == 1 else 0.1)
        if update == "sgd":
            K.sgd_update(w, g, slots[0], 0.05, 0.9, True, 0.1)
            rw, rs[0] = ref.sgd(ref.weight_decay(rw, 0.05, 0.1), g, rs[0], 0.05, 0.9, True)
        elif update == "adagrad":
            K.adagrad_update(w, g, slots[0], 0.01, 1e-7, 0.1)
            rw, rs[0] = ref.adagrad(ref.weight_decay(rw, 0.01, 0.1), g, rs[0], 0.01, 1e-7)
        elif update == "rmsprop":
            K.rmsprop_update(w, g, *slots, 0.01, 0.9, 0.6, 1e-7, True, 0.0)
            rw, *rs = ref.rmsprop(rw, g, *rs, 0.01, 0.9, 0.6, 1e-7, True)
        else:
            K.adam_update(w, g, *slots, 0.01, 0.9, 0.999, 1e-7, step, True, 0.1)
            rw, *rs = ref.adam(ref.weight_decay(rw, 0.01, 0.1), g, *rs, 0.01, 0.9, 0.999,
                               1e-7, step, True)
    assert chunks == [min(numba.get_num_threads(), 3)] * 3
    assert_f32_close(w, rw)
    for slot, expected in zip(slots, rs):
        assert_f32_close(slot, expected)


@fast
@given(n=size_st, seed=st.integers(0, 2**16), clipvalue=st.sampled_from([0.1, 0.5, 3.0]))
def test_clip_by_value_kernel(n, seed, clipvalue):
    g = rand(np.random.default_rng(seed), n)
    expected = ref.clip_by_value(g, clipvalue)
    K.clip_by_value(g, clipvalue)
    assert_f32_close(g, expected, rtol=0, atol=0)


@fast
@given(sizes=sizes_st, seed=st.integers(0, 2**16), clipnorm=st.sampled_from([0.5, 2.0, 4.0]))
def test_clip_by_norm_segments_kernel(sizes, seed, clipnorm):
    rng = np.random.default_rng(seed)
    parts = [rand(rng, s, scale=float(rng.choice([0.05, 1.0]))) for s in sizes]
    g = np.concatenate(parts).astype(F32)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    norms = K.clip_by_norm_segments(g, offsets, clipnorm)
    assert norms.dtype == np.float32 and norms.shape == (len(sizes),)
    np.testing.assert_allclose(norms, [ref.l2_norm(p) for p in parts], rtol=RTOL)
    expected = np.concatenate([ref.clip_by_norm(p, clipnorm) for p in parts])
    assert_f32_close(g, expected)
    for p in split(g, sizes):
        assert ref.l2_norm(p) <= clipnorm * (1 + 1e-5)


@fast
@given(sizes=sizes_st, seed=st.integers(0, 2**16), clipnorm=st.sampled_from([0.5, 50.0]))
def test_clip_by_global_norm_kernel(sizes, seed, clipnorm):
    rng = np.random.default_rng(seed)
    parts = [rand(rng, s) for s in sizes]
    g = np.concatenate(parts).astype(F32)
    norm = K.clip_by_global_norm(g, clipnorm)
    np.testing.assert_allclose(norm, ref.l2_norm(np.concatenate(parts)), rtol=RTOL)
    assert_f32_close(g, np.concatenate(ref.clip_by_global_norm(parts, clipnorm)))


def test_clip_nonfinite_like_keras():
    g = np.array([1.0, np.inf, 2.0], F32)
    K.clip_by_global_norm(g, 1.0)
    assert np.isnan(g).all()  # Keras: a non-finite global norm poisons every gradient
    g = np.array([3.0, np.nan, 4.0, 3.0, 4.0], F32)
    K.clip_by_value(g, 1.0)
    assert np.isnan(g[1]) and g[0] == 1.0
    g = np.array([3.0, np.nan, 3.0, 4.0], F32)
    K.clip_by_norm_segments(g, np.array([0, 2, 4], np.int64), 1.0)
    assert np.isnan(g[:2]).all()
    assert_f32_close(g[2:], [0.6, 0.8])  # the other segment is clipped normally
    g = np.zeros(4, F32)
    K.clip_by_norm_segments(g, np.array([0, 4], np.int64), 1.0)  # zero norm: untouched
    assert (g == 0).all()


def test_scale_inplace_kernel():
    x = np.arange(5, dtype=F32)
    K.scale_inplace(x, 0.5)
    assert_f32_close(x, np.arange(5) * 0.5, rtol=0, atol=0)


def test_backend_exports_kernels():
    ops = backend.ops()
    missing = [k for k in KERNELS if not hasattr(ops, k)]
    assert not missing, f"nbkeras.kernels.cpu does not export {missing}"


# ------------------------------------------------------- optimizer classes
CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"momentum": 0.5, "weight_decay": 0.1, "clipvalue": 0.5}),
    ("adagrad", {}),
    ("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "clipnorm": 1.0}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5}),
    ("rmsprop", {"centered": True, "global_clipnorm": 1.0}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "rho": 0.8}),
    ("adam", {}),
    ("adam", {"amsgrad": True, "learning_rate": 0.05}),
    ("adam", {"clipnorm": 0.7}),
    ("adam", {"global_clipnorm": 0.7}),
    ("adam", {"clipvalue": 0.2, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
    ("adamw", {}),
    ("adamw", {"amsgrad": True, "weight_decay": 0.2, "learning_rate": 0.01}),
]
CLASSES = {"sgd": optimizers.SGD, "adagrad": optimizers.Adagrad,
           "rmsprop": optimizers.RMSprop, "adam": optimizers.Adam,
           "adamw": optimizers.AdamW}


def _grads(rng, sizes, step):
    # Different scales per variable and step: some segments clip, some do not.
    return [rand(rng, s, scale=[0.05, 1.0, 3.0][(k + step) % 3]) for k, s in enumerate(sizes)]


@pytest.mark.parametrize("kind,kwargs", CASES, ids=[f"{k}-{'-'.join(a) or 'default'}"
                                                    for k, a in CASES])
@settings(max_examples=3, deadline=None)
@given(sizes=sizes_st, seed=st.integers(0, 2**16))
def test_optimizer_matches_reference(kind, kwargs, sizes, seed):
    rng = np.random.default_rng(seed)
    opt = CLASSES[kind](**kwargs)
    reference = ref.RefOptimizer(kind, **kwargs)
    opt.build(sizes)
    params = rand(rng, sum(sizes))
    ref_params = split(params.copy(), sizes)
    for step in range(3):
        gs = _grads(rng, sizes, step)
        grads = np.concatenate(gs).astype(F32)
        opt.step(params, grads)
        ref_params = reference.apply(ref_params, gs)
    assert opt.iterations == 3
    assert params.dtype == np.float32
    assert all(a.dtype == np.float32 for a in opt._slots.values())
    assert_f32_close(params, np.concatenate(ref_params))


def test_apply_builds_for_one_variable():
    opt = optimizers.Adam(clipnorm=1.0)
    params = np.ones(5, F32)
    grads = np.full(5, 2.0, F32)
    opt.step(params, grads)
    assert opt.built and opt._sizes == [5] and opt.iterations == 1
    np.testing.assert_allclose(grads, np.full(5, 1 / np.sqrt(5)), rtol=1e-6)  # clipped in place
    with pytest.raises(ValueError):
        opt.step(np.ones(4, F32), np.ones(4, F32))
    with pytest.raises(TypeError):
        opt.step(np.ones(5, np.float64), np.ones(5, np.float64))


def test_learning_rate_float_and_schedule():
    opt = optimizers.SGD(learning_rate=0.5)
    assert opt.learning_rate == 0.5
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25 and isinstance(opt.learning_rate, float)
    params, grads = np.ones(3, F32), np.ones(3, F32)
    opt.step(params, grads)
    assert_f32_close(params, np.full(3, 0.75))

    seen = []

    def schedule(step):
        seen.append(step)
        return 0.1 / (step + 1)

    opt = optimizers.SGD(learning_rate=schedule)
    params = np.ones(3, F32)
    for _ in range(3):
        opt.step(params, np.ones(3, F32))
    assert seen[:3] == [0, 1, 2]  # evaluated at iterations before the step
    assert_f32_close(params, np.full(3, 1 - 0.1 - 0.05 - 0.1 / 3))
    assert opt.learning_rate == pytest.approx(0.1 / 4)
    with pytest.raises(TypeError):
        opt.learning_rate = 0.1
    opt = optimizers.Adam(learning_rate=lambda: 0.02)  # Keras calls plain callables with no args
    assert opt.learning_rate == 0.02


def test_constructor_validation():
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="not recognized"):
        optimizers.Adam(beta1=0.9)
    with pytest.raises(ValueError):
        optimizers.Adam(learning_rate="fast")
    with pytest.raises(NotImplementedError):
        optimizers.Adam(use_ema=True)


def test_defaults_and_config_roundtrip():
    adam = optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == \
        (0.001, 0.9, 0.999, 1e-7, False)
    assert optimizers.SGD().learning_rate == 0.01
    assert optimizers.AdamW().weight_decay == 0.004
    assert optimizers.Adagrad().initial_accumulator_value == 0.1
    r = optimizers.RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered) == (0.001, 0.9, 0.0, 1e-7, False)
    for cls, kwargs in [(optimizers.SGD, {"momentum": 0.9, "nesterov": True}),
                        (optimizers.RMSprop, {"centered": True, "rho": 0.8}),
                        (optimizers.Adagrad, {"initial_accumulator_value": 0.2}),
                        (optimizers.Adam, {"amsgrad": True, "clipnorm": 1.0}),
                        (optimizers.AdamW, {"weight_decay": 0.1, "global_clipnorm": 2.0})]:
        opt = cls(learning_rate=0.05, **kwargs)
        config = opt.get_config()
        for k, v in kwargs.items():
            assert config[k] == v
        clone = cls.from_config(config)
        assert clone.get_config() == config
        again = optimizers.deserialize(optimizers.serialize(opt))
        assert type(again) is cls and again.get_config() == config
    assert optimizers.RMSprop().name.startswith("rm_sprop")  # Keras's snake case


def test_get_resolution():
    for name, cls in [("adam", optimizers.Adam), ("Adam", optimizers.Adam),
                      ("SGD", optimizers.SGD), ("rmsprop", optimizers.RMSprop),
                      ("RMSprop", optimizers.RMSprop), ("adagrad", optimizers.Adagrad),
                      ("AdamW", optimizers.AdamW), ("adamw", optimizers.AdamW)]:
        assert type(optimizers.get(name)) is cls
    opt = optimizers.SGD()
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None
    got = optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.3}})
    assert type(got) is optimizers.Adam and got.learning_rate == 0.3
    got = optimizers.get({"class_name": "sgd", "config": {"momentum": 0.5}})
    assert type(got) is optimizers.SGD and got.momentum == 0.5
    with pytest.raises(ValueError, match="nadamax") as info:
        optimizers.get("nadamax")
    for known in ("adam", "sgd", "rmsprop", "adagrad", "adamw"):
        assert known in str(info.value)
    with pytest.raises(ValueError):
        optimizers.get({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError):
        optimizers.get(42)


def test_variables_order_and_state_roundtrip():
    opt = optimizers.Adam(amsgrad=True)
    opt.build([(2, 3), 4])
    params = np.ones(10, F32)
    opt.step(params, np.linspace(-1, 1, 10).astype(F32))
    names = [v.shape for v in opt.variables]
    # iterations, lr, (m0, v0, m1, v1), (vhat0, vhat1): Keras's order
    assert names == [(), (), (2, 3), (2, 3), (4,), (4,), (2, 3), (4,)]
    store = {}
    opt.save_own_variables(store)
    other = optimizers.Adam(amsgrad=True)
    other.build([(2, 3), 4])
    other.load_own_variables(store)
    assert other.iterations == 1
    for a, b in zip(opt.variables, other.variables):
        np.testing.assert_array_equal(a, b)


def test_loss_scale_factor():
    opt = optimizers.SGD(learning_rate=1.0, loss_scale_factor=4.0)
    assert opt.scale_loss(2.0) == 8.0
    params, grads = np.zeros(3, F32), np.full(3, 4.0, F32)
    opt.step(params, grads)
    assert_f32_close(params, np.full(3, -1.0))


def test_custom_subclass_gets_weight_decay():
    class PlainSGD(optimizers.Optimizer):
        def update_step(self, gradient, variable, learning_rate):
            variable -= np.float32(learning_rate) * gradient

    opt = PlainSGD(learning_rate=0.1, weight_decay=0.5)
    params = np.ones(3, F32)
    opt.step(params, np.ones(3, F32))
    assert_f32_close(params, np.full(3, (1 - 0.5 * 0.1) - 0.1))


# ------------------------------------------------------------ Keras parity
KERAS_CASES = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "epsilon": 0.1}),
    ("Adagrad", {"learning_rate": 0.1, "clipvalue": 0.5}),
    ("Adagrad", {"learning_rate": 0.1, "epsilon": 0.1, "initial_accumulator_value": 0.0}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "clipnorm": 1.0}),
    ("Adam", {"learning_rate": 0.01, "global_clipnorm": 1.0, "epsilon": 0.1}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
]


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("name,kwargs", KERAS_CASES,
                         ids=[f"{n}-{'-'.join(k)}" for n, k in KERAS_CASES])
def test_keras_parity(keras, name, kwargs):
    rng = np.random.default_rng(1234)
    shapes = [(3, 4), (5,), (2, 1, 3)]
    values = [rand(rng, int(np.prod(s))).reshape(s) for s in shapes]
    kvars = [keras.Variable(v, dtype="float32") for v in values]
    kopt = getattr(keras.optimizers, name)(**kwargs)
    opt = getattr(optimizers, name)(**kwargs)
    opt.build([int(np.prod(s)) for s in shapes])
    params = np.concatenate([v.ravel() for v in values]).astype(F32)
    for step in range(3):
        grads = [rand(rng, v.size, scale=[0.1, 1.0, 4.0][(k + step) % 3]).reshape(v.shape)
                 for k, v in enumerate(values)]
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], kvars))
        opt.step(params, np.concatenate([g.ravel() for g in grads]).astype(F32))
    expected = np.concatenate([keras.ops.convert_to_numpy(v.value).ravel() for v in kvars])
    assert opt.iterations == int(keras.ops.convert_to_numpy(kopt.iterations.value)) == 3
    np.testing.assert_allclose(params, expected, rtol=RTOL, atol=ATOL)

"""Batch/layer normalization and accumulate kernels against the NumPy reference.

Forward passes are checked against float64 references; backward passes against
the hand-derived float64 gradients (randomized) and against finite differences
of the float64 forward (small fixed shapes, which also checks the derivation).

The kernels compute in float32, where xhat = (x - mean) * inv_std carries the
rounding of x - mean (a few ulps of max|x|) magnified by inv_std: a channel
whose values are close together against their size (two rows, nearly equal
values) is ill-conditioned. The tolerances grow with that magnification
(``cond`` = max|x| * inv_std per channel or row, a few units normally), so
they stay tight for ordinary data and still test ill-conditioned inputs.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import reference as ref

F32 = np.float32
EPS = 1e-3
FWD = dict(rtol=1e-4, atol=1e-5)
BWD = dict(rtol=1e-4, atol=1e-4)
FD = dict(rtol=1e-3, atol=1e-3)
U16 = 16 * 2.0 ** -24  # 16 float32 ulps of 1: a generous bound on rounding in x - mean

chunks_st = st.integers(1, 3)
cols_st = st.integers(1, 40)
seed_st = st.integers(0, 2**16)


def _empty1():
    return np.empty(0, F32)


def _empty2():
    return np.empty((0, 0), F32)


def _data(seed, rows, cols):
    """x with per-column offsets and scales, dy, gamma, beta."""
    rng = np.random.default_rng(seed)
    offset = rng.uniform(-3, 3, cols)
    scale = rng.uniform(0.5, 2, cols)
    x = (rng.standard_normal((rows, cols)) * scale + offset).astype(F32)
    dy = rng.standard_normal((rows, cols)).astype(F32)
    gamma = rng.uniform(0.5, 1.5, cols).astype(F32) * rng.choice([-1, 1], cols).astype(F32)
    beta = rng.standard_normal(cols).astype(F32)
    return x, dy, gamma, beta


def _bn_forward(ops, x, gamma, beta, chunks, eps=EPS, in_place=False):
    cols = x.shape[1]
    mean, var, inv_std = np.empty(cols, F32), np.empty(cols, F32), np.empty(cols, F32)
    y = x if in_place else np.full_like(x, np.nan)
    ops.batchnorm_train_forward(x, gamma, beta, eps, y, mean, var, inv_std, chunks)
    return y, mean, var, inv_std


def _ln_forward(ops, x, gamma, beta, chunks, eps=EPS, in_place=False):
    rows = x.shape[0]
    mean, inv_std = np.empty(rows, F32), np.empty(rows, F32)
    y = x if in_place else np.full_like(x, np.nan)
    ops.layernorm_forward(x, gamma, beta, eps, y, mean, inv_std, chunks)
    return y, mean, inv_std


def _f32(*arrays):
    for a in arrays:
        assert a.dtype == np.float32


def _close(actual, desired, rtol, atol):
    """assert_allclose with array (broadcast) tolerances; NaN never passes."""
    actual = np.asarray(actual, np.float64)
    excess = np.abs(actual - desired) - (atol + rtol * np.abs(desired))
    bad = ~(excess <= 0)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(excess, nan=np.inf), -1)),
                             bad.shape)
        raise AssertionError(f"{bad.sum()} of {bad.size} elements off; at {i}: actual "
                             f"{actual[i]!r}, desired {desired[i]!r}, excess {excess[i]!r}")


def _xhat_error(x, axis, inv_std, xhat):
    """Elementwise bound on the float32 error of xhat (per channel: axis 0; per
    row: axis 1): rounding of x - mean times inv_std, plus that of inv_std."""
    cond = np.expand_dims(np.abs(x).max(axis) * inv_std, axis)
    return U16 * cond * (1 + np.abs(xhat))


# ---------------------------------------------------------------- batch norm

@given(rows=st.integers(2, 70), cols=cols_st, chunks=chunks_st, seed=seed_st,
       has_gamma=st.booleans(), has_beta=st.booleans(), in_place=st.booleans(),
       eps=st.sampled_from([1e-3, 1e-5]))
def test_batchnorm_train_forward(ops, rows, cols, chunks, seed, has_gamma, has_beta,
                                 in_place, eps):
    x, _, gamma, beta = _data(seed, rows, cols)
    want, want_mean, want_var = ref.batchnorm_train(x, gamma if has_gamma else None,
                                                    beta if has_beta else None, eps)
    y, mean, var, inv_std = _bn_forward(ops, x.copy(), gamma if has_gamma else _empty1(),
                                        beta if has_beta else _empty1(), chunks, eps, in_place)
    _f32(y, mean, var, inv_std)
    want_inv = 1 / np.sqrt(want_var + eps)
    cond = np.abs(x).max(0) * want_inv
    xhat = (x - want_mean) * want_inv
    np.testing.assert_allclose(mean, want_mean, **FWD)
    _close(var, want_var, 1e-4, 1e-6 + 2 * U16 * np.abs(x).max(0) * np.sqrt(want_var))
    _close(inv_std, want_inv, 1e-4 + U16 * cond, 1e-5)
    err = _xhat_error(x, 0, want_inv, xhat) * (np.abs(gamma) if has_gamma else 1)
    _close(y, want, 1e-4, 1e-5 + err)


def test_batchnorm_variance_is_two_pass(ops):
    """A large common offset: a one-pass E[x^2] - E[x]^2 in float32 loses it all."""
    rng = np.random.default_rng(3)
    x = (1000 + rng.standard_normal((64, 3)) * 0.01).astype(F32)
    _, _, var, _ = _bn_forward(ops, x, _empty1(), _empty1(), 3)
    np.testing.assert_allclose(var, x.astype(np.float64).var(0), rtol=1e-2)


@given(rows=st.integers(1, 70), cols=cols_st, chunks=chunks_st, seed=seed_st,
       has_gamma=st.booleans(), has_beta=st.booleans(), in_place=st.booleans())
def test_batchnorm_infer_forward(ops, rows, cols, chunks, seed, has_gamma, has_beta, in_place):
    x, _, gamma, beta = _data(seed, rows, cols)
    rng = np.random.default_rng(seed + 1)
    mm = rng.standard_normal(cols).astype(F32)
    mv = rng.uniform(0.01, 3, cols).astype(F32)
    g, b = (gamma if has_gamma else None), (beta if has_beta else None)
    want = ref.batchnorm_infer(x, g, b, mm, mv, EPS)
    xin = x.copy()
    y = xin if in_place else np.full_like(x, np.nan)
    ops.batchnorm_infer_forward(xin, gamma if has_gamma else _empty1(),
                                beta if has_beta else _empty1(), mm, mv, EPS, y, chunks)
    _f32(y)
    np.testing.assert_allclose(y, want, **FWD)


@given(rows=st.integers(2, 70), cols=cols_st, chunks=chunks_st, seed=seed_st,
       has_gamma=st.booleans(), has_dx=st.booleans(), has_dparams=st.booleans(),
       in_place=st.booleans())
def test_batchnorm_backward(ops, rows, cols, chunks, seed, has_gamma, has_dx, has_dparams,
                            in_place):
    x, dy, gamma, beta = _data(seed, rows, cols)
    g = gamma if has_gamma else _empty1()
    _, mean, _, inv_std = _bn_forward(ops, x, g, beta, chunks)
    want_dx, want_dg, want_db = ref.batchnorm_train_backward(x, gamma if has_gamma else None,
                                                            EPS, dy)
    dyin = dy.copy()
    dx = (dyin if in_place else np.full_like(x, np.nan)) if has_dx else _empty2()
    dgamma = np.full(cols, np.nan, F32) if has_dparams else _empty1()
    dbeta = np.full(cols, np.nan, F32) if has_dparams else _empty1()
    ops.batchnorm_backward(x, g, mean, inv_std, dyin, dx, dgamma, dbeta, chunks)
    _, mean64, var64 = ref.batchnorm_train(x, None, None, EPS)
    inv64 = 1 / np.sqrt(var64 + EPS)
    xhat = (x - mean64) * inv64
    err = _xhat_error(x, 0, inv64, xhat)  # (rows, C)
    if has_dx:
        _f32(dx)
        k = inv64 * (np.abs(gamma) if has_gamma else 1)
        bound = 4 * k * err.max(0) * np.abs(dy).max(0) * (1 + np.abs(xhat))
        _close(dx, want_dx, BWD["rtol"], BWD["atol"] + bound)
    else:
        np.testing.assert_array_equal(dyin, dy)
    if has_dparams:
        _f32(dgamma, dbeta)
        _close(dgamma, want_dg, BWD["rtol"], BWD["atol"] + (np.abs(dy) * err).sum(0))
        np.testing.assert_allclose(dbeta, want_db, **BWD)


def test_batchnorm_backward_only_dgamma_or_dbeta(ops):
    x, dy, gamma, _ = _data(5, 9, 4)
    _, mean, _, inv_std = _bn_forward(ops, x, gamma, _empty1(), 2)
    _, want_dg, want_db = ref.batchnorm_train_backward(x, gamma, EPS, dy)
    dgamma = np.full(4, np.nan, F32)
    ops.batchnorm_backward(x, gamma, mean, inv_std, dy, _empty2(), dgamma, _empty1(), 2)
    np.testing.assert_allclose(dgamma, want_dg, **BWD)
    dbeta = np.full(4, np.nan, F32)
    ops.batchnorm_backward(x, gamma, mean, inv_std, dy, _empty2(), _empty1(), dbeta, 2)
    np.testing.assert_allclose(dbeta, want_db, **BWD)


@pytest.mark.parametrize("rows,cols", [(2, 3), (5, 1), (7, 4)])
@pytest.mark.parametrize("has_gamma", [True, False])
def test_batchnorm_backward_finite_differences(ops, rows, cols, has_gamma):
    x, dy, gamma, beta = _data(rows * 10 + cols, rows, cols)
    g = gamma if has_gamma else _empty1()
    _, mean, _, inv_std = _bn_forward(ops, x, g, beta, 2)
    dx, dgamma, dbeta = np.empty_like(x), np.empty(cols, F32), np.empty(cols, F32)
    ops.batchnorm_backward(x, g, mean, inv_std, dy, dx, dgamma, dbeta, 2)
    g64 = gamma.astype(np.float64) if has_gamma else None
    loss = lambda x_, g_, b_: float((ref.batchnorm_train(x_, g_, b_, EPS)[0] * dy).sum())
    np.testing.assert_allclose(dx, ref.numeric_grad(lambda v: loss(v, g64, beta), x), **FD)
    np.testing.assert_allclose(dgamma, ref.numeric_grad(lambda v: loss(x, v, beta), gamma), **FD)
    np.testing.assert_allclose(dbeta, ref.numeric_grad(lambda v: loss(x, g64, v), beta), **FD)


# ---------------------------------------------------------------- layer norm

@given(rows=st.integers(1, 70), cols=cols_st, chunks=chunks_st, seed=seed_st,
       has_gamma=st.booleans(), has_beta=st.booleans(), in_place=st.booleans(),
       eps=st.sampled_from([1e-3, 1e-5]))
def test_layernorm_forward(ops, rows, cols, chunks, seed, has_gamma, has_beta, in_place, eps):
    x, _, gamma, beta = _data(seed, rows, cols)
    x = np.ascontiguousarray(x.T.reshape(rows, cols)) if seed % 2 else x  # rows of mixed scale
    want, want_mean, want_inv = ref.layernorm(x, gamma if has_gamma else None,
                                              beta if has_beta else None, eps)
    y, mean, inv_std = _ln_forward(ops, x.copy(), gamma if has_gamma else _empty1(),
                                   beta if has_beta else _empty1(), chunks, eps, in_place)
    _f32(y, mean, inv_std)
    xhat = (x - want_mean[:, None]) * want_inv[:, None]
    np.testing.assert_allclose(mean, want_mean, **FWD)
    _close(inv_std, want_inv, 1e-4 + U16 * np.abs(x).max(1) * want_inv, 1e-5)
    err = _xhat_error(x, 1, want_inv, xhat) * (np.abs(gamma) if has_gamma else 1)
    _close(y, want, 1e-4, 1e-5 + err)


def test_layernorm_forward_without_statistics(ops):
    x, _, gamma, beta = _data(9, 6, 5)
    y = np.empty_like(x)
    ops.layernorm_forward(x, gamma, beta, EPS, y, _empty1(), _empty1(), 2)
    np.testing.assert_allclose(y, ref.layernorm(x, gamma, beta, EPS)[0], **FWD)


@given(rows=st.integers(1, 70), cols=cols_st, chunks=chunks_st, seed=seed_st,
       has_gamma=st.booleans(), has_dx=st.booleans(), has_dgamma=st.booleans(),
       has_dbeta=st.booleans(), in_place=st.booleans())
def test_layernorm_backward(ops, rows, cols, chunks, seed, has_gamma, has_dx, has_dgamma,
                            has_dbeta, in_place):
    x, dy, gamma, beta = _data(seed, rows, cols)
    g = gamma if has_gamma else _empty1()
    _, mean, inv_std = _ln_forward(ops, x, g, beta, chunks)
    want_dx, want_dg, want_db = ref.layernorm_backward(x, gamma if has_gamma else None, EPS, dy)
    dyin = dy.copy()
    dx = (dyin if in_place else np.full_like(x, np.nan)) if has_dx else _empty2()
    dgamma = np.full(cols, np.nan, F32) if has_dgamma else _empty1()
    dbeta = np.full(cols, np.nan, F32) if has_dbeta else _empty1()
    ops.layernorm_backward(x, g, mean, inv_std, dyin, dx, dgamma, dbeta, chunks)
    _, mean64, inv64 = ref.layernorm(x, None, None, EPS)
    xhat = (x - mean64[:, None]) * inv64[:, None]
    err = _xhat_error(x, 1, inv64, xhat)  # (rows, F)
    if has_dx:
        _f32(dx)
        gdy = np.abs(dy * gamma) if has_gamma else np.abs(dy)
        bound = 4 * (inv64 * err.max(1) * gdy.max(1))[:, None] * (1 + np.abs(xhat))
        _close(dx, want_dx, BWD["rtol"], BWD["atol"] + bound)
    else:
        np.testing.assert_array_equal(dyin, dy)
    if has_dgamma:
        _f32(dgamma)
        _close(dgamma, want_dg, BWD["rtol"], BWD["atol"] + (np.abs(dy) * err).sum(0))
    if has_dbeta:
        _f32(dbeta)
        np.testing.assert_allclose(dbeta, want_db, **BWD)


@pytest.mark.parametrize("rows,cols", [(1, 4), (3, 1), (4, 2), (5, 6)])
@pytest.mark.parametrize("has_gamma", [True, False])
def test_layernorm_backward_finite_differences(ops, rows, cols, has_gamma):
    x, dy, gamma, beta = _data(rows * 10 + cols, rows, cols)
    g = gamma if has_gamma else _empty1()
    _, mean, inv_std = _ln_forward(ops, x, g, beta, 3)
    dx, dgamma, dbeta = np.empty_like(x), np.empty(cols, F32), np.empty(cols, F32)
    ops.layernorm_backward(x, g, mean, inv_std, dy, dx, dgamma, dbeta, 3)
    g64 = gamma.astype(np.float64) if has_gamma else None
    loss = lambda x_, g_, b_: float((ref.layernorm(x_, g_, b_, EPS)[0] * dy).sum())
    np.testing.assert_allclose(dx, ref.numeric_grad(lambda v: loss(v, g64, beta), x), **FD)
    np.testing.assert_allclose(dgamma, ref.numeric_grad(lambda v: loss(x, v, beta), gamma), **FD)
    np.testing.assert_allclose(dbeta, ref.numeric_grad(lambda v: loss(x, g64, v), beta), **FD)


# ---------------------------------------------------------------- accumulate

@given(n=st.integers(0, 300), chunks=chunks_st, seed=seed_st)
def test_accumulate(ops, n, chunks, seed):
    rng = np.random.default_rng(seed)
    dst = rng.standard_normal(n).astype(F32)
    src = rng.standard_normal(n).astype(F32)
    want = dst.astype(np.float64) + src
    before = src.copy()
    ops.accumulate(dst, src, chunks)
    _f32(dst)
    np.testing.assert_allclose(dst, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(src, before)


# ---------------------------------------------------------------- float32 discipline

def _float64_lines(annotation):
    """Lines of a Numba type annotation (fresh or from the on-disk cache, where it
    is kept as text) whose value is typed float64, bar the ``epsilon`` argument."""
    wide = []
    for line in str(annotation).splitlines():
        if " :: " not in line or "name=epsilon)" in line:
            continue
        typ = line.rsplit(" :: ", 1)[1].rsplit("->", 1)[-1]
        if "float64" in typ:
            wide.append(line.strip())
    return wide


def test_compiled_for_float32_only(ops):
    """Every signature takes float32 C arrays (plus epsilon and chunks), and no
    value in any kernel is typed float64 but the ``epsilon`` argument (a Python
    float, rounded at once): no float64 literal promoted the arithmetic.

    Helpers are checked when this process compiled them (a kernel loaded from
    the on-disk cache does not compile its helpers); the cache is keyed on the
    kernel sources, so the first run after any kernel edit checks them all."""
    if not hasattr(ops.batchnorm_train_forward, "nopython_signatures"):
        pytest.skip("Numba CPU dispatchers only")
    from numba import types
    from numba.core.registry import CPUDispatcher
    from nbkeras.kernels.cpu import elementwise, normalization

    x, dy, gamma, beta = _data(0, 6, 3)
    _, mean, var, inv_std = _bn_forward(ops, x, gamma, beta, 2)
    ops.batchnorm_infer_forward(x, gamma, beta, mean, var, EPS, np.empty_like(x), 2)
    ops.batchnorm_backward(x, gamma, mean, inv_std, dy, np.empty_like(x), np.empty(3, F32),
                           np.empty(3, F32), 2)
    _, lmean, linv = _ln_forward(ops, x, gamma, beta, 2)
    ops.layernorm_backward(x, gamma, lmean, linv, dy, np.empty_like(x), np.empty(3, F32),
                           np.empty(3, F32), 2)
    ops.accumulate(np.zeros(5, F32), np.ones(5, F32), 2)

    public = ["batchnorm_train_forward", "batchnorm_infer_forward", "batchnorm_backward",
              "layernorm_forward", "layernorm_backward", "accumulate"]
    for name in public:
        sigs = getattr(ops, name).nopython_signatures
        assert sigs, name
        for sig in sigs:
            for arg in sig.args:
                if isinstance(arg, types.Array):
                    assert arg.dtype == types.float32 and arg.layout == "C", (name, sig)
                else:
                    assert arg in (types.float64, types.int64), (name, sig)

    dispatchers = [d for m in (normalization, elementwise) for d in vars(m).values()
                   if isinstance(d, CPUDispatcher) and d.__module__ == m.__name__]
    assert {d.__name__ for d in dispatchers} >= set(public)
    for d in dispatchers:
        for cres in d.overloads.values():
            assert not _float64_lines(cres.type_annotation), d.__name__

"""Tests of ``nbkeras.ops``: forward values and dtypes against NumPy / float64
references, every differentiable op's gradient against float64 central finite
differences, Python operators on Variables and tensors, gradient fan-out, the
GradientTape API and the error messages of bad input.

Gradient checks use L = sum(op(x...) * w) for a fixed random ``w``: the tape's
gradient of L (float32) is compared with central differences of the same L
computed in float64 on a plain NumPy reference. Inputs are drawn away from the
points where an op is not differentiable (ties, kinks, zeros, clip bounds).
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import nbkeras
from nbkeras import ops

F32 = np.float32
SEEDS = st.integers(0, 2**16)
SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
# gradient checks run about half the profile's examples (8 under the default profile)
GRAD_SETTINGS = settings(max_examples=max(8, settings.default.max_examples // 2))


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def _signs(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape)


def _distinct(rng, shape):
    """Values at least 0.06 apart (no ties for max/min/argmax)."""
    n = int(np.prod(shape, dtype=int))
    return ((rng.permutation(n) - n / 2) * 0.1 + rng.uniform(-0.02, 0.02, n)).reshape(shape)


DOMAINS = {
    "normal": lambda rng, s: rng.normal(size=s),
    "pos": lambda rng, s: rng.uniform(0.5, 2.0, size=s),
    "gt_m1": lambda rng, s: rng.uniform(-0.5, 2.0, size=s),
    # |x| in [0.3, 1.9]: away from 0 (abs, sign, relu kinks) and from mod's jumps at +-2
    "away0": lambda rng, s: _signs(rng, s) * rng.uniform(0.3, 1.9, size=s),
    "distinct": _distinct,
    # |x| at least 0.06 apart (no ties for the inf-norms)
    "distinct_abs": lambda rng, s: _signs(rng, s) * (_distinct(rng, s) + 10),
    # odd and even multiples of 0.1: an "odd" value never ties with an "even" one
    "odd_grid": lambda rng, s: (2 * rng.integers(-10, 10, size=s) + 1) * 0.1,
    "even_grid": lambda rng, s: 2 * rng.integers(-10, 10, size=s) * 0.1,
    # away from the clip bounds +-0.5 used by the clip tests
    "clip": lambda rng, s: _signs(rng, s) * np.where(rng.random(s) < 0.5,
                                                     rng.uniform(0.0, 0.4, s),
                                                     rng.uniform(0.6, 2.0, s)),
}


def f32(x):
    """``x`` rounded to float32, kept as float64 (so the float32 op and the float64
    reference see the same numbers)."""
    return np.asarray(x, dtype=F32).astype(np.float64)


def make(shape, seed=0, domain="normal"):
    """float64 test values of ``shape`` from ``domain``, exactly representable in float32."""
    return f32(DOMAINS[domain](np.random.default_rng(seed), tuple(shape)))


def assert_f32_array(out):
    assert type(out) is np.ndarray, f"expected a NumPy array, got {type(out).__name__}"
    assert out.dtype == np.float32, f"expected float32, got {out.dtype}"


def assert_close(got, want, rtol=2e-5, atol=1e-6):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol)


def tape_gradients(fn, xs, w, sources="arrays"):
    """Gradients of sum(fn(*sources) * w) on a GradientTape; the sources are float32
    copies of ``xs``, as watched arrays or as (automatically watched) Variables."""
    if sources == "variables":
        srcs = [nbkeras.Variable(x.astype(F32)) for x in xs]
    else:
        srcs = [x.astype(F32) for x in xs]
    with nbkeras.GradientTape() as tape:
        if sources == "arrays":
            tape.watch(srcs)
        loss = ops.sum(ops.multiply(fn(*srcs), w.astype(F32)))
    return tape.gradient(loss, srcs)


def numeric_gradients(ref, xs, w, eps=1e-6):
    """Central differences of sum(ref(*xs) * w), in float64."""
    xs = [np.array(x, dtype=np.float64) for x in xs]

    def loss():
        return float(np.sum(np.asarray(ref(*xs), dtype=np.float64) * w))
    grads = []
    for x in xs:
        g = np.zeros(x.shape)
        flat, g_flat = x.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            v = flat[i]
            flat[i] = v + eps
            up = loss()
            flat[i] = v - eps
            down = loss()
            flat[i] = v
            g_flat[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def check_grad(fn, ref, *xs, sources="arrays", rtol=2e-3, atol=2e-4, seed=0):
    """Tape gradient of ``fn`` == finite differences of its float64 reference ``ref``."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    out = np.asarray(ref(*xs), dtype=np.float64)
    w = make(out.shape, seed + 7919)
    got = tape_gradients(fn, xs, w, sources)
    want = numeric_gradients(ref, xs, w)
    for i, (g, e) in enumerate(zip(got, want)):
        assert g is not None, f"no gradient for input {i}"
        assert_f32_array(g)
        scale = max(1.0, float(np.abs(e).max())) if e.size else 1.0
        assert g.shape == e.shape, f"input {i}: gradient shape {g.shape} != {e.shape}"
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol * scale,
                                   err_msg=f"gradient of input {i}")


# ----------------------------------------------------------------------------
# float64 references
# ----------------------------------------------------------------------------
_erf = np.vectorize(math.erf, otypes=[np.float64])
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(x))


def _leaky_relu(x, slope=0.2):
    return np.where(x > 0, x, slope * x)


# name: (op, float64 reference, input domain, returns float on int input)
UNARY = {
    "negative": (ops.negative, np.negative, "normal", False),
    "sqrt": (ops.sqrt, np.sqrt, "pos", True),
    "square": (ops.square, np.square, "normal", False),
    "exp": (ops.exp, np.exp, "normal", True),
    "log": (ops.log, np.log, "pos", True),
    "log1p": (ops.log1p, np.log1p, "gt_m1", True),
    "abs": (ops.abs, np.abs, "away0", False),
    "sign": (ops.sign, np.sign, "away0", False),
    "cos": (ops.cos, np.cos, "normal", True),
    "sin": (ops.sin, np.sin, "normal", True),
    "erf": (ops.erf, _erf, "normal", True),
    "relu": (ops.relu, lambda x: np.maximum(x, 0), "away0", True),
    "sigmoid": (ops.sigmoid, _sigmoid, "normal", True),
    "tanh": (ops.tanh, np.tanh, "normal", True),
    "softplus": (ops.softplus, lambda x: np.logaddexp(0, x), "normal", True),
    "softsign": (ops.softsign, lambda x: x / (1 + np.abs(x)), "normal", True),
    "silu": (ops.silu, lambda x: x * _sigmoid(x), "normal", True),
    "selu": (ops.selu, lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA), "away0", True),
    # Keras defaults: gelu approximate=True, elu alpha=1.0, leaky_relu slope 0.2
    "gelu": (ops.gelu, _gelu_tanh, "normal", True),
    "gelu_exact": (lambda x: ops.gelu(x, approximate=False),
                   lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), "normal", True),
    "elu": (ops.elu, _elu, "away0", True),
    "elu_alpha": (lambda x: ops.elu(x, alpha=0.5), lambda x: _elu(x, 0.5), "away0", True),
    "leaky_relu": (ops.leaky_relu, _leaky_relu, "away0", True),
    "leaky_relu_slope": (lambda x: ops.leaky_relu(x, negative_slope=0.05),
                         lambda x: _leaky_relu(x, 0.05), "away0", True),
}

# name: (op, float64 reference, domains of the two operands)
BINARY = {
    "add": (ops.add, np.add, ("normal", "normal")),
    "subtract": (ops.subtract, np.subtract, ("normal", "normal")),
    "multiply": (ops.multiply, np.multiply, ("normal", "normal")),
    "divide": (ops.divide, np.divide, ("normal", "away0")),
    "power": (ops.power, np.power, ("pos", "normal")),
    "maximum": (ops.maximum, np.maximum, ("odd_grid", "even_grid")),
    "minimum": (ops.minimum, np.minimum, ("odd_grid", "even_grid")),
}

# name: (op, float64 reference, domain); called as f(x, axis=..., keepdims=...)
REDUCTIONS = {
    "sum": (ops.sum, np.sum, "normal"),
    "mean": (ops.mean, np.mean, "normal"),
    "max": (ops.max, np.max, "distinct"),
    "min": (ops.min, np.min, "distinct"),
    "prod": (ops.prod, np.prod, "away0"),
    "var": (ops.var, np.var, "normal"),
    "std": (ops.std, np.std, "normal"),
    "logsumexp": (ops.logsumexp, _logsumexp, "normal"),
}


@st.composite
def reduction_cases(draw):
    """(shape, axis, keepdims): axis None, an int (maybe negative) or a tuple."""
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    nd = len(shape)
    axis = draw(st.one_of(
        st.none(), st.integers(-nd, nd - 1),
        st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple)))
    return shape, axis, draw(st.booleans())


# ----------------------------------------------------------------------------
# element-wise ops
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", UNARY)
@given(shape=SHAPES, seed=SEEDS)
def test_unary_forward(name, shape, seed):
    op, ref, domain, _ = UNARY[name]
    x = make(shape, seed, domain)
    out = op(x.astype(F32))
    assert_f32_array(out)
    assert_close(out, ref(x))


@pytest.mark.parametrize("name", UNARY)
@GRAD_SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_unary_gradient(name, shape, seed):
    op, ref, domain, _ = UNARY[name]
    check_grad(op, ref, make(shape, seed, domain), seed=seed)


@pytest.mark.parametrize("name", UNARY)
def test_unary_dtypes(name):
    """float32 in, float32 out; float64 in, float32 out; int in: float32 for the ops
    whose values are not integers (Keras's result types)."""
    op, ref, domain, float_on_int = UNARY[name]
    x = make((2, 3), 1, domain)
    assert_f32_array(op(x.astype(F32)))
    out64 = op(x)
    assert_f32_array(out64)
    assert_close(out64, ref(x))
    if float_on_int:
        xi = np.array([[1, 2, 3], [2, 1, 4]], dtype=np.int32)
        out = op(xi)
        assert_f32_array(out)
        assert_close(out, ref(xi.astype(np.float64)))


@pytest.mark.parametrize("shape", [(3, 0), (0, 4), (0,)])
@pytest.mark.parametrize("op", [ops.relu, ops.sigmoid, ops.gelu, ops.erf, ops.exp,
                                lambda x: ops.softmax(x, axis=0)])
def test_element_wise_ops_on_empty_arrays(op, shape):
    out = op(np.zeros(shape, F32))
    assert_f32_array(out)
    assert out.shape == shape


def test_activations_are_stable_at_extremes():
    x = np.array([-100.0, -20.0, 0.0, 20.0, 100.0], dtype=F32)
    assert_close(ops.sigmoid(x), _sigmoid(x.astype(np.float64)), atol=1e-7)
    assert_close(ops.softplus(x), np.logaddexp(0, x.astype(np.float64)))
    assert_close(ops.softmax(x), _softmax(x.astype(np.float64)), atol=1e-7)
    assert_close(ops.log_softmax(x), _log_softmax(x.astype(np.float64)))
    assert_close(ops.logsumexp(np.array([1000.0, 1000.0], F32)), 1000 + np.log(2))
    with np.errstate(all="raise"):
        assert ops.logsumexp(np.array([-np.inf, -np.inf], F32)) == -np.inf


@pytest.mark.parametrize("name", BINARY)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                            max_side=4), seed=SEEDS)
def test_binary_forward(name, shapes, seed):
    op, ref, (da, db) = BINARY[name]
    a, b = make(shapes.input_shapes[0], seed, da), make(shapes.input_shapes[1], seed + 1, db)
    out = op(a.astype(F32), b.astype(F32))
    assert_f32_array(out)
    assert_close(out, ref(a, b), rtol=5e-5)
    assert_f32_array(op(a, b))  # float64 operands give float32 too


@pytest.mark.parametrize("name", BINARY)
@GRAD_SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                            max_side=4), seed=SEEDS)
def test_binary_gradient(name, shapes, seed):
    """Both operands' gradients, summed back over broadcast (and size-1) axes."""
    op, ref, (da, db) = BINARY[name]
    a, b = make(shapes.input_shapes[0], seed, da), make(shapes.input_shapes[1], seed + 1, db)
    check_grad(op, ref, a, b, seed=seed)


@pytest.mark.parametrize("name", BINARY)
def test_binary_with_python_scalars(name):
    op, ref, (da, db) = BINARY[name]
    x = make((3, 2), 3, "pos")
    for out, want in ((op(x.astype(F32), 1.5), ref(x, 1.5)), (op(1.5, x.astype(F32)),
                                                             ref(1.5, x))):
        assert_f32_array(out)
        assert_close(out, want)


def _mod_operands(shape, seed):
    """a, b with a / b at least 0.1 away from an integer (away from mod's jumps)."""
    rng = np.random.default_rng(seed)
    b = make(shape, seed, "away0")
    q = rng.integers(-3, 3, size=shape) + rng.uniform(0.1, 0.9, size=shape)
    return f32(b * q), b


@pytest.mark.parametrize("op, ref", [(ops.floor_divide, np.floor_divide), (ops.mod, np.mod)],
                         ids=["floor_divide", "mod"])
@GRAD_SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_floor_divide_and_mod(op, ref, shape, seed):
    a, b = _mod_operands(shape, seed)
    out = op(a.astype(F32), b.astype(F32))
    assert_f32_array(out)
    assert_close(out, ref(a, b), atol=1e-5)
    check_grad(op, ref, a, b, seed=seed)


def test_floor_divide_and_mod_on_integers():
    a = np.array([7, -7, 7, -7], dtype=np.int32)
    b = np.array([2, 2, -2, -2], dtype=np.int32)
    np.testing.assert_array_equal(ops.floor_divide(a, b), [3, -4, -4, 3])
    np.testing.assert_array_equal(ops.mod(a, b), [1, 1, -1, -1])
    assert ops.floor_divide(a, b).dtype == np.int32 and ops.mod(a, b).dtype == np.int32


def test_power_forward_cases():
    x = np.array([-2.0, -0.5, 0.5, 3.0], dtype=F32)
    assert_close(ops.power(x, 3), np.power(x.astype(np.float64), 3))
    assert_close(ops.power(x, 2.0), np.square(x.astype(np.float64)))
    assert_close(ops.power(2.0, x), np.power(2.0, x.astype(np.float64)))
    assert ops.power(np.arange(4, dtype=np.int32), 2).dtype == np.int32
    # an integer exponent of a negative base has a gradient (only d/dbase)
    check_grad(lambda v: ops.power(v, 3), lambda v: v ** 3, x)


COMPARISONS = [(ops.less, np.less), (ops.less_equal, np.less_equal),
               (ops.greater, np.greater), (ops.greater_equal, np.greater_equal),
               (ops.equal, np.equal), (ops.not_equal, np.not_equal)]


@pytest.mark.parametrize("op, ref", COMPARISONS, ids=[r.__name__ for _, r in COMPARISONS])
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
       seed=SEEDS)
def test_comparisons(op, ref, shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.integers(-2, 3, size=s).astype(F32) for s in shapes.input_shapes)
    out = op(a, b)
    assert type(out) is np.ndarray and out.dtype == np.bool_
    np.testing.assert_array_equal(out, ref(a, b))


def test_comparison_operators_on_variables_give_arrays():
    w = nbkeras.Variable(np.array([-1.0, 0.0, 2.0]))
    with nbkeras.GradientTape():
        results = [w < 0, w <= 0, w > 0, w >= 0, (w * 1) > 0]
    for out, want in zip(results, [[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [0, 0, 1]]):
        assert type(out) is np.ndarray and out.dtype == np.bool_
        np.testing.assert_array_equal(out, np.array(want, bool))


@GRAD_SETTINGS
@given(seed=SEEDS)
def test_clip(seed):
    x = make((3, 5), seed, "clip")
    out = ops.clip(x.astype(F32), -0.5, 0.5)
    assert_f32_array(out)
    assert_close(out, np.clip(x, -0.5, 0.5))
    check_grad(lambda v: ops.clip(v, -0.5, 0.5), lambda v: np.clip(v, -0.5, 0.5), x)
    np.testing.assert_array_equal(ops.clip(np.arange(5, dtype=np.int32), 1, 3), [1, 1, 2, 3, 3])


@GRAD_SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                            max_side=4), seed=SEEDS)
def test_clip_with_tensor_bounds(shapes, seed):
    """Bounds that are arrays broadcasting against x (and bigger than it) get gradients
    where they are the result; x's gradient is summed back to its own shape."""
    sx, slo, shi = shapes.input_shapes
    x = make(sx, seed, "odd_grid")
    # bounds on the "even" grid (never equal to an x), lo <= -0.4 < 0.4 <= hi
    lo = f32(-np.abs(make(slo, seed + 1, "even_grid")) - 0.4)
    hi = f32(np.abs(make(shi, seed + 2, "even_grid")) + 0.4)
    out = ops.clip(x.astype(F32), lo.astype(F32), hi.astype(F32))
    assert_f32_array(out)
    assert_close(out, np.clip(x, lo, hi))
    check_grad(ops.clip, np.clip, x, lo, hi, seed=seed)


@GRAD_SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                            max_side=4), seed=SEEDS)
def test_where(shapes, seed):
    sc, s1, s2 = shapes.input_shapes
    cond = np.random.default_rng(seed).random(sc) < 0.5
    x1, x2 = make(s1, seed), make(s2, seed + 1)
    out = ops.where(cond, x1.astype(F32), x2.astype(F32))
    assert_f32_array(out)
    assert_close(out, np.where(cond, x1, x2))
    check_grad(lambda a, b: ops.where(cond, a, b), lambda a, b: np.where(cond, a, b), x1, x2)


def test_where_with_a_python_scalar_branch():
    x = np.array([-1.0, 2.0, -3.0], F32)
    out = ops.where(x > 0, x, 0.0)
    assert_f32_array(out)
    np.testing.assert_array_equal(out, [0.0, 2.0, 0.0])
    check_grad(lambda v: ops.where(x > 0, v, 0.0), lambda v: np.where(x > 0, v, 0.0), x)


# ----------------------------------------------------------------------------
# matrix products
# ----------------------------------------------------------------------------
@st.composite
def matmul_shapes(draw):
    m, k, n, b = (draw(st.integers(1, 5)) for _ in range(4))
    return draw(st.sampled_from([
        ((m, k), (k, n)), ((b, m, k), (k, n)), ((b, m, k), (b, k, n)),
        ((1, m, k), (b, k, n)), ((b, 1, m, k), (b, k, n)), ((k,), (k, n)), ((m, k), (k,)),
        ((k,), (k,)), ((b, m, k), (k,)), ((k,), (b, k, n)),
    ]))


@GRAD_SETTINGS
@given(shapes=matmul_shapes(), seed=SEEDS)
def test_matmul(shapes, seed):
    a, b = make(shapes[0], seed), make(shapes[1], seed + 1)
    out = ops.matmul(a.astype(F32), b.astype(F32))
    assert_f32_array(out)
    assert_close(out, np.matmul(a, b), rtol=1e-5, atol=1e-5)
    check_grad(ops.matmul, np.matmul, a, b, seed=seed)


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (17, 33, 9), (64, 1, 5), (5, 130, 3),
                                     (33, 16, 65)])
@pytest.mark.parametrize("transposed", [False, True])
def test_matmul_gemm_sizes(m, k, n, transposed):
    """Odd and tile-crossing sizes on the GEMM kernel, with a non-contiguous operand;
    the gradients against their closed forms g @ b.T and a.T @ g."""
    a, b = make((m, k), 1), make((k, n), 2)
    a32 = np.ascontiguousarray(a.T, F32).T if transposed else a.astype(F32)
    out = ops.matmul(a32, b.astype(F32))
    assert_f32_array(out)
    assert_close(out, a @ b, rtol=1e-4, atol=1e-5)
    g = make((m, n), 3)
    da, db = tape_gradients(ops.matmul, [a, b], g)
    assert_close(da, g @ b.T, rtol=1e-4, atol=1e-5)
    assert_close(db, a.T @ g, rtol=1e-4, atol=1e-5)


DOT_SHAPES = [((), (3, 2)), ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)),
              ((2, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (4, 2))]


@pytest.mark.parametrize("sa, sb", DOT_SHAPES)
def test_dot(sa, sb):
    a, b = make(sa, 1), make(sb, 2)
    out = ops.dot(a.astype(F32), b.astype(F32))
    assert_f32_array(out)
    assert_close(out, np.dot(a, b), rtol=1e-5, atol=1e-5)
    check_grad(ops.dot, np.dot, a, b)


EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 2)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("i,j->ij", [(3,), (4,)]), ("ij,ij->i", [(3, 4), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]),
    ("...ij,jk->...ik", [(2, 3, 4), (4, 5)]), ("...ij,jk", [(2, 3, 4), (4, 5)]),
    ("i...,i...->...", [(3, 2, 2), (3, 1, 2)]), ("ij,ij->i", [(3, 4), (3, 1)]),
    ("ij,jk->ik", [(3, 1), (4, 2)]), ("ijk,k->ij", [(2, 3, 4), (4,)]),
    ("ij,kj->", [(2, 3), (4, 3)]), ("ij->ji", [(3, 4)]), ("ij->", [(3, 4)]),
    ("bij->bj", [(2, 3, 4)]), ("ij", [(3, 4)]), ("i->i", [(5,)]),
]


@pytest.mark.parametrize("subscripts, shapes", EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum(subscripts, shapes):
    xs = [make(s, i) for i, s in enumerate(shapes)]
    out = ops.einsum(subscripts, *[x.astype(F32) for x in xs])
    assert_f32_array(out)
    assert_close(out, np.einsum(subscripts, *xs), rtol=1e-5, atol=1e-5)
    check_grad(lambda *v: ops.einsum(subscripts, *v),
               lambda *v: np.einsum(subscripts, *v), *xs)


def test_einsum_repeated_index_forward():
    x = make((3, 3), 1)
    assert_close(ops.einsum("ii->i", x.astype(F32)), np.einsum("ii->i", x))
    assert_close(ops.einsum("ii", x.astype(F32)), np.trace(x))


# ----------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", REDUCTIONS)
@given(case=reduction_cases(), seed=SEEDS)
def test_reduction_forward(name, case, seed):
    op, ref, domain = REDUCTIONS[name]
    shape, axis, keepdims = case
    x = make(shape, seed, domain)
    out = op(x.astype(F32), axis=axis, keepdims=keepdims)
    assert_f32_array(out)
    assert_close(out, ref(x, axis=axis, keepdims=keepdims), rtol=1e-5, atol=1e-5)
    assert_f32_array(op(x, axis=axis, keepdims=keepdims))  # float64 input


@pytest.mark.parametrize("name", REDUCTIONS)
@GRAD_SETTINGS
@given(case=reduction_cases(), seed=SEEDS)
def test_reduction_gradient(name, case, seed):
    op, ref, domain = REDUCTIONS[name]
    shape, axis, keepdims = case
    if name == "std":  # sqrt is not differentiable at a zero variance
        assume(np.size(np.sum(np.empty(shape), axis=axis)) < int(np.prod(shape)))
    check_grad(lambda v: op(v, axis=axis, keepdims=keepdims),
               lambda v: ref(v, axis=axis, keepdims=keepdims),
               make(shape, seed, domain), seed=seed)


def test_reductions_of_a_list_axis_and_a_scalar():
    x = make((2, 3, 4), 1)
    assert_close(ops.sum(x, axis=[0, 2]), np.sum(x, axis=(0, 2)), rtol=1e-5)
    check_grad(lambda v: ops.mean(v, axis=[0, 2]), lambda v: np.mean(v, axis=(0, 2)), x)
    s = np.array(2.5)
    for name, (op, ref, _) in REDUCTIONS.items():
        assert_close(op(s), ref(s), atol=1e-6)


def test_max_min_gradient_where_initial_wins():
    """Where ``initial`` is the result, no element gets a gradient (and no NaN)."""
    x = np.array([[1.0, 5.0], [2.0, 0.5]], F32)
    for op, initial, want in [(ops.max, 3.0, [[0, 1], [0, 0]]),
                              (ops.min, 0.8, [[0, 0], [0, 1]])]:
        with nbkeras.GradientTape() as tape:
            tape.watch(x)
            y = op(x, axis=1, initial=initial)
        np.testing.assert_array_equal(tape.gradient(y, x), want)


def test_prod_gradient_with_zeros():
    """The product of the other elements, also where an element is zero."""
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0]], F32)
    with nbkeras.GradientTape() as tape:
        tape.watch(x)
        y = ops.prod(x, axis=1)
    np.testing.assert_allclose(tape.gradient(y, x), [[6, 0, 0], [0, 0, 0]])


def test_integer_reduction_dtypes():
    """Keras's result dtypes: sum/prod/max/cumsum keep int32, mean gives float32."""
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    for op, ref in [(ops.sum, np.sum), (ops.prod, np.prod), (ops.max, np.max),
                    (ops.min, np.min), (ops.cumsum, np.cumsum)]:
        out = op(x, axis=1)
        assert out.dtype == np.int32, f"{op.__name__}: {out.dtype}"
        np.testing.assert_array_equal(out, ref(x, axis=1))
    out = ops.mean(x)
    assert_f32_array(out)
    assert float(out) == 3.5
    assert ops.prod(x.astype(F32), dtype="int32").dtype == np.int32
    assert ops.sum(np.array([True, True, False])).dtype == np.int32


@pytest.mark.parametrize("op, ref", [(ops.argmax, np.argmax), (ops.argmin, np.argmin)],
                         ids=["argmax", "argmin"])
@given(case=reduction_cases(), seed=SEEDS)
def test_argmax_argmin(op, ref, case, seed):
    shape, axis, keepdims = case
    if isinstance(axis, tuple):
        axis = axis[0]
    x = make(shape, seed, "distinct").astype(F32)
    out = op(x, axis=axis, keepdims=keepdims)
    assert type(out) is np.ndarray and out.dtype == np.int32
    np.testing.assert_array_equal(out, ref(x, axis=axis, keepdims=keepdims))


NORM_CASES = [  # (shape, ord, axis): vector norms, then matrix norms, then N-D
    ((5,), None, None), ((5,), 2, None), ((5,), 1, None), ((5,), np.inf, None),
    ((5,), -np.inf, None), ((5,), 3, None), ((5,), 0.5, None), ((5,), -1, None),
    ((5,), 0, None), ((3, 4), None, 1), ((3, 4), 1, 0), ((3, 4), np.inf, -1),
    ((2, 3, 4), 2, 1),
    ((3, 4), None, None), ((3, 4), "fro", None), ((3, 4), 1, None), ((3, 4), -1, None),
    ((3, 4), np.inf, None), ((3, 4), -np.inf, (1, 0)), ((2, 3, 4), np.inf, (2, 0)),
    ((2, 3, 4), "fro", (0, 2)), ((2, 3, 4), None, None), ((2, 3, 4), None, (0, 2)),
]


def _norm_ref(x, ord=None, axis=None, keepdims=False):
    """numpy.linalg.norm, with Keras's flattened 2-norm of an N-D input by default."""
    if axis is None and x.ndim > 2:
        return np.sqrt(np.sum(x * x, keepdims=keepdims))
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("shape, ord, axis", NORM_CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm(shape, ord, axis, keepdims):
    x = make(shape, 3, "distinct_abs" if ord in (np.inf, -np.inf) else "away0")
    out = ops.norm(x.astype(F32), ord=ord, axis=axis, keepdims=keepdims)
    assert_f32_array(out)
    assert_close(out, _norm_ref(x, ord, axis, keepdims), rtol=1e-5)
    check_grad(lambda v: ops.norm(v, ord=ord, axis=axis, keepdims=keepdims),
               lambda v: _norm_ref(v, ord, axis, keepdims), x)


def test_norm_bad_orders():
    with pytest.raises(ValueError, match="norm"):
        ops.norm(np.ones(3), ord="fro")  # not a vector norm
    with pytest.raises(ValueError, match="axis"):
        ops.norm(np.ones((2, 2, 2)), ord=1)
    with pytest.raises(NotImplementedError, match="nuc"):
        ops.norm(np.ones((2, 2)), ord="nuc")


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumsum(axis):
    x = make((3, 4), 5)
    out = ops.cumsum(x.astype(F32), axis=axis)
    assert_f32_array(out)
    assert_close(out, np.cumsum(x, axis=axis))
    check_grad(lambda v: ops.cumsum(v, axis=axis), lambda v: np.cumsum(v, axis=axis), x)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@GRAD_SETTINGS
@given(shape=array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5), seed=SEEDS)
def test_softmax_and_log_softmax_axes(axis, shape, seed):
    x = make(shape, seed)
    for op, ref in [(ops.softmax, _softmax), (ops.log_softmax, _log_softmax)]:
        out = op(x.astype(F32), axis=axis)
        assert_f32_array(out)
        assert_close(out, ref(x, axis=axis), atol=2e-6)
        check_grad(lambda v: op(v, axis=axis), lambda v: ref(v, axis=axis), x, seed=seed)


# ----------------------------------------------------------------------------
# shapes, joins, gathers
# ----------------------------------------------------------------------------
IDX_FLAT = np.array([[0, 5], [5, -1]])
IDX_ALONG = np.array([[0, 3], [2, 2], [-1, 1]])

# name: (op on tensors, NumPy reference, input shapes)
SHAPE_CASES = {
    "reshape": (lambda x: ops.reshape(x, (-1,)), lambda x: x.reshape(-1), [(2, 3, 4)]),
    "reshape_list": (lambda x: ops.reshape(x, [4, 6]), lambda x: x.reshape(4, 6),
                     [(2, 3, 4)]),
    "transpose": (ops.transpose, np.transpose, [(2, 3, 4)]),
    "transpose_axes": (lambda x: ops.transpose(x, (1, 2, 0)),
                       lambda x: np.transpose(x, (1, 2, 0)), [(2, 3, 4)]),
    "transpose_negative_axes": (lambda x: ops.transpose(x, (-1, 0, 1)),
                                lambda x: np.transpose(x, (-1, 0, 1)), [(2, 3, 4)]),
    "swapaxes": (lambda x: ops.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2),
                 [(2, 3, 4)]),
    "expand_dims": (lambda x: ops.expand_dims(x, -1), lambda x: x[..., None], [(2, 3)]),
    "expand_dims_0": (lambda x: ops.expand_dims(x, 0), lambda x: x[None], [(2, 3)]),
    "squeeze": (ops.squeeze, np.squeeze, [(1, 3, 1, 2)]),
    "squeeze_axis": (lambda x: ops.squeeze(x, 2), lambda x: np.squeeze(x, 2), [(1, 3, 1, 2)]),
    "broadcast_to": (lambda x: ops.broadcast_to(x, (2, 3, 4)),
                     lambda x: np.broadcast_to(x, (2, 3, 4)), [(3, 1)]),
    "flip": (lambda x: ops.flip(x, 1), lambda x: np.flip(x, 1), [(2, 3, 4)]),
    "tile": (lambda x: ops.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), [(3, 2)]),
    "concatenate": (lambda a, b, c: ops.concatenate([a, b, c], axis=1),
                    lambda a, b, c: np.concatenate([a, b, c], axis=1),
                    [(2, 1, 3), (2, 4, 3), (2, 2, 3)]),
    "concatenate_last": (lambda a, b: ops.concatenate([a, b], axis=-1),
                         lambda a, b: np.concatenate([a, b], axis=-1), [(2, 3), (2, 1)]),
    "concatenate_single": (lambda a: ops.concatenate([a]), lambda a: np.concatenate([a]),
                           [(3, 2)]),
    "stack": (lambda a, b: ops.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1),
              [(2, 3), (2, 3)]),
    "stack_last": (lambda a, b, c: ops.stack([a, b, c], axis=-1),
                   lambda a, b, c: np.stack([a, b, c], -1), [(4,), (4,), (4,)]),
    "stack_single": (lambda a: ops.stack([a]), lambda a: np.stack([a]), [(3, 2)]),
    # the middle part is unused: its gradient is zero
    "split": (lambda x: ops.concatenate(
        [ops.split(x, [1, 3], axis=1)[i] * (i + 1) for i in (2, 0)], axis=1),
        lambda x: np.concatenate([np.split(x, [1, 3], axis=1)[i] * (i + 1) for i in (2, 0)],
                                 axis=1), [(2, 5)]),
    "split_sections": (lambda x: ops.stack(ops.split(x, 3)),
                       lambda x: np.stack(np.split(x, 3)), [(6, 2)]),
    "take_flat": (lambda x: ops.take(x, IDX_FLAT), lambda x: np.take(x, IDX_FLAT), [(2, 3)]),
    "take_axis": (lambda x: ops.take(x, np.array([2, 0, 2]), axis=1),
                  lambda x: np.take(x, [2, 0, 2], axis=1), [(2, 3, 2)]),
    "take_negative_axis": (lambda x: ops.take(x, IDX_FLAT % 4 - 2, axis=-1),
                           lambda x: np.take(x, IDX_FLAT % 4 - 2, axis=-1), [(3, 4)]),
    "take_along_axis": (lambda x: ops.take_along_axis(x, IDX_ALONG, axis=1),
                        lambda x: np.take_along_axis(x, IDX_ALONG, axis=1), [(3, 4)]),
    "take_along_axis_0": (lambda x: ops.take_along_axis(x, IDX_ALONG.T % 3, axis=0),
                          lambda x: np.take_along_axis(x, IDX_ALONG.T % 3, axis=0),
                          [(3, 3)]),
    "take_along_axis_broadcast": (
        lambda x: ops.take_along_axis(x, np.array([[0, 2, 2]]), axis=1),
        lambda x: np.take_along_axis(x, np.array([[0, 2, 2]]), axis=1), [(3, 4)]),
    "take_along_axis_none": (lambda x: ops.take_along_axis(x, np.array([5, 0, 5]), axis=None),
                             lambda x: np.take_along_axis(x, np.array([5, 0, 5]), axis=None),
                             [(2, 3)]),
    "cast": (lambda x: ops.cast(x, "float32"), lambda x: x, [(2, 3)]),
    # (the reference is the identity: the gradient of a cast is)
    "cast_float16": (lambda x: ops.cast(ops.cast(x, "float16"), "float32"), lambda x: x,
                     [(2, 3)]),
}


@pytest.mark.parametrize("name", SHAPE_CASES)
def test_shape_ops(name):
    op, ref, shapes = SHAPE_CASES[name]
    xs = [make(s, i) for i, s in enumerate(shapes)]
    out = op(*[x.astype(F32) for x in xs])
    assert_f32_array(out)
    assert_close(out, ref(*xs), rtol=1e-3 if "float16" in name else 1e-6)
    check_grad(op, ref, *xs)


@GRAD_SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), data=st.data())
def test_transpose_random_permutation(shape, data):
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    x = make(shape, 1)
    assert_close(ops.transpose(x, axes), np.transpose(x, axes))
    check_grad(lambda v: ops.transpose(v, axes), lambda v: np.transpose(v, axes), x)


@GRAD_SETTINGS
@given(sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       rest=array_shapes(min_dims=1, max_dims=2, max_side=3), data=st.data())
def test_concatenate_and_stack_random(sizes, rest, data):
    axis = data.draw(st.integers(0, len(rest)))
    shapes = [rest[:axis] + (n,) + rest[axis:] for n in sizes]
    xs = [make(s, i) for i, s in enumerate(shapes)]
    check_grad(lambda *v: ops.concatenate(list(v), axis=axis),
               lambda *v: np.concatenate(v, axis=axis), *xs)
    same = [make(shapes[0], i) for i in range(len(sizes))]
    check_grad(lambda *v: ops.stack(list(v), axis=axis), lambda *v: np.stack(v, axis=axis),
               *same)


def test_split_returns_a_list_of_arrays():
    x = np.arange(12, dtype=F32).reshape(6, 2)
    parts = ops.split(x, 3)  # Keras: split(x, indices_or_sections, axis=0)
    assert isinstance(parts, list) and len(parts) == 3
    for p, want in zip(parts, np.split(x, 3)):
        assert_f32_array(p)
        np.testing.assert_array_equal(p, want)
    for p, want in zip(ops.split(x, [1], axis=1), np.split(x, [1], axis=1)):
        np.testing.assert_array_equal(p, want)


GET_ITEM_KEYS = [
    1, -1, slice(1, 3), (slice(None), 2), (Ellipsis, 1), (None, slice(None), 0),
    (1, Ellipsis, None), np.array([0, 2, 2]), [3, 0], (np.array([0, 3]), slice(None),
                                                        np.array([1, 2])),
    (slice(None, None, -1), slice(None, None, 2)), (slice(None), [4, 0, 4]),
    (np.array([True, False, True, True]),), (2, -1, 0), (Ellipsis,), (slice(1, 2), None),
]


@pytest.mark.parametrize("key", GET_ITEM_KEYS, ids=[repr(k) for k in GET_ITEM_KEYS])
def test_get_item(key):
    x = make((4, 5, 3), 2)
    out = ops.get_item(x.astype(F32), key)
    assert_f32_array(out)
    np.testing.assert_array_equal(out, x.astype(F32)[key])
    check_grad(lambda v: ops.get_item(v, key), lambda v: v[key], x)
    check_grad(lambda v: v[key], lambda v: v[key], x, sources="variables")


# ----------------------------------------------------------------------------
# creation, conversion, Keras defaults
# ----------------------------------------------------------------------------
def test_creation_ops():
    cases = [
        (ops.zeros((2, 3)), np.zeros((2, 3)), np.float32),
        (ops.ones((4,)), np.ones(4), np.float32),
        (ops.zeros((2,), dtype="int32"), np.zeros(2), np.int32),
        (ops.full((2, 2), 7), np.full((2, 2), 7.0), np.float32),  # Keras: floatx
        (ops.full((2,), 1.5), np.full(2, 1.5), np.float32),
        (ops.full((2,), 3, dtype="int32"), np.full(2, 3), np.int32),
        (ops.zeros_like(np.ones((2, 3), np.int32)), np.zeros((2, 3)), np.int32),
        (ops.ones_like(np.zeros((3,))), np.ones(3), np.float32),
        (ops.ones_like(nbkeras.Variable(np.zeros(2))), np.ones(2), np.float32),
        (ops.zeros_like(np.ones(2, F32), dtype="int32"), np.zeros(2), np.int32),
        (ops.full_like(np.ones(2, F32), 3), np.full(2, 3.0), np.float32),
        (ops.arange(5), np.arange(5), np.int32),
        (ops.arange(2, 8, 2), np.arange(2, 8, 2), np.int32),
        (ops.arange(0, 1, 0.25), np.arange(0, 1, 0.25), np.float32),
        (ops.arange(3.0), np.arange(3.0), np.float32),
        (ops.eye(3), np.eye(3), np.float32),
    ]
    for i, (out, want, dtype) in enumerate(cases):
        assert type(out) is np.ndarray and out.dtype == dtype, f"case {i}: {out.dtype}"
        np.testing.assert_array_equal(out, want, err_msg=f"case {i}")


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(axis):
    x = np.array([[0, 2], [1, 3]], dtype=np.int32)
    out = ops.one_hot(x, 4, axis=axis)
    want = np.moveaxis(np.eye(4)[x], -1, axis)
    assert_f32_array(out)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(ops.one_hot(np.array([-1, 4]), 4), np.zeros((2, 4)))


def test_cast():
    x = np.array([1.7, -2.2, 0.0], F32)
    for dtype, want in [("int32", np.int32), ("float16", np.float16), ("bool", np.bool_),
                        ("float32", np.float32)]:
        out = ops.cast(x, dtype)
        assert type(out) is np.ndarray and out.dtype == want
        np.testing.assert_array_equal(out, x.astype(want))
    assert_f32_array(ops.cast(np.arange(3), "float32"))
    w = nbkeras.Variable(x)
    with nbkeras.GradientTape() as tape:
        ids = ops.cast(w, "int32")  # no gradient flows into an integer result
        loss = ops.sum(ops.cast(w, "float32") * 3.0)
    assert type(ids) is np.ndarray and ids.dtype == np.int32
    np.testing.assert_array_equal(tape.gradient(loss, w), [3.0, 3.0, 3.0])


def test_convert_to_tensor_and_numpy():
    out = ops.convert_to_tensor([1.5, 2.0])
    assert_f32_array(out)
    ints = ops.convert_to_tensor([1, 2])
    assert type(ints) is np.ndarray and ints.dtype == np.int32  # Keras: int32
    assert_f32_array(ops.convert_to_tensor(np.ones(2)))  # float64 -> floatx
    assert ops.convert_to_tensor([1, 2], dtype="float32").dtype == np.float32
    w = nbkeras.Variable(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(ops.convert_to_tensor(w), [1.0, 2.0])
    arr = ops.convert_to_numpy(w)
    assert type(arr) is np.ndarray
    arr[0] = 9.0  # a copy
    assert w.numpy()[0] == 1.0
    with nbkeras.GradientTape():
        t = w * 2
        assert type(ops.convert_to_numpy(t)) is np.ndarray
    np.testing.assert_array_equal(ops.convert_to_numpy(t), [2.0, 4.0])


def test_stop_gradient():
    w = nbkeras.Variable(np.array([1.0, 2.0, 3.0]))
    with nbkeras.GradientTape(persistent=True) as tape:
        s = ops.stop_gradient(w)
        loss = ops.sum(s * w)
        blocked = ops.sum(ops.stop_gradient(w * 2) * 1.0)
    assert type(s) is np.ndarray
    np.testing.assert_array_equal(s, w.numpy())
    np.testing.assert_allclose(tape.gradient(loss, w), [1.0, 2.0, 3.0])  # not 2w
    assert type(blocked) is np.ndarray  # nothing recorded


KERAS_DEFAULTS = {  # name: (thunk, expected value, expected dtype)
    "var_biased": (lambda: ops.var(np.array([1.0, 2.0, 3.0, 4.0])), 1.25, np.float32),
    "std_biased": (lambda: ops.std(np.array([1.0, 2.0, 3.0, 4.0])), np.sqrt(1.25),
                   np.float32),
    "gelu_approximate": (lambda: ops.gelu(np.array([1.0])), [_gelu_tanh(1.0)], np.float32),
    "leaky_relu_0.2": (lambda: ops.leaky_relu(np.array([-1.0])), [-0.2], np.float32),
    "elu_alpha_1": (lambda: ops.elu(np.array([-1.0])), [np.expm1(-1.0)], np.float32),
    "softmax_last_axis": (lambda: ops.softmax(np.array([[0.0, np.log(3.0)]] * 2)),
                          [[0.25, 0.75]] * 2, np.float32),
    "argmax_int32": (lambda: ops.argmax(np.array([[1.0, 3.0, 2.0]]), axis=-1), [1], np.int32),
    "argmax_flat": (lambda: ops.argmax(np.array([[1.0, 3.0], [5.0, 2.0]])), 2, np.int32),
    "one_hot_float32": (lambda: ops.one_hot(np.array([1]), 3), [[0, 1, 0]], np.float32),
    "mean_int_float32": (lambda: ops.mean(np.array([1, 2], np.int32)), 1.5, np.float32),
    "norm_vector": (lambda: ops.norm(np.array([3.0, 4.0])), 5.0, np.float32),
    "norm_fro": (lambda: ops.norm(np.array([[1.0, 2.0], [2.0, 4.0]])), 5.0, np.float32),
    "split_axis0": (lambda: ops.split(np.arange(4.0).reshape(2, 2), 2)[1], [[2.0, 3.0]],
                    np.float32),
    "take_flat": (lambda: ops.take(np.array([[1.0, 2.0], [3.0, 4.0]]), [3, 0]), [4.0, 1.0],
                  np.float32),
    "cumsum_flat": (lambda: ops.cumsum(np.array([[1.0, 2.0], [3.0, 4.0]])),
                    [1.0, 3.0, 6.0, 10.0], np.float32),
    "logsumexp_all": (lambda: ops.logsumexp(np.zeros((2, 2))), np.log(4.0), np.float32),
}


@pytest.mark.parametrize("name", KERAS_DEFAULTS)
def test_keras_defaults(name):
    thunk, want, dtype = KERAS_DEFAULTS[name]
    out = thunk()
    assert type(out) is np.ndarray and out.dtype == dtype, f"{type(out)} {out.dtype}"
    np.testing.assert_allclose(out, np.asarray(want, np.float64), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("call", [
    lambda x: ops.add(x, 1), lambda x: ops.sum(x), lambda x: ops.mean(x, axis=0),
    lambda x: ops.matmul(x, x.T), lambda x: ops.relu(x), lambda x: ops.softmax(x),
    lambda x: ops.reshape(x, (-1,)), lambda x: ops.get_item(x, 0), lambda x: ops.split(x, 2)[0],
    lambda x: ops.take(x, [0]), lambda x: ops.where(x > 0, x, 0.0),
    lambda x: ops.concatenate([x, x]), lambda x: ops.cast(x, "float32"),
    lambda x: ops.einsum("ij->j", x), lambda x: ops.max(x, axis=1), lambda x: ops.erf(x),
    lambda x: ops.norm(x), lambda x: ops.logsumexp(x, axis=0),
])
def test_ops_on_arrays_return_arrays(call):
    """Outside any tape (and inside one, on unwatched arrays) an op returns ndarrays;
    float64 data gives float32."""
    x = make((2, 3), 1)
    assert_f32_array(call(x))
    with nbkeras.GradientTape():
        assert_f32_array(call(x.astype(F32)))
    assert type(ops.add(np.ones(3), 1)) is np.ndarray


# ----------------------------------------------------------------------------
# Python operators on Variables and tensors
# ----------------------------------------------------------------------------
_X = make((3, 4), 11)
_A = make((4, 6), 12)
_B = make((6, 5), 13)

OPERATOR_CASES = {  # name: (fn of one variable w of shape (4, 6), NumPy reference)
    "scale_slice": (lambda w: (w * 2)[1:, ::2], lambda w: (w * 2)[1:, ::2]),
    "neg": (lambda w: -w, lambda w: -w),
    "pos": (lambda w: +w, lambda w: w),
    "abs": (lambda w: abs(w), np.abs),
    "rsub": (lambda w: 1 - w, lambda w: 1 - w),
    "sub": (lambda w: w - 1, lambda w: w - 1),
    "div": (lambda w: w / 3, lambda w: w / 3),
    "rdiv": (lambda w: 3 / w, lambda w: 3 / w),
    "pow": (lambda w: w ** 2, lambda w: w ** 2),
    "rpow": (lambda w: 2 ** w, lambda w: 2 ** w),
    "mul_self": (lambda w: w * w, lambda w: w * w),
    "add_self": (lambda w: w + w, lambda w: w + w),
    "mod": (lambda w: w % 2, lambda w: np.mod(w, 2)),
    "floordiv": (lambda w: (w // 2) + w, lambda w: (w // 2) + w),
    "rmatmul_array": (lambda w: _X @ w, lambda w: _X @ w),
    "matmul_array": (lambda w: w @ _B, lambda w: w @ _B),
    "einsum_array": (lambda w: ops.einsum("ij,jk->ki", w, _B),
                     lambda w: np.einsum("ij,jk->ki", w, _B)),
    "batched_matmul_array": (lambda w: ops.matmul(ops.reshape(w, (2, 2, 6)), _B),
                             lambda w: np.matmul(w.reshape(2, 2, 6), _B)),
    "concatenate_array": (lambda w: ops.concatenate([_A, w, _A * 2], axis=1),
                          lambda w: np.concatenate([_A, w, _A * 2], axis=1)),
    "stack_array": (lambda w: ops.stack([w, _A], axis=-1), lambda w: np.stack([w, _A], -1)),
    "where_array": (lambda w: ops.where(_A > 0, _A, w), lambda w: np.where(_A > 0, _A, w)),
    "matmul_T": (lambda w: w @ w.T, lambda w: w @ w.T),
    "radd_array": (lambda w: _A + w, lambda w: _A + w),
    "rmul_array": (lambda w: _A * w, lambda w: _A * w),
    "index": (lambda w: w[0] + w[:, -1][:, None], lambda w: w[0] + w[:, -1][:, None]),
    "mask_mul": (lambda w: (w > 0) * w, lambda w: (w > 0) * w),
    "tensor_chain": (lambda w: ((w * 1.5)[..., None] - w[:, :, None]).T,
                     lambda w: ((w * 1.5)[..., None] - w[:, :, None]).T),
}


@pytest.mark.parametrize("name", OPERATOR_CASES)
def test_operators_on_variables(name):
    fn, ref = OPERATOR_CASES[name]
    check_grad(fn, ref, make((4, 6), 4, "away0"), sources="variables")


def test_affine_loss_on_variables():
    """loss = sum((x @ w + b) ** 2): gradients of the automatically watched variables."""
    x, w0, b0 = make((5, 3), 1), make((3, 4), 2), make((4,), 3)
    w, b = nbkeras.Variable(w0), nbkeras.Variable(b0)
    with nbkeras.GradientTape() as tape:
        loss = ops.sum((x.astype(F32) @ w + b) ** 2)
    gw, gb = tape.gradient(loss, [w, b])
    r = x @ w0 + b0
    assert_close(loss, np.sum(r ** 2), rtol=1e-5)
    assert_close(gw, 2 * x.T @ r, rtol=1e-4, atol=1e-5)
    assert_close(gb, 2 * r.sum(0), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# fan-out
# ----------------------------------------------------------------------------
def test_fan_out_sums_gradients():
    x = make((3, 4), 1)
    check_grad(lambda v: v * v + v, lambda v: v * v + v, x, sources="variables")
    check_grad(lambda v: ops.add(ops.multiply(v, v), v), lambda v: v * v + v, x)
    check_grad(lambda v: ops.add(v, v), lambda v: v + v, x)
    check_grad(lambda v: ops.multiply(ops.add(v, v), v), lambda v: 2 * v * v, x,
               sources="variables")


def test_same_gradient_array_for_both_operands_is_not_corrupted():
    """ops.add(t, t) hands the same array back for both operands; both branches that
    use the sum, and t's other consumers, must still get their own gradients."""
    def fn(v):
        t = ops.multiply(v, 3.0)
        a = ops.add(t, t)
        b = ops.add(a, t)           # a and t fan out again
        return a * ops.exp(b * 0.1) + ops.sin(t) * a

    def ref(v):
        t = v * 3
        a = t + t
        return a * np.exp((a + t) * 0.1) + np.sin(t) * a
    x = make((2, 3), 2)
    check_grad(fn, ref, x)
    check_grad(fn, ref, x, sources="variables")


def test_fan_out_gradients_are_independent_and_repeatable():
    a = nbkeras.Variable(make((3,), 1))
    b = nbkeras.Variable(make((3,), 2))
    x = make((3,), 3).astype(F32)
    with nbkeras.GradientTape(persistent=True) as tape:
        tape.watch(x)
        t = ops.add(a, b)
        loss = ops.sum(t * x) + ops.sum(ops.add(x, x))
    first = tape.gradient(loss, [a, b, x])
    again = tape.gradient(loss, [a, b, x])
    for g1, g2 in zip(first, again):
        np.testing.assert_array_equal(g1, g2)
    np.testing.assert_allclose(first[0], x)
    np.testing.assert_allclose(first[1], x)
    np.testing.assert_allclose(first[2], a.numpy() + b.numpy() + 2, rtol=1e-6)
    first[0] += 100.0  # the returned arrays are the caller's own
    np.testing.assert_allclose(first[1], x)
    np.testing.assert_allclose(tape.gradient(loss, a), x)


def test_gradient_for_an_intermediate_tensor():
    x = make((3,), 4).astype(F32)
    with nbkeras.GradientTape() as tape:
        tape.watch(x)
        t = ops.multiply(x, 2.0)
        loss = ops.sum(t * t) + ops.sum(t)
    gt, gx = tape.gradient(loss, [t, x])
    np.testing.assert_allclose(gt, 2 * (2 * x) + 1, rtol=1e-6)
    np.testing.assert_allclose(gx, 2 * (2 * (2 * x) + 1), rtol=1e-6)


# ----------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, call, shapes", [
    ("add", lambda a, b: ops.add(a, b), [(2, 3), (4,)]),
    ("matmul", lambda a, b: ops.matmul(a, b), [(2, 3), (4, 5)]),
    ("multiply", lambda a, b: ops.multiply(a, b), [(3, 2), (3, 3)]),
    ("concatenate", lambda a, b: ops.concatenate([a, b], axis=0), [(2, 3), (2, 4)]),
    ("reshape", lambda a: ops.reshape(a, (4, 2)), [(2, 3)]),
    ("einsum", lambda a, b: ops.einsum("ij,jk->ik", a, b), [(2, 3), (4, 5)]),
])
@pytest.mark.parametrize("where", ["arrays", "variables"])
def test_bad_shapes_raise_naming_op_and_shapes(name, call, shapes, where):
    xs = [np.ones(s, F32) for s in shapes]
    if where == "variables":
        xs = [nbkeras.Variable(x) for x in xs]
    with nbkeras.GradientTape():
        with pytest.raises(ValueError) as info:
            call(*xs)
    msg = str(info.value)
    assert name in msg
    for s in shapes:
        assert str(s) in msg, f"{s} not in {msg!r}"


# ----------------------------------------------------------------------------
# GradientTape API
# ----------------------------------------------------------------------------
def _quadratic(tape_kwargs):
    w = nbkeras.Variable(np.array([1.0, -2.0, 3.0]))
    tape = nbkeras.GradientTape(**tape_kwargs)
    with tape:
        loss = ops.sum(w * w)
    return tape, loss, w


def test_persistent_tape_allows_several_gradients():
    tape, loss, w = _quadratic({"persistent": True})
    for _ in range(2):
        np.testing.assert_allclose(tape.gradient(loss, w), 2 * w.numpy())


def test_non_persistent_tape_raises_on_second_gradient():
    tape, loss, w = _quadratic({})
    np.testing.assert_allclose(tape.gradient(loss, w), 2 * w.numpy())
    with pytest.raises(RuntimeError, match="persistent"):
        tape.gradient(loss, w)


def test_gradient_of_a_value_not_computed_under_the_tape():
    w = nbkeras.Variable(np.ones(3))
    with nbkeras.GradientTape():
        foreign = ops.sum(w * 2)  # computed under another tape
    with nbkeras.GradientTape() as tape:
        loss = ops.sum(w * w)
        constant = ops.sum(np.ones(3) * 2)
    for target in (np.ones(3), constant, foreign):
        with pytest.raises(ValueError, match="not computed under this GradientTape"):
            tape.gradient(target, w)
    np.testing.assert_allclose(tape.gradient(loss, w), 2 * np.ones(3))


def test_unconnected_sources():
    w = nbkeras.Variable(np.ones(3))
    u = nbkeras.Variable(np.ones((2, 2)))
    with nbkeras.GradientTape(persistent=True) as tape:
        loss = ops.sum(w * 3.0)
    gw, gu = tape.gradient(loss, [w, u])
    np.testing.assert_allclose(gw, [3.0, 3.0, 3.0])
    assert gu is None
    gu = tape.gradient(loss, [w, u], unconnected_gradients="zero")[1]
    assert_f32_array(gu)
    np.testing.assert_array_equal(gu, np.zeros((2, 2)))


def test_output_gradients_seed_the_backward_pass():
    w = nbkeras.Variable(np.array([1.0, 2.0, 3.0]))
    seed = np.array([0.5, -1.0, 2.0])
    with nbkeras.GradientTape() as tape:
        y = w * w
    np.testing.assert_allclose(tape.gradient(y, w, output_gradients=seed),
                               2 * w.numpy() * seed)


def test_watch_accessed_variables_false():
    w = nbkeras.Variable(np.array([1.0, 2.0]))
    v = nbkeras.Variable(np.array([3.0, 4.0]))
    with nbkeras.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(v)
        loss = ops.sum(w * v)
    gw, gv = tape.gradient(loss, [w, v])
    assert gw is None
    np.testing.assert_allclose(gv, [1.0, 2.0])
    with nbkeras.GradientTape(watch_accessed_variables=False):
        assert type(w * 2) is np.ndarray  # nothing watched: nothing recorded


def test_watched_float64_array():
    """A watched float64 array computes in float32; its gradient is float32, its shape."""
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    with nbkeras.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(ops.square(x))
    g = tape.gradient(y, x)
    assert_f32_array(g)
    np.testing.assert_allclose(g, 2 * x)


def test_non_trainable_variables_are_not_watched():
    w = nbkeras.Variable(np.array([1.0, 2.0]), trainable=False)
    v = nbkeras.Variable(np.array([3.0, 4.0]))
    with nbkeras.GradientTape() as tape:
        loss = ops.sum(w * v)
    gw, gv = tape.gradient(loss, [w, v])
    assert gw is None
    np.testing.assert_allclose(gv, [1.0, 2.0])


def test_stop_recording():
    w = nbkeras.Variable(np.array([1.0, 2.0]))
    with nbkeras.GradientTape() as tape:
        loss = ops.sum(w * w)
        with tape.stop_recording():
            side = ops.sum(w * 3.0)
    assert type(side) is np.ndarray
    np.testing.assert_allclose(tape.gradient(loss, w), [2.0, 4.0])

"""Kernels calling a compiled kernel by its address (``kernels/cpu/pointer.py``)."""
import numpy as np
import pytest
from numba import njit, prange, types

from nbkeras.kernels.cpu.pointer import address_of, function_at

_SIGNATURE = types.none(types.float32[::1], types.int64, types.float32[::1])
_at = function_at(_SIGNATURE)


@njit
def _scaled_cumsum(x, k, out):
    total = np.float32(0)
    for i in range(x.shape[0]):
        total += x[i]
        out[i] = total * np.float32(k)


@njit(parallel=True)
def _rows_by_address(address, x, k, out):
    run = _at(address)
    for r in prange(x.shape[0]):
        run(x[r], k, out[r])


def test_a_call_by_address_runs_the_compiled_kernel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 37)).astype(np.float32)
    out = np.zeros_like(x)
    _rows_by_address(np.int64(address_of(_scaled_cumsum, _SIGNATURE)), x, 3, out)
    np.testing.assert_allclose(out, np.cumsum(x, axis=1) * 3, rtol=1e-5, atol=1e-5)


def test_the_caller_holds_no_copy_of_the_callee():
    """The point of calling by address: the callee's code is not linked (and so
    not optimised and translated again) into the caller's."""
    x = np.ones((2, 4), np.float32)
    _rows_by_address(np.int64(address_of(_scaled_cumsum, _SIGNATURE)), x, 1, np.empty_like(x))
    caller = next(iter(_rows_by_address.inspect_llvm().values()))
    callee_name = _scaled_cumsum.overloads[_SIGNATURE.args].fndesc.llvm_func_name
    assert "define" in caller and callee_name in _scaled_cumsum.inspect_llvm(_SIGNATURE.args)
    assert callee_name not in caller


def test_the_address_is_the_same_for_every_call():
    first = address_of(_scaled_cumsum, _SIGNATURE)
    assert first == address_of(_scaled_cumsum, _SIGNATURE) and first > 0


def test_an_inner_kernel_refuses_a_call_from_python():
    """Kernels built without a Python entry (``kernel(inner=True)``) would crash
    if Python called them; they raise instead."""
    from nbkeras.kernels.cpu import activations, products
    for inner in (activations.activate, products._chunk):
        with pytest.raises(TypeError, match="inside other kernels only"):
            inner(1, np.float32(0.5), np.float32(0.0))

"""The CPU kernels on a CPU without AVX-512: 8-float vectors and the AVX2 tiles.

The machines this project runs on have AVX-512, so that path would go untested:
this runs the kernel tests again in a subprocess whose Numba compiles for the
host with every AVX-512 feature turned off (``NUMBA_CPU_FEATURES``).
"""
import os
import subprocess
import sys

import llvmlite.binding as llvm
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_TESTS = ["tests/test_kernels_gemm.py", "tests/test_kernels_conv_pool.py",
                "tests/test_kernels_elementwise.py", "tests/test_kernels_normalization.py",
                "tests/test_layers_gradients.py", "tests/test_kernels_winograd.py",
                "tests/test_kernels_winograd_gradient.py", "tests/test_threads.py"]


def _features_without_avx512():
    features = llvm.get_host_cpu_features().flatten().split(",")
    wide = ("avx512", "amx", "avx10")
    return ",".join("-" + f[1:] if f[1:].startswith(wide) else f for f in features if f)


def test_kernels_pass_with_8_float_vectors():
    env = dict(os.environ, NUMBA_CPU_FEATURES=_features_without_avx512())
    lanes = subprocess.run(
        [sys.executable, "-c", "from nbkeras.kernels.cpu.tile import V; print(V)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert lanes.stdout.strip() == "8", lanes.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *KERNEL_TESTS], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout


if not any(f.startswith("+avx512f") for f in llvm.get_host_cpu_features().flatten().split(",")):
    pytestmark = pytest.mark.skip(reason="this CPU has no AVX-512: the main run already "
                                         "tests the 8-float path")

"""Fixtures for the kernel and training-step benchmarks (pytest-benchmark).

Run with ``pytest benchmarks --benchmark-only``. The header printed by
:func:`pytest_report_header` names the BLAS libraries loaded and the
``OPENBLAS_*`` variables in force (they change which kernels numpy.matmul and
the peers run; nbkeras calls no BLAS; they are reported, never changed here).
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # seed_models, whatever the import mode


def blas_summary():
    """Lines describing OPENBLAS_* variables and every BLAS/OpenMP pool loaded."""
    lines = []
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        lines.append(f"{var}={os.environ.get(var, '<unset>')}")
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        lines.append("threadpoolctl not installed")
        return lines
    for info in threadpool_info():
        path = info.get("filepath", "")
        owner = (path.split("site-packages/")[-1].split("/")[0] if "site-packages/" in path
                 else os.path.dirname(path))
        lines.append(
            f"{info.get('user_api')}: {info.get('internal_api')} {info.get('version')} "
            f"arch={info.get('architecture', '-')} threads={info.get('num_threads')} "
            f"({owner}/{os.path.basename(path)})")
    return lines


def pytest_report_header(config):
    import nbkeras
    nbkeras.backend.ops()  # loads the kernels (and Numba's thread pool)
    return ["nbkeras benchmarks: " + f"numba threads={nbkeras.backend.num_threads()}"] + [
        "  " + line for line in blas_summary()]


@pytest.fixture(scope="session")
def ops():
    """The kernel module of the current device (``nbkeras.backend.ops()``)."""
    from nbkeras import backend
    return backend.ops()


@pytest.fixture(scope="session")
def chunks():
    from nbkeras import backend
    return backend.num_threads()


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)

"""The on-disk kernel cache is keyed on all kernel sources, not one file each,
and on the cache sizes the GEMM blocking was compiled for."""
import os

from numba.core.registry import CPUDispatcher

from nbkeras.kernels import cpu
from nbkeras.kernels.cpu import _jit


def _kernels():
    """Every kernel of every module of the CPU kernel package."""
    import pkgutil
    import importlib
    modules = [importlib.import_module(f"{cpu.__name__}.{info.name}")
               for info in pkgutil.iter_modules(cpu.__path__) if not info.name.startswith("_")]
    return [d for m in modules for d in vars(m).values()
            if isinstance(d, CPUDispatcher) and d.__module__ == m.__name__]


def test_every_kernel_is_stamped_with_all_kernel_sources_and_the_cache_sizes():
    kernels = _kernels()
    assert len(kernels) > 30
    for dispatcher in kernels:
        locator = dispatcher._cache._impl._locator
        assert type(locator).__name__.startswith("Kernel"), dispatcher.__name__
        assert locator.get_source_stamp() == _jit.kernel_stamp()


def test_stamp_follows_the_cache_sizes(monkeypatch):
    """Numba compiles the blocking in as constants and keys its cache on the CPU's
    name and features only: a machine with another L1 or L2 must not load this code."""
    from nbkeras.kernels.cpu import cache_sizes
    here = _jit.kernel_stamp()
    assert cache_sizes.fingerprint() == f"l1={cache_sizes.L1_BYTES},l2={cache_sizes.L2_BYTES}"
    stamps = set()
    for name in ("L1_BYTES", "L2_BYTES"):
        with monkeypatch.context() as m:
            m.setattr(cache_sizes, name, getattr(cache_sizes, name) * 2)
            _jit.kernel_stamp.cache_clear()
            stamps.add(_jit.kernel_stamp())
    try:
        assert here not in stamps and len(stamps) == 2
    finally:
        monkeypatch.undo()
        _jit.kernel_stamp.cache_clear()
    assert _jit.kernel_stamp() == here


def test_stamp_follows_content_not_modification_time(tmp_path):
    (tmp_path / "cpu").mkdir()
    gemm = tmp_path / "cpu" / "gemm.py"
    gemm.write_text("A = 1\n")
    (tmp_path / "cpu" / "conv.py").write_text("B = 2\n")
    before = _jit.kernel_sources_hash(str(tmp_path))
    os.utime(gemm, (1, 1))
    _jit.kernel_sources_hash.cache_clear()
    assert _jit.kernel_sources_hash(str(tmp_path)) == before
    gemm.write_text("A = 3\n")
    _jit.kernel_sources_hash.cache_clear()
    assert _jit.kernel_sources_hash(str(tmp_path)) != before


_COMPILE_AND_REPORT = """
import numpy as np
from nbkeras.kernels import cpu
a = np.ones(8, np.float32)
cpu.erf(a, a.copy(), 1)
print(sum(cpu.erf.stats.cache_hits.values()), sum(cpu.erf.stats.cache_misses.values()))
"""


def _run(env):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", _COMPILE_AND_REPORT], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    hits, misses = (int(v) for v in done.stdout.split())
    return hits, misses


def _env(**values):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(values)
    return env


def test_kernels_cache_in_the_user_cache_folder_by_default(tmp_path):
    """Without NUMBA_CACHE_DIR a user's own script compiles into the per-user cache
    folder (not into the installed package), and the next process loads it."""
    env = _env(XDG_CACHE_HOME=str(tmp_path), HOME=str(tmp_path))
    assert _run(env) == (0, 1)  # compiled
    cached = list((tmp_path / "nbkeras").glob("numba-*/kernels-*/elementwise.erf-*.nbi"))
    assert len(cached) == 1
    assert _run(env) == (1, 0)  # loaded from that folder by a second process


def test_numba_cache_dir_still_wins(tmp_path):
    env = _env(XDG_CACHE_HOME=str(tmp_path / "user"), NUMBA_CACHE_DIR=str(tmp_path / "chosen"))
    _run(env)
    assert list((tmp_path / "chosen").rglob("elementwise.erf-*.nbi"))
    assert not (tmp_path / "user" / "nbkeras").exists()

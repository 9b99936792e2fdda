"""The on-disk kernel cache is keyed on all kernel sources, not one file each."""
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


def test_every_kernel_is_stamped_with_all_kernel_sources():
    kernels = _kernels()
    assert len(kernels) > 30
    for dispatcher in kernels:
        locator = dispatcher._cache._impl._locator
        assert type(locator).__name__.startswith("Kernel"), dispatcher.__name__
        assert locator.get_source_stamp() == _jit.kernel_sources_hash()


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

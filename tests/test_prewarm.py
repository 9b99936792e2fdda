"""The helper process that compiles the common kernels from the other end of the list."""
import os
import subprocess
import sys

import pytest

from nbkeras.kernels.cpu import prewarm


def _run(code, cache, **env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, NUMBA_CACHE_DIR=str(cache), **env), timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_the_list_holds_every_kernel_the_models_compile(tmp_path):
    """After the helper's list is compiled, the models that define it compile nothing:
    a stale or mistyped entry (another signature than the layers pass) fails here."""
    entries = prewarm.read_order()
    assert ("products", "_chunk") == entries[0][:2]     # the training process's first
    assert len(entries) >= 10
    _run("from nbkeras.kernels.cpu import prewarm\n"
         "prewarm.compile_from_end(prewarm.read_order())", tmp_path)
    left = _run("from nbkeras.kernels.cpu import prewarm\n"
                "print(prewarm.compiled_by_workload())", tmp_path)
    assert left.strip() == "[]", f"compiled again, not in the list: {left}"


@pytest.fixture
def popen(monkeypatch):
    calls = []
    monkeypatch.setattr(prewarm.subprocess, "Popen", lambda *a, **k: calls.append((a, k)) or "p")
    monkeypatch.setattr(prewarm, "_started", [])
    monkeypatch.delenv("NBKERAS_PREWARM", raising=False)
    return calls


def test_helper_starts_once_on_a_cold_cache(popen, monkeypatch):
    monkeypatch.setattr(prewarm, "cache_is_cold", lambda: True)
    monkeypatch.setattr(prewarm.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert prewarm.start_helper() == "p"
    assert prewarm.start_helper() is None            # once per process
    (args, kwargs), = popen
    assert args[0][1:] == ["-m", "nbkeras.kernels.cpu.prewarm"]
    assert kwargs["env"]["NBKERAS_PREWARM"] == "0"   # the helper starts no helper


@pytest.mark.parametrize("why", ["warm cache", "one core", "turned off"])
def test_helper_is_not_started_where_it_cannot_help(popen, monkeypatch, why):
    monkeypatch.setattr(prewarm, "cache_is_cold", lambda: why != "warm cache")
    cores = {0} if why == "one core" else {0, 1}
    monkeypatch.setattr(prewarm.os, "sched_getaffinity", lambda pid: cores, raising=False)
    if why == "turned off":
        monkeypatch.setenv("NBKERAS_PREWARM", "0")
    assert prewarm.start_helper() is None
    assert popen == []


def test_cache_is_cold_until_the_product_kernel_is_cached(tmp_path):
    code = ("from nbkeras.kernels.cpu import prewarm\n"
            "print(prewarm.cache_is_cold())\n"
            "import numpy as np, nbkeras\n"
            "a = np.ones((4, 4), np.float32)\n"
            "nbkeras.backend.ops().matmul(a, a, np.empty_like(a), 1)\n")
    assert _run(code, tmp_path).strip() == "True"
    assert _run(code, tmp_path).strip() == "False"


def test_helper_stops_when_its_process_has_ended(monkeypatch):
    """compile_from_end asks before each kernel whether it is still wanted (the
    helper: whether the process that started it still runs)."""
    compiled, answers = [], iter([True, True, False, True])
    monkeypatch.setattr(prewarm, "_dispatcher",
                        lambda module, name: type("D", (), {"compile": lambda self, sig:
                                                            compiled.append(name)})())
    entries = [("m", f"k{i}", ()) for i in range(4)]
    prewarm.compile_from_end(entries, wanted=lambda: next(answers))
    assert compiled == ["k3", "k2"]

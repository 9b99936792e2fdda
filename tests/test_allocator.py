"""Freed arrays' memory stays in the process (``nbkeras/backend/allocator.py``):
a step's large arrays, allocated again the next step, fault no fresh pages."""
import platform
import subprocess
import sys

import pytest

from nbkeras.backend import allocator

# a step's pattern: large arrays alive together, written, then all freed (glibc's
# own thresholds would follow the largest freed block, 1.5 MB, and give back the
# heap's top once more than 3 MB of it is free)
_STEPS = """
import resource, sys
import numpy as np
import nbkeras
from nbkeras import backend
backend.ops()
def step():
    arrays = [np.empty(1_500_000, dtype=np.uint8) for _ in range(6)]
    for a in arrays:
        a[::4096] = 1
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def _faults_per_step(**env):
    import os
    out = subprocess.run([sys.executable, "-c", _STEPS], env={**os.environ, **env},
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_a_steps_arrays_fault_no_fresh_pages():
    # 9 MB a step: 2,197 pages
    assert _faults_per_step() < 50
    assert _faults_per_step(NBKERAS_KEEP_FREED_MEMORY="0") > 1000


def test_the_users_settings_are_kept():
    assert not allocator.keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "1000"})
    assert not allocator.keep_freed_memory({"MALLOC_MMAP_THRESHOLD_": "1000"})
    assert not allocator.keep_freed_memory({"NBKERAS_KEEP_FREED_MEMORY": "0"})

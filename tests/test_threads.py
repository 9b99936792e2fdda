"""The thread count follows the cores other processes leave free
(``nbkeras/backend/threads.py``), and the kernels give the same results on any
number of threads (``products.on_threads`` hands out pieces from a counter)."""
import numba
import numpy as np
import pytest

from nbkeras import backend
from nbkeras.backend import threads
from nbkeras.kernels.codes import ACTIVATION_CODES

RELU = ACTIVATION_CODES["relu"]

TICK = 100   # /proc/stat's clock ticks a second on Linux (os.sysconf("SC_CLK_TCK"))


class Machine:
    """A fake /proc/stat (per-CPU busy and idle ticks), clock and process CPU time."""

    def __init__(self, tmp_path, cpus=2):
        self.path = tmp_path / "stat"
        self.busy = [0] * cpus
        self.now = 100.0
        self.own = 0.0
        self.write()

    def write(self):
        total = sum(self.busy)
        lines = [f"cpu  {total} 0 0 1000 0 0 0 0 0 0"]
        # user, nice, system, idle, iowait, irq, softirq, steal: busy spread
        # over user, system, irq and softirq; steal and iowait are not busy
        lines += [f"cpu{i} {b // 2} 0 {b - b // 2 - 2 * (b // 4)} 500 77 {b // 4} {b // 4} 99 0 0"
                  for i, b in enumerate(self.busy)]
        lines.append("intr 1 2 3")
        self.path.write_text("\n".join(lines) + "\n")

    def advance(self, seconds, others_cores, own_cores):
        """``seconds`` of wall time in which other processes used ``others_cores``
        cores and this one ``own_cores``, spread evenly over the CPUs."""
        self.now += seconds
        self.own += own_cores * seconds
        per_cpu = (others_cores + own_cores) * seconds * TICK / len(self.busy)
        self.busy = [b + round(per_cpu) for b in self.busy]
        self.write()


def share_of(machine, count, cpus=None):
    """A CoreShare of ``count`` threads reading ``machine``."""
    return threads.CoreShare(count, cpus=range(len(machine.busy)) if cpus is None else cpus,
                             stat_path=str(machine.path), clock=lambda: machine.now,
                             own=lambda: machine.own)


def test_busy_seconds_reads_only_the_allowed_cpus(tmp_path):
    m = Machine(tmp_path, cpus=4)
    m.busy = [100, 200, 400, 800]
    m.write()
    assert threads.busy_seconds([1, 3], str(m.path)) == pytest.approx((200 + 800) / TICK)
    assert threads.busy_seconds([7], str(m.path)) is None
    assert threads.busy_seconds([0], str(tmp_path / "missing")) is None


def test_a_busy_core_is_left_to_the_other_process_and_taken_back(tmp_path):
    m = Machine(tmp_path, cpus=2)
    share = share_of(m, 2)
    assert share.readable and share.update() == 2        # the first look: all threads
    m.advance(0.5, others_cores=0.1, own_cores=1.9)
    assert share.update() == 2                           # a tenth of a core: kept
    m.advance(0.5, others_cores=1.0, own_cores=1.0)
    assert share.update() == 1                           # one core busy elsewhere
    m.advance(0.1, others_cores=0.0, own_cores=1.0)
    assert share.update() == 1                           # not looked at again yet
    m.advance(0.5, others_cores=0.0, own_cores=1.0)
    assert share.update() == 2                           # the other process stopped


def test_after_a_pause_every_thread_runs_until_the_next_look(tmp_path):
    """Other processes busy while nbkeras was idle (another framework's turn in
    a benchmark) do not make its next kernels run on fewer threads."""
    m = Machine(tmp_path, cpus=2)
    share = share_of(m, 2)
    share.update()
    m.advance(0.5, others_cores=1.5, own_cores=0.5)
    assert share.update() == 1
    m.advance(5.0, others_cores=2.0, own_cores=0.0)     # idle here, busy elsewhere
    assert share.update() == 2                           # a fresh start
    m.advance(0.3, others_cores=0.0, own_cores=2.0)
    assert share.update() == 2
    m.advance(0.3, others_cores=1.0, own_cores=1.0)
    assert share.update() == 1                           # still judged while running


def test_never_fewer_than_one_thread_nor_more_than_configured(tmp_path):
    m = Machine(tmp_path, cpus=4)
    share = share_of(m, 3)
    share.update()
    m.advance(1.0, others_cores=0.0, own_cores=0.5)
    assert share.update() == 3                           # 4 cores free, 3 configured
    m.advance(1.0, others_cores=4.0, own_cores=0.0)
    assert share.update() == 1


def test_unreadable_stat_keeps_every_thread(tmp_path):
    share = threads.CoreShare(2, cpus=[0, 1], stat_path=str(tmp_path / "none"))
    assert not share.readable
    assert share.update() == 2


def test_limit_sets_numbas_count_in_the_calling_thread(tmp_path):
    m = Machine(tmp_path, cpus=2)
    share = share_of(m, numba.config.NUMBA_NUM_THREADS)
    limit = threads.ThreadLimit(share)
    before = numba.get_num_threads()
    try:
        share.update()
        m.advance(0.5, others_cores=2.0, own_cores=0.0)
        assert limit.apply() == 1
        assert numba.get_num_threads() == 1
        m.advance(0.5, others_cores=0.0, own_cores=0.0)
        assert limit.apply() == min(2, numba.config.NUMBA_NUM_THREADS)
        assert numba.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)
    finally:
        numba.set_num_threads(before)


def test_spin_count_is_set_unless_the_user_chose_one():
    import os
    import subprocess
    import sys
    code = "import nbkeras, os; nbkeras.backend.ops(); print(os.environ['GOMP_SPINCOUNT'])"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == threads.spin_count_default()
    env["GOMP_SPINCOUNT"] = "123"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "123"


@pytest.mark.parametrize("pieces", [2, 3, 5])
def test_kernels_give_the_same_results_on_one_thread(ops, pieces):
    """A convolution forward (fused with pooling) and its weight gradient, split
    into ``pieces``, on every thread and on one: bit for bit the same (each piece
    writes its own outputs, whichever thread takes it)."""
    rng = np.random.default_rng(pieces)
    x = rng.standard_normal((3, 10, 10, 4)).astype(np.float32)
    w2 = rng.standard_normal((3 * 3 * 4, 8)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    dy = rng.standard_normal((3, 4, 4, 8)).astype(np.float32)

    def run():
        y = np.empty((3, 4, 4, 8), np.float32)
        arg = np.empty((3, 4, 4, 8), np.int8)
        ops.conv2d_pool_forward(x, w2, b, 3, 3, 1, 1, 0, 0, 2, 2, RELU, 0.0,
                                np.empty((0, 0, 0, 0), np.float32), y, arg, pieces)
        dw2, db = np.empty_like(w2), np.empty_like(b)
        dx = np.empty_like(x)
        ops.conv2d_pool_backward(w2, x, y, arg, dy, 3, 3, 1, 1, 0, 0, 8, 8, 2, 2, RELU, 0.0,
                                 dw2, db, dx, pieces)
        return y, dw2, db, dx

    before = numba.get_num_threads()
    try:
        everyone = run()
        numba.set_num_threads(1)
        alone = run()
    finally:
        numba.set_num_threads(before)
    for got, want in zip(alone, everyone):
        np.testing.assert_array_equal(got, want)
    # and right: the pooled output against NumPy
    z = np.einsum("nijk,kf->nijf", np.lib.stride_tricks.sliding_window_view(
        x, (3, 3), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3).reshape(3, 8, 8, -1), w2) + b
    pooled = np.maximum(z, 0).reshape(3, 4, 2, 4, 2, 8).max(axis=(2, 4))
    np.testing.assert_allclose(everyone[0], pooled, rtol=1e-5, atol=1e-5)


def test_the_guard_can_be_turned_off():
    import os
    import subprocess
    import sys
    code = ("import nbkeras; nbkeras.backend.num_threads(); "
            "print(nbkeras.backend._state['limit'] is False)")
    env = dict(os.environ, NBKERAS_SHARE_CORES="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


def test_backend_applies_the_thread_limit():
    """backend.num_threads() returns the configured count (the pieces) and, where
    /proc/stat is readable, has set up the limit that follows the load."""
    assert backend.num_threads() == numba.config.NUMBA_NUM_THREADS
    limit = backend._state["limit"]
    assert limit is False or isinstance(limit, threads.ThreadLimit)


@pytest.mark.parametrize("name", ["on_threads", "bias_activation_backward"])
def test_a_parallel_kernel_is_one_parallel_loop(name):
    """Each call of a parallel kernel wakes the threads once: Numba turns
    array expressions and np.zeros outside the prange into parallel loops of
    their own (one more launch every call), so these kernels have none. Compiled
    afresh here: a kernel loaded from the cache carries no parfor report."""
    from numba import types
    from nbkeras.kernels.cpu import activations, products
    f1, f2 = types.float32[::1], types.float32[:, ::1]
    signatures = {
        "on_threads": (products.on_threads, products.BODY_SIGNATURE.args),
        "bias_activation_backward": (activations.bias_activation_backward,
                                     (f2, f2, f2, types.int64, types.float32, f2, f1,
                                      types.int64)),
    }
    kernel, args = signatures[name]
    fresh = numba.njit(parallel=True)(kernel.py_func)
    fresh.compile(args)
    report = fresh.get_metadata(fresh.signatures[0])["parfor_diagnostics"]
    assert len(report.initial_parfors) == 1

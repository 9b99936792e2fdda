"""How many threads the CPU kernels run on: the cores other processes leave free.

Numba's OpenMP threads wait for the next parallel kernel by spinning
``GOMP_SPINCOUNT`` times (about 10 ns each) before they sleep, and a training
or predict step runs a kernel every 50-150 us with Python in between. With
short spins (1000) the threads slept between kernels and every kernel waited
for a sleeping thread to wake (on the 2-core AMD EPYC Zen 4 virtual machine,
up to 200 us after an idle spell): the seed CNN's predict at batch 32 ran at
16,000-17,000 samples/s, and 23,000-28,000 with 10,000 spins. But a thread
that spins where another process wants the core takes the core from it and
from nbkeras's own main thread: with one core busy, the same predict ran at
4,400-5,900 samples/s with 10,000 spins, 12,700-13,100 with 1000.

So the threads spin long enough to bridge a step's gaps
(``spin_count_default``), and the number of threads a kernel runs on follows
the cores the rest of the machine leaves idle (:class:`CoreShare`): every
quarter of a second, from Linux's ``/proc/stat`` (the busy time of the cores
this process may run on) less this process's own CPU time. A core that other
processes keep more than half busy is left to them; when they stop, the
threads come back. Kernels split their work into the same pieces whatever the
thread count (they take pieces from a counter, ``kernels/cpu/products.py``),
so the results do not change with it. Where ``/proc/stat`` cannot be read
(not Linux), or with ``NBKERAS_SHARE_CORES=0``, every thread is used, always.
"""
import os
import threading
import time

#: seconds between two looks at the machine's load
INTERVAL = 0.25
#: a last look older than this says nothing of now (the kernels were idle
#: meanwhile, and other processes may have run then): the next look starts over
STALE = 1.0
#: the spins (GOMP_SPINCOUNT) a thread waits for the next kernel before sleeping
SPIN_COUNT = 10000
_STAT = "/proc/stat"


def spin_count_default():
    """GOMP_SPINCOUNT as nbkeras sets it unless the user did (before libgomp loads)."""
    return str(SPIN_COUNT)


def allowed_cpus():
    """The CPU numbers this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def busy_seconds(cpus, path=_STAT):
    """Seconds the CPUs numbered ``cpus`` have spent busy since boot (user, nice,
    system, irq and softirq time; not idle, I/O wait or time a hypervisor
    stole), from ``/proc/stat``'s per-CPU lines; None where it cannot be read."""
    wanted = {f"cpu{c}" for c in cpus}
    ticks = 0
    found = 0
    try:
        with open(path) as f:
            for line in f:
                if not line.startswith("cpu"):
                    break
                fields = line.split()
                if fields[0] in wanted:
                    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[1:8])
                    ticks += user + nice + system + irq + softirq
                    found += 1
    except (OSError, ValueError):
        return None
    if found == 0:
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU seconds this process has used, all of its threads."""
    t = os.times()
    return t.user + t.system


class CoreShare:
    """The thread count that leaves other processes the cores they use.

    ``update()`` looks at most every :data:`INTERVAL` seconds: the cores the
    others used since the last look are the busy time of our CPUs less our own
    CPU time, per second of wall time; the kernels get the remaining cores,
    rounded (at least 1, at most ``threads``). After a pause (no look for
    :data:`STALE` seconds) every thread is used again until the next look:
    what other processes did while the kernels were idle is not a reason to
    run the next ones on fewer threads."""

    def __init__(self, threads, cpus=None, stat_path=_STAT, clock=time.monotonic,
                 own=own_cpu_seconds):
        self.most = threads
        self.threads = threads
        self._cpus = allowed_cpus() if cpus is None else list(cpus)
        self._path, self._clock, self._own = stat_path, clock, own
        self._last = None
        self.readable = busy_seconds(self._cpus, stat_path) is not None

    def others(self, now, busy, own):
        """Cores other processes used since the last look (None at the first,
        or when that look is stale)."""
        if self._last is None:
            return None
        then, busy_then, own_then = self._last
        wall = now - then
        if wall <= 0 or wall > STALE:
            return None
        return max(0.0, (busy - busy_then) - (own - own_then)) / wall

    def update(self):
        """The thread count now (re-read from the machine's load when due)."""
        if not self.readable:
            return self.threads
        now = self._clock()
        if self._last is not None and now - self._last[0] < INTERVAL:
            return self.threads
        busy = busy_seconds(self._cpus, self._path)
        if busy is None:
            return self.threads
        own = self._own()
        used = self.others(now, busy, own)
        if used is None:
            self.threads = self.most
        else:
            free = len(self._cpus) - used
            self.threads = max(1, min(self.most, int(free + 0.5)))
        self._last = (now, busy, own)
        return self.threads


class ThreadLimit:
    """Applies a :class:`CoreShare`'s count to Numba in each calling thread
    (``numba.set_num_threads`` is per thread), only when it changed: asking
    Numba for its count costs 1.3 us, this check about 0.2 us a kernel call."""

    def __init__(self, share):
        self.share = share
        self._applied = threading.local()

    def apply(self):
        wanted = self.share.update()
        if getattr(self._applied, "count", None) != wanted:
            import numba
            numba.set_num_threads(wanted)
            self._applied.count = wanted
        return wanted

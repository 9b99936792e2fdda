"""Side-by-side benchmark of nbkeras against the frameworks a user would pick instead.

    python benchmarks/compare.py            # full run (~5-10 min on 2 cores)
    python benchmarks/compare.py --quick    # tiny smoke version (small data, few repeats)

What it measures (seed CNN = Conv2D(32,3,relu) MaxPool2 Conv2D(64,3,relu) MaxPool2
Conv2D(64,3,relu) Flatten Dense(64,relu) Dense(10,softmax), 32x32x3 input,
sparse categorical crossentropy, Adam with Keras's defaults):

1. Training throughput (samples/s, forward + backward + Adam) at batch 32 and 128:
   nbkeras ``fit`` vs a plain PyTorch CPU loop (NCHW, Adam(eps=1e-7),
   CrossEntropyLoss on logits, ``torch.set_num_threads(os.cpu_count())``) vs
   Keras 3 on JAX ``fit`` vs Keras 3 on TensorFlow ``fit`` (``tensorflow-cpu``,
   oneDNN: the seed's own ``tensorflow.keras``; intra-op threads = the cores).
   Random data, one warm-up epoch per framework (excluded: it holds JIT/XLA
   compilation), then several measured epochs.
2. Predict throughput (samples/s) at batch 128 and 32: ``predict`` vs PyTorch
   eval under ``torch.no_grad()`` (softmax included) vs Keras ``predict`` (JAX and
   TensorFlow) vs ONNX Runtime (the PyTorch network with its softmax exported by
   ``torch.onnx.export``, ``InferenceSession`` on the CPU provider, intra-op
   threads = the cores).
3. GEMM: ``backend.ops().matmul`` vs ``numpy.matmul``, float32, n = 256..2048, in
   a fresh helper process; where OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set,
   also without them (OpenBLAS's own kernels for the CPU, the issue's peer:
   >= 90% of its AVX-512 kernels on an AMD CPU, else >= 100%).
4. JIT and import cost, each in FRESH subprocesses: nbkeras's first-epoch
   overhead (first epoch - steady epoch) with an EMPTY ``NUMBA_CACHE_DIR``, then
   again in a second process that finds that cache warm; import wall times;
   compile seconds per kernel family (``compile_times.py``, from Numba's
   compile events; medians of 3 cold processes), target <= 10 s in all.
6. Scaling: nbkeras training and predict throughput with 1, 2, ... threads
   (``NUMBA_NUM_THREADS``), each count in its own process, warm kernel cache.
5. Peak memory while training at batch 128, each framework in its own process:
   peak RSS during model build + training minus the RSS after imports + data
   creation. The peak is the process's own ``VmHWM`` (reset after imports), not
   ``ru_maxrss``: Linux carries ru_maxrss across exec, so a worker started by
   this (large) parent would report the parent's peak.

Method. These machines are shared and noisy, so absolute times wander; the
numbers to read are the RATIOS. Everything in sections 1-3 runs in ONE run,
interleaved round by round (the order of the frameworks rotates each round);
each framework of sections 1-2 runs in a helper process of its own that the
rounds drive command by command, as a user runs one framework per process
(``--one-process``: all in this one, except Keras on TensorFlow, as Keras has
one backend per process)
so that a burst of background load hits all of them alike, and each figure is
the MEDIAN over the measured repetitions. Epoch times are taken by a callback
(``on_epoch_begin`` -> ``on_epoch_end``) so per-``fit``-call setup is not counted
for either Keras-style framework. Peers (torch, keras+jax) are optional: a
missing one prints "n/a" and its ratios are skipped. The OPENBLAS_* variables
and the BLAS libraries loaded are printed first: they decide which kernels
numpy.matmul ran (this script reports them, never changes them); nbkeras's own
micro-kernel follows the CPU Numba compiles for.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_description  # noqa: E402

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

FRAMEWORKS = ("nbkeras", "torch", "keras", "tensorflow", "onnxruntime")
LABEL = {"nbkeras": "nbkeras", "torch": "PyTorch", "keras": "Keras-JAX",
         "tensorflow": "Keras-TensorFlow", "onnxruntime": "ONNX Runtime"}
TRAINS = ("nbkeras", "torch", "keras", "tensorflow")  # ONNX Runtime only predicts
TARGET = {"torch": 2.5, "keras": 3.0, "tensorflow": 2.0}  # training, nbkeras / peer
PREDICT_TARGET = {"onnxruntime": 1.2}                     # predict, nbkeras / peer
GEMM_TARGET = 100.0                     # percent of numpy.matmul
BATCH_TARGET = 1.0                      # training samples/s, batch 128 / batch 32
#: seconds to wait before each timed run: thread pools spin for a while after
#: their last call (ONNX Runtime's, OpenBLAS's, OpenMP's), on the cores the
#: next framework needs. Timed right after ONNX Runtime, nbkeras's predict at
#: batch 32 ran at 9,600 samples/s against 11,300 alone (AMD EPYC, 2 cores).
SETTLE_S = 0.3
IMPORT_TARGET = 1.0                     # seconds
WARM_JIT_TARGET = 1.0                   # seconds of first-epoch overhead


# ---------------------------------------------------------------- helpers
def available(framework):
    if framework == "nbkeras":
        return True
    if framework == "torch":
        return importlib.util.find_spec("torch") is not None
    if framework == "keras":
        return (importlib.util.find_spec("keras") is not None
                and importlib.util.find_spec("jax") is not None)
    if framework == "tensorflow":
        return (importlib.util.find_spec("keras") is not None
                and importlib.util.find_spec("tensorflow") is not None)
    if framework == "onnxruntime":
        return all(importlib.util.find_spec(m) is not None
                   for m in ("onnxruntime", "onnx", "torch"))
    raise ValueError(framework)


def version_of(*distributions):
    """An installed distribution's version, without importing it."""
    from importlib import metadata
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "n/a"


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(x, digits=1):
    if x is None or (isinstance(x, float) and x != x):
        return "n/a"
    return f"{x:,.{digits}f}"


def table(headers, rows):
    """Print a fixed-width table (first column left-aligned, the rest right)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                     for i, (h, w) in enumerate(zip(headers, widths)))
    print(line)
    print("-" * len(line))
    for r in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    print()


def section(title):
    print()
    print("=" * 78)
    print(title)
    print("=" * 78)


def target_note(value, target, higher_is_better=True):
    if value is None or value != value:
        return ""
    ok = value >= target if higher_is_better else value < target
    return "met" if ok else "NOT met"


def proc_status_mb(key):
    """``VmRSS`` (current) or ``VmHWM`` (peak) of this process in MiB (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak_rss():
    """Reset this process's VmHWM to its current RSS (Linux ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def maxrss_mb():
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


# ---------------------------------------------------------------- header
def print_header(args):
    import platform
    import numpy as np
    import numba
    import nbkeras
    nbkeras.backend.ops()  # loads the kernels (and Numba's thread pool)
    versions = [f"python {platform.python_version()}", f"numpy {np.__version__}",
                f"numba {numba.__version__}", f"nbkeras {nbkeras.__version__}"]
    if available("torch"):
        import torch
        torch.set_num_threads(os.cpu_count())
        versions.append(f"torch {torch.__version__} (threads {torch.get_num_threads()})")
    else:
        versions.append("torch n/a")
    if available("keras"):
        import jax
        import keras
        versions.append(f"keras {keras.__version__} (backend {keras.backend.backend()}) "
                        f"jax {jax.__version__}")
    else:
        versions.append("keras/jax n/a")
    versions.append(f"tensorflow {version_of('tensorflow-cpu', 'tensorflow')}")
    versions.append(f"onnxruntime {version_of('onnxruntime')} onnx {version_of('onnx')}")
    print("nbkeras side-by-side benchmark" + ("  [--quick: smoke-test sizes]" if args.quick else ""))
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S')}  cpus {os.cpu_count()}  "
          f"numba threads {nbkeras.backend.num_threads()}  "
          f"numba threading layer {_threading_layer()}")
    print("versions: " + ", ".join(versions))
    print(f"CPU: {cpu_description()}")
    print("environment:")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                "NUMBA_CACHE_DIR", "KERAS_BACKEND"):
        print(f"  {var}={os.environ.get(var, '<unset>')}")
    print("thread pools loaded (threadpoolctl.threadpool_info()):")
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            path = info.get("filepath", "")
            owner = (path.split("site-packages/")[-1].split("/")[0]
                     if "site-packages/" in path else os.path.dirname(path))
            print(f"  {info.get('user_api'):7s} {info.get('internal_api'):9s} "
                  f"{str(info.get('version')):10s} arch={str(info.get('architecture', '-')):12s} "
                  f"threads={info.get('num_threads')}  {owner}/{os.path.basename(path)}")
    except ImportError:
        print("  (threadpoolctl not installed)")
    print(f"  (nbkeras calls no BLAS: its micro-kernel uses {tile_lanes()}-float vectors;"
          " numpy.matmul and PyTorch use their own libraries)")


def tile_lanes():
    from nbkeras.kernels.cpu.tile import V
    return V


def _threading_layer():
    import numpy as np
    import numba
    import nbkeras
    a = np.ones((8, 8), dtype=np.float32)
    nbkeras.backend.ops().matmul(a, a, np.empty_like(a), nbkeras.backend.num_threads())
    try:
        return numba.threading_layer()
    except ValueError:
        return "?"


# ---------------------------------------------------------------- frameworks
class Runner:
    """One framework's seed CNN: train one epoch / predict, returning seconds."""

    def __init__(self, framework, x, y, seed=0):
        import numpy as np
        import seed_models
        self.framework = framework
        self.x, self.y = x, y
        self.last_loss = float("nan")
        if framework == "nbkeras":
            import nbkeras
            self.model = seed_models.nbkeras_seed_cnn(seed)
            self.callback_base = nbkeras.callbacks.Callback
        elif framework in ("keras", "tensorflow"):  # Keras 3 on this process's backend
            import keras
            self.model = seed_models.keras_seed_cnn(seed)
            self.callback_base = keras.callbacks.Callback
        elif framework == "onnxruntime":
            self._dir = tempfile.mkdtemp(prefix="nbkeras-onnx-")
            self.session = seed_models.onnx_seed_cnn(os.path.join(self._dir, "seed_cnn.onnx"),
                                                     seed=seed)
            self.xt = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        elif framework == "torch":
            import torch
            torch.set_num_threads(os.cpu_count())
            self.model, self.opt, self.loss_fn = seed_models.torch_seed_cnn(seed)
            self.xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            self.yt = torch.from_numpy(y)
            self.gen = torch.Generator().manual_seed(seed)
        else:
            raise ValueError(framework)

    def _timer(self):
        base = self.callback_base
        times = []

        class EpochTimer(base):
            def on_epoch_begin(self, epoch, logs=None):
                self._t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self._t0)

        return EpochTimer(), times

    def train_epoch(self, batch_size):
        """Seconds for one epoch over all of x (shuffled); sets ``last_loss``."""
        if self.framework == "onnxruntime":
            raise RuntimeError("ONNX Runtime only runs inference")
        if self.framework == "torch":
            import seed_models
            t0 = time.perf_counter()
            self.last_loss = seed_models.torch_train_epoch(
                self.model, self.opt, self.loss_fn, self.xt, self.yt, batch_size, self.gen)
            return time.perf_counter() - t0
        timer, times = self._timer()
        history = self.model.fit(self.x, self.y, batch_size=batch_size, epochs=1,
                                 verbose=0, callbacks=[timer])
        self.last_loss = float(history.history["loss"][-1])
        return times[0]

    def predict(self, batch_size):
        """(seconds, probabilities as numpy) for predicting all of x."""
        import numpy as np
        if self.framework == "torch":
            import seed_models
            t0 = time.perf_counter()
            p = seed_models.torch_predict(self.model, self.xt, batch_size)
            dt = time.perf_counter() - t0
            return dt, p.numpy()
        if self.framework == "onnxruntime":
            import seed_models
            t0 = time.perf_counter()
            p = seed_models.ort_predict(self.session, self.xt, batch_size)
            return time.perf_counter() - t0, p
        t0 = time.perf_counter()
        p = self.model.predict(self.x, batch_size=batch_size, verbose=0)
        dt = time.perf_counter() - t0
        return dt, np.asarray(p)


class RemoteRunner:
    """A :class:`Runner` in a helper process of its own, driven command by
    command: each framework as a user runs it, alone in its process (by
    default, see ``make_runner``; Keras on TensorFlow always, as Keras has one
    backend per process and this one runs JAX)."""

    def __init__(self, framework, samples, seed=0):
        backend = "tensorflow" if framework == "tensorflow" else "jax"
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        self._log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", framework,
             "--serve-samples", str(samples), "--serve-seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
            env=env)
        self.framework = framework
        self.last_loss = float("nan")
        self._call({"cmd": "ready"})

    def _call(self, message):
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("REPLY "):
                reply = json.loads(line[len("REPLY "):])
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply
        self._log.seek(0)
        tail = "\n".join(self._log.read().strip().splitlines()[-5:])
        raise RuntimeError(f"{self.framework} helper process ended: {tail}")

    def train_epoch(self, batch_size):
        reply = self._call({"cmd": "train", "batch": batch_size})
        self.last_loss = reply["loss"]
        return reply["seconds"]

    def predict(self, batch_size):
        import numpy as np
        reply = self._call({"cmd": "predict", "batch": batch_size})
        return reply["seconds"], np.load(reply["path"])

    def predict_with(self, weights_path):
        """Probabilities of a fresh seed CNN given the weights (and x) in an .npz."""
        import numpy as np
        return np.load(self._call({"cmd": "parity", "path": weights_path})["path"])


#: run every framework in a helper process of its own (``--one-process`` clears it)
SEPARATE_PROCESSES = [True]


def make_runner(framework, x, y, seed=0):
    """A RemoteRunner: each framework in a process of its own, so that no
    framework's thread pools, allocator and caches sit in another's process
    (in one process, nbkeras's batch-32 predict read 8,900-11,700 samples/s
    where its own process gives 13,000-14,500). With ``--one-process``, a
    Runner in this process, except Keras on TensorFlow."""
    if SEPARATE_PROCESSES[0] or (framework == "tensorflow"
                                 and os.environ.get("KERAS_BACKEND") != "tensorflow"):
        return RemoteRunner(framework, len(x), seed)
    return Runner(framework, x, y, seed)


def serve_main(framework, samples, seed):
    """The helper process of a RemoteRunner: commands on stdin, replies on stdout."""
    import numpy as np
    import seed_models
    if framework == "tensorflow":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(os.cpu_count())
    x, y = seed_models.random_data(samples, seed=1)
    runner = Runner(framework, x, y, seed)
    scratch = tempfile.mkdtemp(prefix="nbkeras-serve-")
    for line in sys.stdin:
        message = json.loads(line)
        try:
            if message["cmd"] == "ready":
                reply = {}
            elif message["cmd"] == "train":
                seconds = runner.train_epoch(message["batch"])
                reply = {"seconds": seconds, "loss": runner.last_loss}
            elif message["cmd"] == "predict":
                seconds, p = runner.predict(message["batch"])
                path = os.path.join(scratch, "predict.npy")
                np.save(path, p)
                reply = {"seconds": seconds, "path": path}
            elif message["cmd"] == "parity":
                data = np.load(message["path"])
                model = seed_models.keras_seed_cnn(seed=5)
                model.set_weights([data[f"w{i}"] for i in range(len(data.files) - 1)])
                path = os.path.join(scratch, "parity.npy")
                np.save(path, np.asarray(model.predict(data["x"], batch_size=64, verbose=0)))
                reply = {"path": path}
            else:
                reply = {"error": f"unknown command {message['cmd']!r}"}
        except Exception as exc:  # noqa: BLE001 - report to the driver
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print("REPLY " + json.dumps(reply), flush=True)


# ---------------------------------------------------------------- 0. parity
def check_parity(frameworks):
    """Copy one set of nbkeras weights into the peers; compare predictions."""
    import numpy as np
    import seed_models
    section("0. Same network? nbkeras weights copied into each peer, predictions compared")
    x, _ = seed_models.random_data(64, seed=99)
    nb = seed_models.nbkeras_seed_cnn(seed=5)
    p_nb = nb.predict(x, batch_size=64, verbose=0)
    weights = nb.get_weights()
    rows = [["nbkeras", f"{nb.count_params():,}", "-", "-"]]
    for fw in frameworks[1:]:
        try:
            p, n_params = _peer_predictions(fw, weights, x)
            diff = float(np.max(np.abs(p - p_nb)))
            same_class = float(np.mean(p.argmax(1) == p_nb.argmax(1)))
            rows.append([LABEL[fw], f"{n_params:,}", f"{diff:.2e}", f"{same_class:.0%}"])
        except Exception as exc:  # noqa: BLE001 - report and go on
            rows.append([LABEL[fw], "ERROR", f"{type(exc).__name__}: {exc}"[:60], ""])
    table(["framework", "params", "max |dp| vs nbkeras", "same argmax"], rows)


def _peer_predictions(fw, weights, x):
    """(probabilities, parameter count) of ``fw``'s seed CNN holding nbkeras's weights."""
    import numpy as np
    import seed_models
    if fw == "keras":
        model = seed_models.keras_seed_cnn(seed=5)
        model.set_weights(weights)
        return np.asarray(model.predict(x, batch_size=64, verbose=0)), model.count_params()
    n_params = int(sum(w.size for w in weights))  # the weights the peer was given
    if fw == "tensorflow":
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "weights.npz")
            np.savez(path, x=x, **{f"w{i}": w for i, w in enumerate(weights)})
            remote = RemoteRunner("tensorflow", 64)
            return remote.predict_with(path), n_params
    xt = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if fw == "onnxruntime":
        with tempfile.TemporaryDirectory() as tmp:
            session = seed_models.onnx_seed_cnn(os.path.join(tmp, "m.onnx"), weights=weights)
            return seed_models.ort_predict(session, xt, 64), n_params
    import torch
    model, _, _ = seed_models.torch_seed_cnn(seed=5)
    seed_models.torch_set_nbkeras_weights(model, weights)
    return (seed_models.torch_predict(model, torch.from_numpy(xt), 64).numpy(),
            sum(t.numel() for t in model.parameters()))


# ---------------------------------------------------------------- 1+2. throughput
def throughput(frameworks, args):
    import numpy as np
    import seed_models
    section(f"1. Training throughput, seed CNN (samples/s; {args.samples:,} samples/epoch, "
            f"1 warm-up epoch excluded, median of {args.rounds} epochs, interleaved)")
    x, y = seed_models.random_data(args.samples, seed=1)
    results = {}
    runners_at_128 = {}
    errors = []
    for batch in (32, 128):
        runners = {}
        for fw in frameworks:
            if fw not in TRAINS:
                continue
            try:
                runners[fw] = make_runner(fw, x, y, seed=0)
                runners[fw].warm = runners[fw].train_epoch(batch)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"train {fw} batch {batch}: {type(exc).__name__}: {exc}")
                traceback.print_exc()
                runners.pop(fw, None)
        times = {fw: [] for fw in runners}
        order = list(runners)
        for r in range(args.rounds):
            for fw in order[r % len(order):] + order[:r % len(order)]:
                try:
                    time.sleep(SETTLE_S)
                    times[fw].append(runners[fw].train_epoch(batch))
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"train {fw} batch {batch}: {type(exc).__name__}: {exc}")
        for fw in runners:
            ts = times[fw]
            results[(fw, batch)] = {
                "sps": args.samples / median(ts) if ts else float("nan"),
                "spread": (args.samples / max(ts), args.samples / min(ts)) if ts else None,
                "warm": runners[fw].warm, "loss": runners[fw].last_loss}
        if batch == 128:
            runners_at_128 = runners
    for fw in frameworks:
        if fw not in TRAINS:
            try:
                runners_at_128[fw] = make_runner(fw, x, y, seed=0)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{fw}: {type(exc).__name__}: {exc}")
    rows = []
    for batch in (32, 128):
        nb = results.get(("nbkeras", batch), {}).get("sps", float("nan"))
        for fw in frameworks:
            if fw not in TRAINS:
                continue
            r = results.get((fw, batch))
            if r is None:
                rows.append([f"{LABEL[fw]} b{batch}", "ERROR", "", "", "", ""])
                continue
            lo, hi = r["spread"] if r["spread"] else (float("nan"), float("nan"))
            ratio = "" if fw == "nbkeras" else f"{nb / r['sps']:.2f}x"
            note = "" if fw == "nbkeras" else f"target >= {TARGET[fw]}x: " + target_note(
                nb / r["sps"], TARGET[fw])
            rows.append([f"{LABEL[fw]}  batch {batch}", fmt(r["sps"], 0),
                         f"{fmt(lo, 0)}-{fmt(hi, 0)}", f"{r['warm']:.2f}",
                         f"{r['loss']:.3f}", ratio, note])
    table(["framework", "samples/s", "min-max", "warm-up s", "last loss",
           "nbkeras/peer", ""], rows)
    if "nbkeras" in runners_at_128:
        results["nbkeras", "128/32"] = batch_scaling(runners_at_128["nbkeras"], args)

    section(f"2. Predict throughput, seed CNN (samples/s over {args.samples:,} samples, "
            f"median of {args.rounds}, after 1 warm-up call)")
    rows = []
    pred = {}
    for batch in (128, 32):
        times = {fw: [] for fw in runners_at_128}
        for fw, runner in runners_at_128.items():
            try:
                _, p = runner.predict(batch)  # warm-up (compiles for this batch shape)
                assert p.shape == (args.samples, 10), p.shape
                assert np.allclose(p.sum(axis=1), 1.0, atol=1e-4), "rows do not sum to 1"
            except Exception as exc:  # noqa: BLE001
                errors.append(f"predict {fw} batch {batch}: {type(exc).__name__}: {exc}")
                times.pop(fw)
        order = list(times)
        for r in range(args.rounds):
            for fw in order[r % len(order):] + order[:r % len(order)]:
                time.sleep(SETTLE_S)
                times[fw].append(runners_at_128[fw].predict(batch)[0])
        for fw in frameworks:
            pred[(fw, batch)] = (args.samples / median(times[fw])) if times.get(fw) else None
        nb = pred[("nbkeras", batch)]
        for fw in frameworks:
            sps = pred[(fw, batch)]
            ratio = "" if fw == "nbkeras" or not sps or not nb else f"{nb / sps:.2f}x"
            note = (f"target >= {PREDICT_TARGET[fw]}x: "
                    + target_note(nb / sps, PREDICT_TARGET[fw])
                    if fw in PREDICT_TARGET and sps and nb else "")
            rows.append([f"{LABEL[fw]}  batch {batch}", fmt(sps, 0) if sps else "n/a", ratio,
                         note])
    table(["framework", "samples/s", "nbkeras/peer", ""], rows)
    return results, pred, errors


def batch_scaling(runner, args):
    """nbkeras's training at batch 128 per sample against batch 32, one model
    alternating the two epoch by epoch (the table above times them minutes
    apart, and this machine's speed drifts in between): the issue asks that
    batch 128 not be slower per sample."""
    times = {32: [], 128: []}
    for r in range(args.rounds):
        for batch in ((32, 128) if r % 2 == 0 else (128, 32)):
            time.sleep(SETTLE_S)
            times[batch].append(runner.train_epoch(batch))
    sps = {batch: args.samples / median(ts) for batch, ts in times.items()}
    ratio = sps[128] / sps[32]
    print(f"\nnbkeras, batch 128 against batch 32 in alternate epochs: {sps[128]:,.0f} vs "
          f"{sps[32]:,.0f} samples/s, {ratio:.2f}x per sample  [target >= {BATCH_TARGET}x: "
          f"{target_note(ratio, BATCH_TARGET)}]")
    return ratio


# ---------------------------------------------------------------- 3. GEMM
#: variables that override OpenBLAS's own choice of kernels and blocking for the CPU
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def gemm_target(cpu):
    """Percent of numpy.matmul's speed the issue asks for on this CPU: 90% of the
    AVX-512 OpenBLAS on an AMD CPU with AVX-512 (Zen 4/5), else 100%."""
    return 90.0 if "AMD" in cpu and "AVX-512" in cpu else GEMM_TARGET


def blas_kernels():
    """The kernel family numpy's OpenBLAS chose (e.g. SkylakeX, Haswell)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "?"
    import numpy  # noqa: F401  (loads the BLAS)
    archs = [i.get("architecture") or "?" for i in threadpool_info()
             if i.get("internal_api") == "openblas" and "numpy" in i.get("filepath", "")]
    return archs[0] if archs else "?"


def time_gemm(sizes, samples):
    """{n: (nbkeras GFLOP/s, numpy GFLOP/s, relative error)}, interleaved in this process."""
    import numpy as np
    import nbkeras
    ops = nbkeras.backend.ops()
    chunks = nbkeras.backend.num_threads()
    rng = np.random.default_rng(0)
    results = {}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        out_nb = np.empty((n, n), dtype=np.float32)
        out_np = np.empty((n, n), dtype=np.float32)
        run_nb = lambda: ops.matmul(a, b, out_nb, chunks)  # noqa: E731
        run_np = lambda: np.matmul(a, b, out=out_np)  # noqa: E731
        run_nb()
        run_np()
        t0 = time.perf_counter()
        run_np()
        one = max(time.perf_counter() - t0, 1e-6)
        reps = max(1, int(0.05 / one))  # each timing covers >= ~50 ms
        t_nb, t_np = [], []
        for s in range(samples):
            for name in (("nb", "np") if s % 2 == 0 else ("np", "nb")):
                fn, dest = (run_nb, t_nb) if name == "nb" else (run_np, t_np)
                # NumPy's OpenBLAS threads busy-wait ~0.1 s after each call (and
                # Numba's OpenMP threads briefly): let the other library's pool go
                # idle, then warm this one, so neither is timed against a spinner.
                time.sleep(SETTLE_S)
                fn()
                t0 = time.perf_counter()
                for _ in range(reps):
                    fn()
                dest.append((time.perf_counter() - t0) / reps)
        flop = 2.0 * n ** 3
        ref = a.astype(np.float64) @ b.astype(np.float64)
        err = float(np.linalg.norm(out_nb - ref) / np.linalg.norm(ref))
        results[n] = (flop / median(t_nb) / 1e9, flop / median(t_np) / 1e9, err)
    return results


def gemm_worker_main(sizes, samples):
    """A GEMM helper process: prints its OpenBLAS kernels and time_gemm's figures."""
    results = time_gemm(sizes, samples)
    print("RESULT " + json.dumps({"blas": blas_kernels(), "results": results}))


def run_gemm_worker(args, env):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--gemm-worker",
                          "--gemm-samples", str(args.gemm_samples), "--gemm-sizes",
                          ",".join(map(str, args.gemm_sizes))],
                         capture_output=True, text=True, env=env, timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            data = json.loads(line[7:])
            return data["blas"], {int(n): r for n, r in data["results"].items()}
    raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no output")


def gemm(args):
    """nbkeras's matmul against numpy.matmul, each pair timed in a fresh helper
    process (nothing else loaded). Where OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE
    is set, once as set and once without them (OpenBLAS's own kernels for this
    CPU: SkylakeX on an AVX-512 CPU), and the target is read against the latter,
    the peer the issue names. Returns {n: percent}."""
    cpu = cpu_description()
    target = gemm_target(cpu)
    section(f"3. GEMM, float32 n x n: nbkeras matmul kernel vs numpy.matmul "
            f"(median of {args.gemm_samples} timings, interleaved, a fresh process each)")
    runs = [("as configured", os.environ.copy())]
    overridden = [v for v in OPENBLAS_OVERRIDES if v in os.environ]
    if overridden:
        own = {k: v for k, v in os.environ.items() if k not in OPENBLAS_OVERRIDES}
        runs.append((f"without {', '.join(overridden)}", own))
    rows, percents = [], {}
    for label, env in runs:
        blas, results = run_gemm_worker(args, env)
        for n, (g_nb, g_np, err) in results.items():
            pct = 100.0 * g_nb / g_np
            judged = label == runs[-1][0]
            if judged:
                percents[n] = pct
            rows.append([f"n = {n}", f"{label} ({blas})", fmt(g_nb), fmt(g_np), f"{pct:.0f}%",
                         f"target >= {target:.0f}%: {target_note(pct, target)}" if judged else "",
                         f"{err:.1e}"])
    table(["size", "numpy's OpenBLAS", "nbkeras GFLOP/s", "numpy GFLOP/s", "nbkeras/numpy",
           "", "rel. err"], rows)
    if target != GEMM_TARGET:
        print(f"target: {target:.0f}% of OpenBLAS's AVX-512 kernels on an AMD CPU (the issue's)")
    return percents, target


# ---------------------------------------------------------------- 4+5. subprocesses
IMPORT_SNIPPETS = {
    "nbkeras": "import nbkeras",
    "nbkeras + backend.ops()": "import nbkeras; nbkeras.backend.ops()",
    "torch": "import torch",
    "keras (jax backend)": "import keras",
    "tensorflow": "import tensorflow",
    "onnxruntime": "import onnxruntime",
}


def time_import(snippet):
    code = ("import time; t0 = time.perf_counter(); " + snippet +
            "; print('RESULT', time.perf_counter() - t0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=os.environ.copy(), timeout=300)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return float(line.split()[1])
    raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no output")


def run_worker(framework, args, cache_dir=None):
    env = os.environ.copy()
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    if framework == "tensorflow":
        env["KERAS_BACKEND"] = "tensorflow"
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework,
           "--worker-samples", str(args.worker_samples),
           "--worker-epochs", str(args.worker_epochs)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    wall = time.perf_counter() - t0
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["process_wall_s"] = wall
            return result
    tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-5:])
    raise RuntimeError(f"worker {framework} failed (rc {out.returncode}): {tail}")


def worker_main(framework, samples, epochs):
    """Runs in a fresh subprocess: import, data, model, ``epochs`` epochs at batch 128."""
    t_start = time.perf_counter()
    if framework == "nbkeras":
        import nbkeras  # noqa: F401
        nbkeras.backend.ops()
    elif framework == "torch":
        import torch
        torch.set_num_threads(os.cpu_count())
    elif framework in ("keras", "tensorflow"):
        import keras  # noqa: F401
    import_s = time.perf_counter() - t_start
    import seed_models
    x, y = seed_models.random_data(samples, seed=1)
    base_rss = proc_status_mb("VmRSS")
    import_peak = proc_status_mb("VmHWM")
    was_reset = reset_peak_rss()
    runner = Runner(framework, x, y, seed=0)
    times = [runner.train_epoch(128)]
    to_first = time.perf_counter() - t_start
    times += [runner.train_epoch(128) for _ in range(epochs - 1)]
    peak = proc_status_mb("VmHWM")
    if not peak == peak:  # no /proc: fall back on getrusage
        peak = maxrss_mb()
    result = {"import_s": import_s, "epochs_s": times, "base_rss_mb": base_rss,
              "import_peak_mb": import_peak, "peak_rss_mb": peak,
              "peak_reset": was_reset, "ru_maxrss_mb": maxrss_mb(),
              "loss": runner.last_loss, "to_first_epoch_end_s": to_first}
    result["first_s"] = times[0]
    result["steady_s"] = median(times[1:])
    result["overhead_s"] = times[0] - result["steady_s"]
    print("RESULT " + json.dumps(result))


def jit_and_imports(frameworks, args):
    errors = []
    section(f"4a. Import wall time, fresh subprocess each (median of {args.import_reps}; "
            "numpy not preloaded)")
    snippets = {k: v for k, v in IMPORT_SNIPPETS.items() if k.split()[0] in frameworks}
    times = {k: [] for k in snippets}
    for rep in range(args.import_reps):
        for name, snippet in snippets.items():
            try:
                times[name].append(time_import(snippet))
            except Exception as exc:  # noqa: BLE001
                errors.append(f"import {name}: {exc}")
    rows = []
    imports = {}
    for name in snippets:
        med = median(times[name])
        imports[name] = med
        note = (f"target < {IMPORT_TARGET:.0f} s: {target_note(med, IMPORT_TARGET, False)}"
                if name == "nbkeras" else "")
        spread = f"{min(times[name]):.2f}-{max(times[name]):.2f}" if times[name] else "n/a"
        rows.append([name, fmt(med, 2), spread, note])
    table(["import", "median s", "min-max", ""], rows)

    section(f"4b. JIT: nbkeras first-epoch overhead, fresh subprocesses, batch 128, "
            f"{args.worker_samples:,} samples x {args.worker_epochs} epochs")
    results = {}
    with tempfile.TemporaryDirectory(prefix="nbkeras-numba-cache-") as cache:
        for label in ("nbkeras, empty NUMBA_CACHE_DIR", "nbkeras, warm NUMBA_CACHE_DIR"):
            try:
                results[label] = run_worker("nbkeras", args, cache_dir=cache)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{label}: {exc}")
        for fw in frameworks[1:]:
            if fw not in TRAINS:
                continue
            try:
                results[LABEL[fw]] = run_worker(fw, args)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"worker {fw}: {exc}")
    rows = []
    for label, r in results.items():
        note = ""
        if label.startswith("nbkeras, warm"):
            note = (f"target < {WARM_JIT_TARGET:.0f} s: "
                    + target_note(r["overhead_s"], WARM_JIT_TARGET, False))
        rows.append([label, f"{r['import_s']:.2f}", f"{r['first_s']:.2f}",
                     f"{r['steady_s']:.2f}", f"{r['overhead_s']:.2f}",
                     f"{r['to_first_epoch_end_s']:.2f}", f"{r['process_wall_s']:.1f}", note])
    table(["process", "import s", "1st epoch s", "steady s", "overhead s",
           "start->1st epoch done s", "process wall s", ""], rows)
    print("overhead = first epoch - median of the later epochs (same process); "
          "'start->1st epoch done' counts from\nthe worker's first line (imports included, "
          "interpreter start-up not). Peers shown for context.")

    section("5. Peak memory training at batch 128, each in its own subprocess (MiB)")
    rows = []
    mem = {}
    for label, r in results.items():
        delta = r["peak_rss_mb"] - r["base_rss_mb"]
        mem[label] = delta
        rows.append([label, fmt(r["base_rss_mb"]), fmt(r["import_peak_mb"]),
                     fmt(r["peak_rss_mb"]), fmt(delta), fmt(r["ru_maxrss_mb"])])
    table(["process", "RSS after imports+data", "peak until then",
           "peak in build+training", "peak - base", "ru_maxrss"], rows)
    print("Peaks are the process's own VmHWM (/proc/self/status), reset to the current RSS\n"
          "after imports + data (clear_refs), read after training. ru_maxrss is shown but NOT\n"
          "usable here: Linux keeps it across exec, so a worker spawned (vfork+exec) by this\n"
          "large parent reports the parent's peak.")
    nb_label = "nbkeras, warm NUMBA_CACHE_DIR"
    if nb_label in mem and "PyTorch" in mem and mem["PyTorch"] > 0:
        print(f"nbkeras (warm cache) / PyTorch, training memory above base: "
              f"{mem[nb_label] / mem['PyTorch']:.2f}x; absolute peak: "
              f"{results[nb_label]['peak_rss_mb'] / results['PyTorch']['peak_rss_mb']:.2f}x")
    return imports, results, errors


def compile_report(runs):
    """Section 4c: seconds of compiling per kernel family, seed CNN first epoch,
    medians of ``runs`` cold processes (one read 8.4 and 12.7 s in two runs
    ten minutes apart on the AMD EPYC Zen 4: a single one is too noisy to
    hold against the target)."""
    import compile_times
    section("4c. Compiling in the seed CNN's first epoch, empty NUMBA_CACHE_DIR "
            "(each kernel's own compile seconds, by family)")
    result = compile_times.measure(runs=runs)
    compile_times.report(result)
    return result


# ---------------------------------------------------------------- 6. scaling
def scaling_worker(samples, rounds):
    """In a subprocess: nbkeras samples/s, training and predict, batch 32 and 128."""
    import seed_models
    import nbkeras
    x, y = seed_models.random_data(samples, seed=1)
    runner = Runner("nbkeras", x, y, seed=0)
    # the thread counts the guard chose (nbkeras/backend/threads.py): fewer than
    # NUMBA_NUM_THREADS where another process kept a core busy
    nbkeras.backend.num_threads()
    limit, chosen = nbkeras.backend._state["limit"], []
    if limit:
        looked = limit.share.update
        limit.share.update = lambda: chosen.append(looked()) or chosen[-1]
    out = {}
    for batch in (32, 128):
        runner.train_epoch(batch)
        out[f"train {batch}"] = samples / median([runner.train_epoch(batch)
                                                  for _ in range(rounds)])
        runner.predict(batch)
        out[f"predict {batch}"] = samples / median([runner.predict(batch)[0]
                                                    for _ in range(rounds)])
    out["fewest threads"] = min(chosen) if chosen else nbkeras.backend.num_threads()
    print("RESULT " + json.dumps(out))


def scaling(args):
    cores = os.cpu_count() or 1
    counts = sorted({1, 2, cores} & set(range(1, cores + 1)))
    section(f"6. Scaling: nbkeras with NUMBA_NUM_THREADS = {counts} (samples/s, "
            f"{args.samples:,} samples, median of {args.rounds}, warm cache)")
    rows, errors, base = [], [], None
    with tempfile.TemporaryDirectory(prefix="nbkeras-numba-cache-") as cache:
        for run, threads in enumerate([counts[0]] + counts):  # run 0 fills the cache
            env = dict(os.environ, NUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS=str(threads))
            cmd = [sys.executable, os.path.abspath(__file__), "--scaling-worker",
                   "--worker-samples", str(args.samples), "--worker-epochs", str(args.rounds)]
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
            lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
            if not lines:
                errors.append(f"scaling, {threads} threads: {done.stderr.strip()[-300:]}")
                continue
            result = json.loads(lines[-1][len("RESULT "):])
            if run == 0:
                continue
            fewest = result.pop("fewest threads")
            base = base or result
            rows.append([f"{threads} thread{'s' if threads > 1 else ''}"] + [
                f"{fmt(v, 0)} ({v / base[k]:.2f}x)" for k, v in result.items()] + [fewest])
    table(["threads", "train b32", "predict b32", "train b128", "predict b128",
           "fewest used"], rows)
    print("Each kernel splits its work into as many pieces as Numba has threads\n"
          "(row_range: rows of samples x output pixels, Winograd tiles, or a weight\n"
          "gradient's reduction with per-piece partial sums added at the end), and the\n"
          "threads take the pieces from a counter: nothing assumes 2 threads. 'fewest\n"
          "used': the fewest threads the guard left running while another process kept\n"
          "a core busy (nbkeras/backend/threads.py; NBKERAS_SHARE_CORES=0 turns it off).")
    return errors


# ---------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test version")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--serve", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--scaling-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gemm-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gemm-sizes", default="256,512,1024,2048", help=argparse.SUPPRESS)
    parser.add_argument("--gemm-samples", type=int, default=7, help=argparse.SUPPRESS)
    parser.add_argument("--serve-samples", type=int, default=2048, help=argparse.SUPPRESS)
    parser.add_argument("--serve-seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker-samples", type=int, default=2048, help=argparse.SUPPRESS)
    parser.add_argument("--worker-epochs", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--one-process", action="store_true",
                        help="run the frameworks' throughput rounds in this one process "
                             "(Keras on TensorFlow still in a helper), not one process each")
    args = parser.parse_args()
    SEPARATE_PROCESSES[0] = not args.one_process
    if args.worker:
        worker_main(args.worker, args.worker_samples, args.worker_epochs)
        return 0
    if args.serve:
        serve_main(args.serve, args.serve_samples, args.serve_seed)
        return 0
    if args.scaling_worker:
        scaling_worker(args.worker_samples, args.worker_epochs)
        return 0
    if args.gemm_worker:
        gemm_worker_main([int(n) for n in args.gemm_sizes.split(",")], args.gemm_samples)
        return 0

    if args.quick:
        args.samples, args.rounds = 256, 3
        args.gemm_sizes, args.gemm_samples = (256, 512, 1024, 2048), 3
        args.import_reps, args.worker_samples, args.worker_epochs = 1, 256, 3
    else:
        args.samples, args.rounds = 2048, 5
        args.gemm_sizes, args.gemm_samples = (256, 512, 1024, 2048), 7
        args.import_reps, args.worker_samples, args.worker_epochs = 5, 2048, 4

    t_start = time.perf_counter()
    print_header(args)
    frameworks = [fw for fw in FRAMEWORKS if available(fw)]
    missing = [LABEL[fw] for fw in FRAMEWORKS if fw not in frameworks]
    if missing:
        print(f"not installed, skipped: {', '.join(missing)} (pip install nbkeras[peers])")
    errors = []
    check_parity(frameworks)
    train, pred, errs = throughput(frameworks, args)
    errors += errs
    try:
        percents, gemm_goal = gemm(args)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        errors.append(f"gemm: {type(exc).__name__}: {exc}")
        percents, gemm_goal = {}, GEMM_TARGET
    imports, procs, errs = jit_and_imports(frameworks, args)
    errors += errs
    try:
        compiled = compile_report(1 if args.quick else 3)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        errors.append(f"compile times: {type(exc).__name__}: {exc}")
        compiled = None
    errors += scaling(args)

    section("Summary (ratios: > 1 means nbkeras is faster)")
    rows = []
    for fw in frameworks[1:]:
        for batch in (32, 128):
            if fw not in TRAINS:
                continue
            nb, peer = train.get(("nbkeras", batch)), train.get((fw, batch))
            if nb and peer:
                r = nb["sps"] / peer["sps"]
                rows.append([f"train b{batch} vs {LABEL[fw]}", f"{r:.2f}x",
                             f">= {TARGET[fw]}x", target_note(r, TARGET[fw])])
    if ("nbkeras", "128/32") in train:
        r = train["nbkeras", "128/32"]
        rows.append(["train b128 / b32, per sample", f"{r:.2f}x", f">= {BATCH_TARGET}x",
                     target_note(r, BATCH_TARGET)])
    for fw in frameworks[1:]:
        for batch in (128, 32):
            nb, peer = pred.get(("nbkeras", batch)), pred.get((fw, batch))
            if nb and peer:
                goal = PREDICT_TARGET.get(fw)
                rows.append([f"predict b{batch} vs {LABEL[fw]}", f"{nb / peer:.2f}x",
                             f">= {goal}x" if goal else "",
                             target_note(nb / peer, goal) if goal else ""])
    for n, pct in percents.items():
        rows.append([f"GEMM n={n} vs numpy", f"{pct:.0f}%", f">= {gemm_goal:.0f}%",
                     target_note(pct, gemm_goal)])
    if "nbkeras" in imports:
        rows.append(["import nbkeras", f"{imports['nbkeras']:.2f} s", f"< {IMPORT_TARGET:.0f} s",
                     target_note(imports["nbkeras"], IMPORT_TARGET, False)])
    for label in ("nbkeras, empty NUMBA_CACHE_DIR", "nbkeras, warm NUMBA_CACHE_DIR"):
        if label in procs:
            warm = "warm" in label
            rows.append([f"1st-epoch overhead, {'warm' if warm else 'cold'} cache",
                         f"{procs[label]['overhead_s']:.2f} s",
                         f"< {WARM_JIT_TARGET:.0f} s" if warm else "",
                         target_note(procs[label]["overhead_s"], WARM_JIT_TARGET, False)
                         if warm else ""])
    if compiled:
        import compile_times
        rows.append(["compiling, 1st epoch, empty cache", f"{compiled['compile_s']:.1f} s",
                     f"<= {compile_times.COMPILE_TARGET:.0f} s",
                     target_note(compiled["compile_s"], compile_times.COMPILE_TARGET, False)])
        rows.append(["  same, with the compile helper", f"{compiled['helped_overhead_s']:.1f} s",
                     f"<= {compile_times.COMPILE_TARGET:.0f} s",
                     target_note(compiled["helped_overhead_s"], compile_times.COMPILE_TARGET,
                                 False)])
    table(["measure", "value", "target", ""], rows)
    print(f"CPU: {cpu_description()}")
    if errors:
        print("ERRORS:")
        for e in errors:
            print("  " + e)
    print(f"total wall time {time.perf_counter() - t_start:.0f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

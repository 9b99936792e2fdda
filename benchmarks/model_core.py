"""What the model core (per-call contexts, the tape, ops) costs, side by side.

    python benchmarks/model_core.py                    # baseline: BASELINE below
    python benchmarks/model_core.py --baseline <ref>   # any git ref
    python benchmarks/model_core.py --quick

1. Seed CNN (CIFAR shapes, Adam, sparse CE) training and predict time per batch,
   batch 32 and 128: this working tree against the baseline revision (checked
   out into a temporary git worktree). Each revision runs in its own process
   (they are two versions of one package); rounds alternate between them and
   the figures are medians, so background load hits both alike.
   Target: within 5% of the baseline.
2. Tape overhead: the same network shrunk until its kernels cost almost nothing
   (one filter, 8x8x1 input, batch 1): a step's time is then Python overhead.
   Reported as microseconds per training step, per revision.
3. A custom ``Linear`` layer written with ``ops.matmul(x, w) + b`` and
   ``ops.relu`` against the same MLP built from ``Dense`` layers, 784-256-256-10,
   batch 128, Adam: training samples/s in one process. Target: within 2x.
4. Cold compile of the kernels the model core added (normalization, accumulate,
   erf): seconds per kernel in a fresh process with an empty NUMBA_CACHE_DIR.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from machine import cpu_description

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BASELINE = "cd0a1a7"  # the last commit before the model core
CORE_TARGET = 1.05    # per-batch time, this tree / baseline
MLP_TARGET = 2.0      # Dense MLP samples/s / custom-Linear MLP samples/s


# ------------------------------------------------------------ worker bodies
def _use_tree(root):
    """Import nbkeras, kernels included, from the source tree at ``root``.

    ``sys.path`` alone is not enough: ``nbkeras.kernels`` lives in ``kernels/``,
    and an editable install maps that name to ITS tree's folder, so a baseline
    worker would run the working tree's kernels under the baseline's API.
    """
    import importlib.util
    sys.path.insert(0, root)
    folder = os.path.join(root, "kernels")
    spec = importlib.util.spec_from_file_location(
        "nbkeras.kernels", os.path.join(folder, "__init__.py"),
        submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules["nbkeras.kernels"] = module
    spec.loader.exec_module(module)
    import nbkeras
    from nbkeras.kernels.cpu import _jit
    assert os.path.dirname(nbkeras.__file__) == os.path.join(root, "nbkeras"), nbkeras.__file__
    assert _jit.__file__.startswith(folder + os.sep), _jit.__file__


def _worker_seed_cnn(args):
    """In a subprocess: per-batch times of the seed CNN for the package at args.root."""
    _use_tree(args.root)
    import numpy as np
    import nbkeras as keras
    from nbkeras import layers as L

    def build(tiny):
        """The seed CNN, or the same layers shrunk to one channel on a 10x10 image."""
        width = (lambda n: 1) if tiny else (lambda n: n)
        shape = (10, 10, 1) if tiny else (32, 32, 3)
        model = keras.Sequential([
            keras.Input(shape),
            L.Conv2D(width(32), (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
            L.Conv2D(width(64), (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
            L.Conv2D(width(64), (1, 1) if tiny else (3, 3), activation="relu"),
            L.Flatten(), L.Dense(width(64), activation="relu"),
            L.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model, shape

    rng = np.random.default_rng(0)
    out = {}
    for name, tiny, batches in (("cnn", False, (32, 128)), ("tiny", True, (1,))):
        keras.utils.set_random_seed(0)
        model, shape = build(tiny)
        for bs in batches:
            steps = args.steps
            x = rng.random((bs * steps,) + shape).astype("float32")
            y = rng.integers(0, 10, bs * steps)
            model.fit(x[:bs * 2], y[:bs * 2], batch_size=bs, verbose=0)
            model.predict(x[:bs], batch_size=bs, verbose=0)
            t = time.perf_counter()
            model.fit(x, y, batch_size=bs, epochs=1, shuffle=False, verbose=0)
            out[f"{name}_train_{bs}"] = (time.perf_counter() - t) / steps
            t = time.perf_counter()
            model.predict(x, batch_size=bs, verbose=0)
            out[f"{name}_predict_{bs}"] = (time.perf_counter() - t) / steps
    print(json.dumps(out))


def _worker_mlp(args):
    _use_tree(args.root)
    sys.path.insert(0, HERE)
    import numpy as np
    import mlp_models

    rng = np.random.default_rng(1)
    bs, steps = 128, args.steps * 2
    x = rng.random((bs * steps, 784)).astype("float32")
    y = rng.integers(0, 10, bs * steps)
    models = {"dense": mlp_models.compiled(mlp_models.dense_mlp()),
              "custom": mlp_models.compiled(mlp_models.CustomMLP())}
    for m in models.values():
        m.fit(x[:bs * 2], y[:bs * 2], batch_size=bs, verbose=0)
    times = {k: [] for k in models}
    for _ in range(args.rounds):
        for k, m in models.items():
            t = time.perf_counter()
            m.fit(x, y, batch_size=bs, epochs=1, shuffle=False, verbose=0)
            times[k].append(bs * steps / (time.perf_counter() - t))
    print(json.dumps({k: statistics.median(v) for k, v in times.items()}))


def _worker_compile(args):
    """Compile (and run once) each kernel the model core added, timing each."""
    _use_tree(args.root)
    import numpy as np
    from nbkeras import backend
    t = time.perf_counter()
    k = backend.ops()
    out = {"import kernels": time.perf_counter() - t}
    f = np.float32
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(f)
    c, r = np.ones(8, f), np.ones(64, f)
    calls = {
        "batchnorm_train_forward": lambda: k.batchnorm_train_forward(
            x, c, c, 1e-3, np.empty_like(x), c.copy(), c.copy(), c.copy(), 2),
        "batchnorm_infer_forward": lambda: k.batchnorm_infer_forward(
            x, c, c, c, c, 1e-3, np.empty_like(x), 2),
        "batchnorm_backward": lambda: k.batchnorm_backward(
            x, c, c, c, x, np.empty_like(x), c.copy(), c.copy(), 2),
        "layernorm_forward": lambda: k.layernorm_forward(
            x, c, c, 1e-3, np.empty_like(x), r.copy(), r.copy(), 2),
        "layernorm_backward": lambda: k.layernorm_backward(
            x, c, r, r, x, np.empty_like(x), c.copy(), c.copy(), 2),
        "accumulate": lambda: k.accumulate(x.reshape(-1).copy(), x.reshape(-1), 2),
        "erf": lambda: k.erf(x.reshape(-1), np.empty(x.size, f), 2),
    }
    for name, call in calls.items():
        t = time.perf_counter()
        call()
        out[name] = time.perf_counter() - t
    print(json.dumps(out))


# ------------------------------------------------------------ the driver
def _run_worker(kind, root, args, env=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--root", root,
           "--steps", str(args.steps), "--rounds", str(args.rounds)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env or os.environ.copy())
    if res.returncode != 0:
        raise RuntimeError(f"worker {kind} at {root} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _worktree(ref):
    path = tempfile.mkdtemp(prefix="nbkeras-baseline-")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", path, ref],
                   check=True, capture_output=True)
    # nbkeras.kernels is installed from the top-level kernels/ folder: an editable
    # install maps it to THIS checkout's kernels even when the baseline's nbkeras
    # comes first on sys.path. A link inside the baseline's package makes its own
    # kernels the ones found first.
    link = os.path.join(path, "nbkeras", "kernels")
    if not os.path.exists(link):
        os.symlink(os.path.join(path, "kernels"), link)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--baseline", default=BASELINE)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--worker")
    p.add_argument("--root", default=ROOT)
    args = p.parse_args()
    if args.worker:
        {"seed_cnn": _worker_seed_cnn, "mlp": _worker_mlp,
         "compile": _worker_compile}[args.worker](args)
        return
    if args.quick:
        args.rounds, args.steps = 2, 4
    print(f"CPU: {cpu_description()}")
    base = _worktree(args.baseline)
    caches = {ROOT: tempfile.mkdtemp(prefix="nbcache-tree-"),
              base: tempfile.mkdtemp(prefix="nbcache-base-")}
    try:
        runs = {ROOT: [], base: []}
        for r in range(args.rounds + 1):  # round 0 compiles the kernels: not counted
            for root in ((ROOT, base) if r % 2 else (base, ROOT)):
                env = dict(os.environ, NUMBA_CACHE_DIR=caches[root])
                res = _run_worker("seed_cnn", root, args, env)
                if r:
                    runs[root].append(res)
        med = {root: {k: statistics.median(x[k] for x in rs) for k in rs[0]}
               for root, rs in runs.items()}
        print(f"\n1. seed CNN, per batch (median of {args.rounds} runs x {args.steps} batches), "
              f"this tree vs {args.baseline}  [target: <= {CORE_TARGET:.2f}x]")
        for key in ("cnn_train_32", "cnn_train_128", "cnn_predict_32", "cnn_predict_128"):
            a, b = med[ROOT][key], med[base][key]
            ok = "met" if a / b <= CORE_TARGET else "NOT met"
            print(f"   {key:16s} {a * 1e3:8.3f} ms vs {b * 1e3:8.3f} ms   ratio {a / b:5.3f}  {ok}")
        print("\n2. Python overhead per step (tiny seed CNN, batch 1)")
        for key in ("tiny_train_1", "tiny_predict_1"):
            a, b = med[ROOT][key], med[base][key]
            print(f"   {key:16s} {a * 1e6:8.1f} us vs {b * 1e6:8.1f} us   "
                  f"(+{(a - b) * 1e6:.1f} us)")
        mlp = _run_worker("mlp", ROOT, args, dict(os.environ, NUMBA_CACHE_DIR=caches[ROOT]))
        ratio = mlp["dense"] / mlp["custom"]
        print(f"\n3. MLP 784-256-256-10, batch 128, training samples/s  [target: <= {MLP_TARGET}x]")
        print(f"   Dense layers {mlp['dense']:10.0f}   custom Linear + ops {mlp['custom']:10.0f}"
              f"   Dense/custom {ratio:.2f}x  {'met' if ratio <= MLP_TARGET else 'NOT met'}")
        cold = tempfile.mkdtemp(prefix="nbcache-cold-")
        comp = _run_worker("compile", ROOT, args, dict(os.environ, NUMBA_CACHE_DIR=cold))
        shutil.rmtree(cold, ignore_errors=True)
        print("\n4. cold compile (empty NUMBA_CACHE_DIR) of the kernels the model core added")
        total = 0.0
        for name, sec in comp.items():
            print(f"   {name:26s} {sec:6.2f} s")
            total += sec if name != "import kernels" else 0.0
        print(f"   {'total (new kernels)':26s} {total:6.2f} s")
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base],
                       capture_output=True)
        for c in caches.values():
            shutil.rmtree(c, ignore_errors=True)


if __name__ == "__main__":
    main()

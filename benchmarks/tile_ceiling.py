"""How far the GEMM is from its own register tile's speed on this CPU, step by step.

    python benchmarks/tile_ceiling.py                 # this CPU's vector width
    NUMBA_CPU_FEATURES=... OPENBLAS_CORETYPE=Haswell python benchmarks/tile_ceiling.py

One thread, best of 7 timings each (steadier than medians on a shared machine).
The widest tile (``gemm.MR4`` x 4 vectors with AVX-512, ``MR2`` x 2 with AVX2)
over a 256-deep reduction, its accumulators added to C each call:

1. its data in L1: the loop's own ceiling;
2. A's rows cycling through a 72-row block 8 KB apart (in L2, as in a product);
3. and each tile's C at its place in a 2048-wide C;
4. and each panel's B one of those of a packed 2 MB slice;

then the whole product (``ops.matmul``, n = 2048, k = 256 and 2048) against
``numpy.matmul`` on one thread. Where the gap opens says what to work on.
"""
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

from nbkeras import backend  # noqa: E402
from nbkeras.kernels.cpu import gemm  # noqa: E402
from nbkeras.kernels.cpu.tile import V, tile_fma  # noqa: E402

K, ROWS, LDA, N = 256, 72, 2048, 2048
MR, NV = (gemm.MR4, 4) if V == 16 else (gemm.MR2, 2)
WIDTH = NV * V
PANELS = N // WIDTH


@njit
def _tiles(reps, a, arow, acol, b, b_panels, c, ldc, panels):
    for _ in range(reps):
        for p in range(panels):
            for r in range(0, arow.shape[0] - MR + 1, MR):
                tile_fma(MR, NV, K, a, arow, r, acol, 0, b, (p % b_panels) * K * WIDTH, WIDTH,
                         c, r * ldc + p * WIDTH if ldc > WIDTH else 0, ldc, MR, True)


def best_seconds(run, reps=7):
    run()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return best


def tile_steps():
    """GFLOP/s of the tile in each of the four settings of the docstring."""
    rng = np.random.default_rng(0)
    acol = np.arange(K, dtype=np.int64)
    b = rng.random(K * WIDTH * PANELS, dtype=np.float32)
    in_l1 = (rng.random(MR * K, dtype=np.float32), np.arange(MR, dtype=np.int64) * K)
    block = (rng.random(ROWS * LDA, dtype=np.float32), np.arange(ROWS, dtype=np.int64) * LDA)
    small_c = np.zeros(MR * WIDTH, dtype=np.float32)
    big_c = np.zeros(ROWS * N, dtype=np.float32)
    steps = [("tile alone, data in L1", in_l1, 1, small_c, WIDTH, 1),
             ("+ A from a 72-row block (L2)", block, 1, small_c, WIDTH, 1),
             ("+ C tiles in a 2048-wide C", block, 1, big_c, N, PANELS),
             ("+ B panels of a 2 MB slice", block, PANELS, big_c, N, PANELS)]
    out = []
    for label, (a, arow), b_panels, c, ldc, panels in steps:
        flops = 2 * (arow.shape[0] // MR) * MR * WIDTH * K * panels
        reps = max(1, int(2e9 / flops))
        seconds = best_seconds(lambda: _tiles(reps, a, arow, acol, b, b_panels, c, ldc, panels))
        out.append((label, flops * reps / seconds / 1e9, None))
    return out


def products():
    """GFLOP/s of ops.matmul and numpy.matmul, 2048 x k x 2048, one thread."""
    ops = backend.ops()
    rng = np.random.default_rng(1)
    out = []
    for k in (K, N):
        a = rng.standard_normal((N, k), dtype=np.float32)
        b = rng.standard_normal((k, N), dtype=np.float32)
        c = np.empty((N, N), dtype=np.float32)
        flops = 2 * N * N * k
        ours = best_seconds(lambda: ops.matmul(a, b, c, 1), 5)
        theirs = best_seconds(lambda: np.matmul(a, b, out=c), 5)
        out.append((f"matmul 2048 x {k} x 2048", flops / ours / 1e9, flops / theirs / 1e9))
    return out


def main():
    print(f"{MR}x{NV} tile of {V}-float vectors, {K}-deep reduction, one thread, best of 7")
    for label, ours, numpy_gflops in tile_steps() + products():
        extra = f"   numpy {numpy_gflops:6.1f}" if numpy_gflops else ""
        print(f"  {label:32s} {ours:6.1f} GFLOP/s{extra}")


if __name__ == "__main__":
    main()

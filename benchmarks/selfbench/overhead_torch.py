"""Benchmark: the harness's own overhead against a bare torch.distributed.all_reduce loop.

    python -m benchmarks.selfbench.overhead_torch [--sizes 8,64K,16M] [--iters 30] [--rounds 61]

Spawns 2 gloo ranks on this machine. The bare loop is `dist.all_reduce` in place, float32,
sum, with the two clock reads per call needed to see per-call times; the harness measures
the same point. How rounds are paired and what is printed: benchmarks/selfbench/overhead.py.
Goal: ratio <= 1.03 from 64 KiB, median difference <= +5 us at 8 B.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from . import overhead

GOAL_SMALL_US = 5.0


def _bare_us(size, group, iters, warmup):
    """Per-call times (us) of a plain all_reduce loop on this rank."""
    import torch
    import torch.distributed as dist
    tensor = torch.ones(max(size // 4, 1), dtype=torch.float32)
    for _ in range(warmup):
        dist.all_reduce(tensor, group=group)
    times = np.empty(iters)
    clock = time.perf_counter_ns
    for i in range(iters):
        t0 = clock()
        dist.all_reduce(tensor, group=group)
        times[i] = clock() - t0
    return times / 1e3


def worker(args) -> int:
    backend = overhead.start_backend("gloo")
    title = "a bare dist.all_reduce loop: gloo, 2 ranks, float32 sum, in place"
    return overhead.run(backend, _bare_us, True, args, title, GOAL_SMALL_US)


def _launch(argv) -> int:
    from ..launch.local import start_local_ranks
    procs = start_local_ranks([sys.executable, "-m", "benchmarks.selfbench.overhead_torch", "--worker", *argv], 2)
    return max(proc.wait() for proc in procs)


def main(argv=None) -> int:
    return overhead.main(__doc__, argv, worker, _launch)


if __name__ == "__main__":
    sys.exit(main())

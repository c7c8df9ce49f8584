"""Benchmark: the harness's own overhead against a bare torch.distributed.all_reduce loop.

    python -m benchmarks.overhead_torch [--sizes 8,64K,16M] [--iters 50] [--rounds 7]

Spawns 2 gloo ranks on this machine. At each size, each round runs a bare loop
(`dist.all_reduce` in place, float32, sum, with the two clock reads per call needed to see
per-call times) and the harness (`measure_point`, the code `commscale run` uses) one after
the other, alternating which goes first. Both are summarised the same way: per-iteration
time, max over ranks, then the mean and the median over iterations. The ratios are paired:
harness/bare within each round, then the median over rounds, which cancels slow drifts of
the machine. Printed: the median over rounds of each statistic, the paired ratios of means
and of medians, the median difference, and `noise_pct`, the bare loop's own round-to-round
spread of its mean (interquartile range / median over rounds), and the 95% interval of the
paired ratio of medians (order statistics, collectives.timing.median_ci95).
Last, the harness's own per-call cost where no network adds noise: 8 B on a group of one
rank, bare loop vs harness, paired medians.
Goal: ratio <= 1.03 from 64 KiB, median difference <= +5 us at 8 B. Verdicts: "met" (the
estimate meets the goal), "MISSED" (the whole interval is beyond it), "unresolved" (the
estimate misses but the interval reaches the goal: this machine's noise hides the answer).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from collectives.sizes import format_size, parse_size, size_series
from collectives.timing import median_ci95

GOAL_RATIO, GOAL_RATIO_FROM, GOAL_SMALL_US = 1.03, 64 << 10, 5.0


def _bare_us(dist, tensor, iters, warmup, group=None):
    """Per-call times (us) of a plain all_reduce loop on this rank."""
    for _ in range(warmup):
        dist.all_reduce(tensor, group=group)
    times = np.empty(iters)
    clock = time.perf_counter_ns
    for i in range(iters):
        t0 = clock()
        dist.all_reduce(tensor, group=group)
        times[i] = clock() - t0
    return times / 1e3


def worker(sizes, iters, warmup, rounds):
    import torch
    import torch.distributed as dist

    from benchmarks.harness import Point, Timing, measure_point
    from benchmarks.launch import detect
    from collectives.backends import create_backend
    from collectives.backends.base import BackendOptions
    from collectives.dtypes import get_dtype
    from collectives.registry import get_collective

    backend = create_backend("gloo", detect(os.environ), BackendOptions(timeout_s=300))
    world, rank = backend.world_size, backend.rank
    group = backend.new_group(list(range(world)))
    spec, dtype = get_collective("all_reduce"), get_dtype("float32")
    timing = Timing(warmup, iters, 1.0)
    rows = []
    for size in sizes:
        tensor = torch.ones(max(size // 4, 1), dtype=torch.float32)
        point = Point(spec, dtype, "sum", True, size)
        bare, harness = [], []  # (mean, median) per round
        for r in range(rounds):
            order = ("bare", "harness") if r % 2 == 0 else ("harness", "bare")
            for which in order:
                if which == "bare":
                    times = backend.max_over(_bare_us(dist, tensor, iters, warmup), group)
                    bare.append((times.mean(), np.median(times)))
                else:
                    rec = measure_point(backend, group, rank, world, point, timing)
                    harness.append((rec["time_us_mean"], rec["time_us_median"]))
        bare, harness = np.array(bare), np.array(harness)
        q1, q3 = np.percentile(bare[:, 0], [25, 75])
        paired = harness / bare
        rows.append((spec.layout(size, world, 4).size_bytes, *np.median(bare, axis=0), *np.median(harness, axis=0),
                     *np.median(paired, axis=0), 100 * (q3 - q1) / np.median(bare[:, 0]),
                     median_ci95(paired[:, 1]), median_ci95(harness[:, 1] - bare[:, 1])))
    call_path = _call_path_us(backend, dist, torch, Point(spec, dtype, "sum", True, 8), rounds)
    backend.close()
    return rows, call_path


def _call_path_us(backend, dist, torch, point, rounds, iters=2000):
    """The harness's own per-call cost without a network: 8 B on a group of rank 0 alone,
    bare loop vs harness, medians over iterations, paired per round. Rank 1 waits."""
    from benchmarks.harness import Timing, measure_point
    solo = backend.new_group([0])  # every rank takes part in creating it
    diffs, bare_med = [], []
    if backend.rank == 0:
        tensor = torch.ones(2, dtype=torch.float32)
        for _ in range(rounds):
            bare = float(np.median(_bare_us(dist, tensor, iters, 5, group=solo)))
            rec = measure_point(backend, solo, 0, 1, point, Timing(5, iters, 1.0))
            diffs.append(rec["time_us_median"] - bare)
            bare_med.append(bare)
    backend.barrier()
    return (float(np.median(bare_med)), float(np.median(diffs))) if diffs else None


def report(result, iters, rounds):
    rows, call_path = result
    print("# commscale harness overhead vs a bare dist.all_reduce loop: gloo, 2 ranks, float32 sum, in place")
    print(f"# {iters} timed iterations per round, {rounds} alternating rounds; us, max over ranks; ratios paired per round")
    print(f"# {'size':>9} {'bare_mean':>10} {'harn_mean':>10} {'r_mean':>7} {'noise_pct':>9} {'bare_med':>9} "
          f"{'harn_med':>9} {'r_median':>8} {'r_med_ci95':>13} {'d_med_us':>8}  goal on medians: verdict")
    verdicts = []
    for size, bare_mean, bare_med, h_mean, h_med, r_mean, ratio, noise_pct, (lo, hi), (dlo, dhi) in rows:
        diff = h_med - bare_med
        if size >= GOAL_RATIO_FROM:
            goal, est, low = f"ratio <= {GOAL_RATIO}", ratio - GOAL_RATIO, lo - GOAL_RATIO
        elif size <= 8:
            goal, est, low = f"diff <= +{GOAL_SMALL_US:g} us", diff - GOAL_SMALL_US, dlo - GOAL_SMALL_US
        else:
            goal = None
        verdict = "-" if goal is None else "met" if est <= 0 else "MISSED" if low > 0 else "unresolved"
        if goal:
            verdicts.append(verdict)
        print(f"  {format_size(size):>9} {bare_mean:10.1f} {h_mean:10.1f} {r_mean:7.3f} {noise_pct:9.0f} {bare_med:9.1f} "
              f"{h_med:9.1f} {ratio:8.3f} {f'[{lo:.3f},{hi:.3f}]':>13} {diff:+8.1f}  {goal or '-'}: {verdict}")
    bare_solo, diff_solo = call_path
    print(f"# call path without a network (8 B, group of 1 rank, medians of {rounds} paired rounds of 2000 calls): "
          f"bare {bare_solo:.2f} us, harness {diff_solo:+.2f} us")
    print(f"# goals: {verdicts.count('met')} met, {verdicts.count('unresolved')} unresolved, "
          f"{verdicts.count('MISSED')} missed, of {len(verdicts)}")
    return "MISSED" not in verdicts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--sizes", help="comma list of sizes [8 B to 16 MiB, factor 4]")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=61)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")] if args.sizes else size_series(8, 16 << 20, 4)
    if args.worker:
        result = worker(sizes, args.iters, args.warmup, args.rounds)
        if int(os.environ["RANK"]) == 0:
            return 0 if report(result, args.iters, args.rounds) else 1
        return 0
    from benchmarks.launch import free_port
    port = str(free_port())
    argv = [sys.executable, "-m", "benchmarks.overhead_torch", "--worker", *(argv if argv is not None else sys.argv[1:])]
    procs = [subprocess.Popen(argv, env=dict(os.environ, RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r),
                                             MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
             for r in range(2)]
    codes = [proc.wait() for proc in procs]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())

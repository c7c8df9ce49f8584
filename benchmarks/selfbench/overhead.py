"""What the overhead benchmarks share: paired rounds of a bare loop against the harness,
the no-network call-path figure, the verdicts, and the printed table.

A backend's script (overhead_torch.py, overhead_mpi.py) supplies only its bare loop,
`bare_us(size_bytes, group, iters, warmup) -> per-call times (us) on this rank`, and how
its two ranks are started.

At each size, each round runs the bare loop and the harness (`measure_point`, the code
`commscale run` uses) one after the other, alternating which goes first. Both are
summarised the same way: per-iteration time, max over ranks, then the mean and the median
over iterations. Ratios are paired: harness/bare within each round, then the median over
rounds, which cancels slow drifts of the machine. Printed: the median over rounds of each
statistic, the paired ratios of means and of medians, the median difference, `noise_pct`
(the bare loop's own round-to-round spread of its mean: interquartile range / median over
rounds), and the 95% interval of the paired ratio of medians (order statistics,
collectives.timing.median_ci95). Last, the harness's own per-call cost where no network
adds noise: 8 B on a group of one rank, bare loop vs harness, paired medians.
Verdicts: "met" (the estimate meets the goal), "MISSED" (the whole interval is beyond
it), "unresolved" (the estimate misses but the interval reaches the goal: this machine's
noise hides the answer).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

import numpy as np

from collectives.dtypes import get_dtype
from collectives.registry import get_collective
from collectives.sizes import format_size, parse_size
from collectives.timing import median_ci95

from ..sweep.harness import Point, Timing, measure_point

GOAL_RATIO, GOAL_RATIO_FROM = 1.03, 64 << 10
#: 8 B to 16 MiB: the small-message goal's size, the ratio goal's threshold, then x4 steps.
DEFAULT_SIZES = "8,64,512,4K,64K,256K,1M,4M,16M"
BareLoop = Callable[[int, object, int, int], np.ndarray]
CALL_PATH_CALLS = 2000
"""Calls per round of the no-network call-path figure."""


def start_backend(name: str, device: str | None = None):
    """A worker's backend, joined through the variables its launcher set."""
    from collectives.backends import create_backend
    from collectives.backends.base import BackendOptions

    from ..host.detect import detect
    return create_backend(name, detect(os.environ), BackendOptions(timeout_s=300, device=device))


def compare(backend, bare_us: BareLoop, in_place: bool, sizes, iters, warmup, rounds):
    """Rows of paired figures per size (all_reduce, float32, sum, on every rank)."""
    world, rank = backend.world_size, backend.rank
    group = backend.new_group(list(range(world)))
    spec, dtype = get_collective("all_reduce"), get_dtype("float32")
    timing = Timing(warmup, iters, 1.0)
    rows = []
    for size in sizes:
        point = Point(spec, dtype, "sum", in_place, size)
        bare, harness = [], []  # (mean, median) per round
        for r in range(rounds):
            for which in (("bare", "harness") if r % 2 == 0 else ("harness", "bare")):
                if which == "bare":
                    times = backend.max_over(bare_us(size, group, iters, warmup), group)
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
    return rows


def call_path(backend, bare_us: BareLoop, in_place: bool, rounds, iters=CALL_PATH_CALLS):
    """The harness's own per-call cost without a network: 8 B on a group of rank 0 alone,
    bare loop vs harness, medians over iterations, paired per round. Other ranks wait."""
    solo = backend.new_group([0])  # every rank takes part in creating it
    point = Point(get_collective("all_reduce"), get_dtype("float32"), "sum", in_place, 8)
    diffs, bare_med = [], []
    if backend.rank == 0:
        for _ in range(rounds):
            bare = float(np.median(bare_us(8, solo, iters, 5)))
            rec = measure_point(backend, solo, 0, 1, point, Timing(5, iters, 1.0))
            diffs.append(rec["time_us_median"] - bare)
            bare_med.append(bare)
    backend.barrier()
    return (float(np.median(bare_med)), float(np.median(diffs))) if diffs else None


def report(title, rows, solo, iters, rounds, goal_small_us) -> bool:
    """Print the table; False if a goal was clearly missed."""
    print(f"# commscale harness overhead vs {title}")
    print(f"# {iters} timed iterations per round, {rounds} alternating rounds; us, max over ranks; ratios paired per round")
    print(f"# {'size':>9} {'bare_mean':>10} {'harn_mean':>10} {'r_mean':>7} {'noise_pct':>9} {'bare_med':>9} "
          f"{'harn_med':>9} {'r_median':>8} {'r_med_ci95':>13} {'d_med_us':>8}  goal on medians: verdict")
    verdicts = []
    for size, bare_mean, bare_med, h_mean, h_med, r_mean, ratio, noise_pct, (lo, hi), (dlo, dhi) in rows:
        diff = h_med - bare_med
        if size >= GOAL_RATIO_FROM:
            goal, est, low = f"ratio <= {GOAL_RATIO}", ratio - GOAL_RATIO, lo - GOAL_RATIO
        elif size <= 8:
            goal, est, low = f"diff <= +{goal_small_us:g} us", diff - goal_small_us, dlo - goal_small_us
        else:
            goal = None
        verdict = "-" if goal is None else "met" if est <= 0 else "MISSED" if low > 0 else "unresolved"
        if goal:
            verdicts.append(verdict)
        print(f"  {format_size(size):>9} {bare_mean:10.1f} {h_mean:10.1f} {r_mean:7.3f} {noise_pct:9.0f} {bare_med:9.1f} "
              f"{h_med:9.1f} {ratio:8.3f} {f'[{lo:.3f},{hi:.3f}]':>13} {diff:+8.1f}  {goal or '-'}: {verdict}")
    bare_solo, diff_solo = solo
    print(f"# call path without a network (8 B, group of 1 rank, medians of {rounds} paired rounds of "
          f"{CALL_PATH_CALLS} calls): "
          f"bare {bare_solo:.2f} us, harness {diff_solo:+.2f} us")
    print(f"# goals: {verdicts.count('met')} met, {verdicts.count('unresolved')} unresolved, "
          f"{verdicts.count('MISSED')} missed, of {len(verdicts)}")
    return "MISSED" not in verdicts


def run(backend, bare_us: BareLoop, in_place: bool, args, title: str, goal_small_us: float) -> int:
    """A worker's whole job: measure, close the backend, and on rank 0 print the table.
    Exit status 1 if a goal was clearly missed."""
    rows = compare(backend, bare_us, in_place, args.sizes, args.iters, args.warmup, args.rounds)
    solo = call_path(backend, bare_us, in_place, args.rounds)
    backend.close()
    if backend.rank != 0:
        return 0
    return 0 if report(title, rows, solo, args.iters, args.rounds, goal_small_us) else 1


def main(doc: str, argv, worker: Callable[[argparse.Namespace], int], launch: Callable[[list], int]) -> int:
    """A benchmark script's entry: with --worker, the worker's job on this rank; else
    `launch(argv)` starts the workers (which come back here with --worker)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(doc.splitlines()[0], argv)
    return worker(args) if args.worker else launch(argv)


def parse_args(description, argv, rounds=61):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--sizes", help="comma list of sizes [8,64,512,4K,64K,256K,1M,4M,16M]")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.sizes = [parse_size(s) for s in (args.sizes or DEFAULT_SIZES).split(",")]
    return args

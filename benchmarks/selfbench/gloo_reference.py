"""commscale's gloo numbers beside a bare torch.distributed loop, in alternating launches.

    python -m benchmarks.gloo_reference [--sizes 8,64K,4M,16M] [--rounds 6] [--iters 30]

benchmarks/selfbench/overhead_torch.py pairs the harness with a bare loop inside one launch; this
pairs whole launches, as a user compares tools: each round starts, in alternating order,
2 gloo ranks running a bare `dist.all_reduce` loop (`--bare-worker`: in place, float32
sum, perf_counter around each call, the max over ranks per call) and `commscale run
--backend gloo` on the same points. Printed per size: each tool's median over rounds of
its per-call median and minimum, and the paired ratios commscale / bare of both (median
over rounds and range), so a launch-level cost (the watchdog's threads, the progress
board, the process groups commscale makes) shows, and so does the launch-to-launch noise
it has to stand out from.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from collectives.sizes import format_size, parse_size

from ..launch.local import clean_env


def _torchrun(module_args, port) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
            *module_args]


def bare_worker(sizes, iters, warmup) -> int:
    import torch
    import torch.distributed as dist
    dist.init_process_group("gloo")
    out = {}
    for size in sizes:
        t = torch.ones(max(size // 4, 1))
        for _ in range(warmup):
            dist.all_reduce(t)
        times = torch.empty(iters, dtype=torch.float64)
        for i in range(iters):
            t0 = time.perf_counter()
            dist.all_reduce(t)
            times[i] = time.perf_counter() - t0
        dist.all_reduce(times, op=dist.ReduceOp.MAX)
        out[size] = (float(times.median()) * 1e6, float(times.min()) * 1e6)
    if dist.get_rank() == 0:
        print(json.dumps(out))
    dist.destroy_process_group()
    return 0


def run_bare(sizes, iters, warmup, port) -> dict:
    argv = _torchrun(["-m", "benchmarks.selfbench.gloo_reference", "--bare-worker", "--sizes", ",".join(map(str, sizes)),
                      "--iters", str(iters), "--warmup", str(warmup)], port)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=clean_env())
    if result.returncode != 0:
        raise RuntimeError(f"the bare loop failed: {result.stderr.strip()[-300:]}")
    return {int(k): tuple(v) for k, v in json.loads(result.stdout.strip().splitlines()[-1]).items()}


def run_commscale(sizes, iters, warmup, port, out: Path) -> dict:
    argv = _torchrun(["-m", "benchmarks", "run", "--backend", "gloo", "--collectives", "all_reduce", "--in-place", "in",
                      "--sizes", ",".join(map(str, sizes)), "--ranks", "2", "-n", str(iters), "-w", str(warmup),
                      "--out", str(out)], port)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=clean_env())
    if result.returncode != 0:
        raise RuntimeError(f"commscale run failed: {result.stderr.strip()[-300:]}")
    with open(out / "records.jsonl", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    return {r["size_bytes"]: (r["time_us_median"], r["time_us_min"]) for r in records
            if r["status"] == "ok" and r["nranks"] == 2}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gloo_reference", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="8,64K,4M,16M", help="comma list of sizes [8,64K,4M,16M]")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds [6]")
    parser.add_argument("--iters", type=int, default=30, help="timed calls per point [30]")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up calls per point [5]")
    parser.add_argument("--port", type=int, default=29541, help="torchrun's master port [29541]")
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        sizes = [parse_size(s) for s in args.sizes.split(",")]
    except ValueError as exc:
        print(f"gloo_reference: error: {exc}: give a comma list like --sizes 8,64K,4M", file=sys.stderr)
        return 2
    if args.bare_worker:
        return bare_worker(sizes, args.iters, args.warmup)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="commscale-glooref-") as tmp:
        for r in range(args.rounds):
            sides = {"bare": lambda: run_bare(sizes, args.iters, args.warmup, args.port),
                     "commscale": lambda: run_commscale(sizes, args.iters, args.warmup, args.port, Path(tmp) / f"r{r}")}
            order = ("bare", "commscale") if r % 2 == 0 else ("commscale", "bare")
            rounds.append({side: sides[side]() for side in order})
            print(f"# round {r + 1} of {args.rounds} done", file=sys.stderr)
    print(f"# commscale run --backend gloo vs a bare dist.all_reduce loop: 2 ranks, in place, float32 sum, "
          f"{args.iters} calls per point, {args.rounds} alternating launches of each; us, max over ranks per call")
    print("| size | bare median us | commscale median us | ratio of medians (range) | bare min us | commscale min us "
          "| ratio of minima (range) |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        got = [(rd["bare"][size], rd["commscale"][size]) for rd in rounds if size in rd["bare"] and size in rd["commscale"]]
        if not got:
            continue
        b_med, c_med = np.array([g[0][0] for g in got]), np.array([g[1][0] for g in got])
        b_min, c_min = np.array([g[0][1] for g in got]), np.array([g[1][1] for g in got])
        r_med, r_min = c_med / b_med, c_min / b_min
        print(f"| {format_size(size)} | {np.median(b_med):.1f} | {np.median(c_med):.1f} | {np.median(r_med):.3f} "
              f"({r_med.min():.2f}-{r_med.max():.2f}) | {np.median(b_min):.1f} | {np.median(c_min):.1f} | "
              f"{np.median(r_min):.3f} ({r_min.min():.2f}-{r_min.max():.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

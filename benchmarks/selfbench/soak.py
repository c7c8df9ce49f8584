"""Soak benchmark: long real sweeps, with each rank's resident memory sampled from outside.

    python -m benchmarks.selfbench.soak [--nproc 2] [--calls 12000] [--longer 4] [--out DIR]

Runs `commscale run` twice, one after the other, on NPROC local gloo ranks (started as the
dry run starts them): the same sweep (all seven collectives, three dtypes, three
reductions, both placements, 8 B to 64 KiB: about 700 points, whose largest buffers are
reached early because sizes cycle inside each block) with enough timed calls per point for
CALLS collective calls, then with LONGER times as many. While each runs, VmRSS of every
rank (/proc/<pid>/status) and the records written are sampled every 0.2 s.

Printed per run and rank: RSS when the first record lands, at 10%, 50% and 100% of the
points, the growth from 10% to the end and its slope per 1,000 points; then, side by side,
the end RSS of the longer run over the shorter. Memory that grows with the number of calls
shows as a longer run ending higher; memory that grows per point, as a steady slope.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..launch.local import start_local_ranks, stop_ranks

WHAT = ["--collectives", "all", "--dtype", "float32,float64,int32", "--op", "sum,max,min", "--in-place", "both",
        "-b", "8", "-e", "64K", "-f", "2"]
WARMUP = 2


def planned_points(nproc: int) -> int:
    """Points of WHAT on one group of `nproc` gloo ranks (skips included), from the sweep's
    own plan: what sizes the timed calls per point."""
    from collectives.backends.torch_dist import TorchDistBackend

    from ..cli import parse
    from ..cli.options import sweep_config
    from ..sweep.plan import plan_points
    args = parse(["run", "--backend", "gloo", "--ranks", str(nproc), *WHAT, "--out", tempfile.gettempdir()])
    cfg = sweep_config(args)
    return len(plan_points(cfg.collectives, cfg.dtypes, cfg.ops, cfg.in_place, cfg.sizes, TorchDistBackend))


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def soak_run(out: Path, nproc: int, iters: int):
    """One sweep; returns (points, calls, seconds, records-written samples, RSS samples [n x nproc])."""
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = out.parent / f"{out.name}.stderr"
    argv = [sys.executable, "-m", "benchmarks", "run", "--backend", "gloo", "--ranks", str(nproc), *WHAT,
            "-w", str(WARMUP), "-n", str(iters), "--out", str(out)]
    with open(log_path, "w") as log:  # a file, not a pipe that nobody reads while it runs
        procs = start_local_ranks(argv, nproc, rank0_stdout=subprocess.DEVNULL, stderr=log)
        try:
            samples, records, start = [], out / "records.jsonl", time.monotonic()
            while any(proc.poll() is None for proc in procs):
                rss = [_rss_mib(proc.pid) for proc in procs]
                done = _count_lines(records)
                if done and all(r is not None for r in rss):
                    samples.append((done, rss))
                time.sleep(0.2)
            elapsed = time.monotonic() - start
        finally:
            stop_ranks(procs)
    codes = [proc.wait() for proc in procs]
    if any(codes) or len(samples) < 3:
        raise RuntimeError(f"a rank failed or ended too soon (exit statuses {codes}): {log_path.read_text()[-2000:]}")
    from reports.runs.load import load_run
    df = load_run(out)
    calls = int((df["warmup"] + df["iters"]).where(df["status"] == "ok", 0).sum())
    return len(df), calls, elapsed, np.array([s[0] for s in samples], float), np.array([s[1] for s in samples])


def _print_run(label, nproc, iters, result):
    total, calls, elapsed, done, rss = result
    print(f"# {label}: {nproc} gloo ranks, {total} points x ({WARMUP} warm-up + {iters} timed) = {calls} collective "
          f"calls in {elapsed:.0f} s, {len(done)} RSS samples")
    print(f"# {'rank':>4} {'first_MiB':>10} {'at10%_MiB':>10} {'at50%_MiB':>10} {'end_MiB':>10} "
          f"{'growth10-100%_MiB':>18} {'slope_MiB_per_1000_points':>26}")

    def at(fraction):
        return rss[min(int(np.searchsorted(done, max(1.0, fraction * total))), len(done) - 1)]

    late = done >= 0.1 * total
    for rank in range(nproc):
        p10, end = at(0.1)[rank], rss[-1][rank]
        slope = np.polyfit(done[late], rss[late, rank], 1)[0] * 1000 if late.sum() > 2 else float("nan")
        print(f"  {rank:>4} {rss[0][rank]:10.1f} {p10:10.1f} {at(0.5)[rank]:10.1f} {end:10.1f} "
              f"{end - p10:+18.1f} {slope:+26.2f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.selfbench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--nproc", type=int, default=2, help="local gloo ranks [2]")
    p.add_argument("--calls", type=int, default=12000, help="collective calls in the shorter run, at least [12000]")
    p.add_argument("--longer", type=int, default=4, help="the longer run has this many times the calls [4]")
    p.add_argument("--out", help="directory for the two runs [a temporary one]")
    args = p.parse_args(argv)
    base = Path(args.out or tempfile.mkdtemp(prefix="commscale-soak-"))
    points = planned_points(args.nproc)
    iters_short = max(1, -(-args.calls // points) - WARMUP)
    iters_long = (iters_short + WARMUP) * args.longer - WARMUP
    try:
        short = soak_run(base / "short", args.nproc, iters_short)
        long_ = soak_run(base / "long", args.nproc, iters_long)
    except RuntimeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 3
    print(f"# soak runs in {base}")
    _print_run("shorter run", args.nproc, iters_short, short)
    _print_run("longer run", args.nproc, iters_long, long_)
    ratio = long_[1] / short[1]
    for rank in range(args.nproc):
        a, b = short[4][-1][rank], long_[4][-1][rank]
        print(f"# rank {rank}: end RSS {a:.1f} MiB after {short[1]} calls, {b:.1f} MiB after {long_[1]} calls "
              f"({ratio:.1f}x the calls): {b - a:+.1f} MiB ({(b / a - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

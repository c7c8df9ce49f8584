"""commscale's MPI numbers beside a C reference, in alternating launches.

    python -m benchmarks.mpi_reference [--ranks 2,4] [--sizes 8,64K,1M,16M]
        [--collectives all_reduce,all_to_all] [--rounds 5] [--iters 100] [--warmup 10]

benchmarks/mpi_reference.c (compiled here with the mpicc beside the mpiexec commscale
uses, so both link the same MPI library) times the collectives in C as OSU does: float
data, sum, out of place, page-aligned buffers, a warm-up, then one MPI_Wtime pair around
each call, the max over ranks per call. `commscale run --backend mpi` measures the same
points in its own launch. Each round launches both, the order alternating from round to
round, so the machine's slow drifts and the launch-to-launch spread (2-3x on a 2-core
machine) fall on both alike.

Printed per collective, ranks and size: the median over rounds of each tool's per-call
median (and of its minimum), the paired ratio commscale / C of the per-call medians (the
median over rounds, and the lowest and highest round), the same for the minima, and at
8 B the median difference in microseconds. Goal (issue 18): ratio <= 1.05 from 64 KiB,
difference <= +3 us at 8 B. `batch` is the C program's batch time per call (a batch of
calls between two barriers, as IMB and nccl-tests time) beside its per-call median.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from collectives.sizes import format_size, parse_size

SOURCE = Path(__file__).with_name("mpi_reference.c")
GOAL_RATIO, GOAL_FROM_BYTES, GOAL_SMALL_US = 1.05, 64 << 10, 3.0


class ReferenceError(Exception):
    """The reference cannot be built or run here; the message says why and what to do."""


def build(mpiexec: str, out_dir: Path) -> Path:
    """Compile mpi_reference.c with the mpicc beside `mpiexec` (the same MPI)."""
    mpicc = Path(mpiexec).with_name("mpicc")
    if not mpicc.exists():
        found = shutil.which("mpicc")
        if not found:
            raise ReferenceError(f"no mpicc beside {mpiexec} nor on PATH: install your MPI's compiler wrapper "
                                 f"(pip's mpich ships one) and a C compiler")
        mpicc = Path(found)
    binary = out_dir / "mpi_reference"
    result = subprocess.run([str(mpicc), "-O2", "-o", str(binary), str(SOURCE)], capture_output=True, text=True)
    if result.returncode != 0:
        raise ReferenceError(f"{mpicc} could not compile {SOURCE.name}: {result.stderr.strip()[:300]} "
                             f"(a C compiler is needed: apt-get install gcc)")
    return binary


def run_reference(mpiexec, binary, ranks, collective, sizes, iters, warmup) -> dict:
    """{size_bytes: (mean, median, min, batch)} of one launch of the C reference."""
    result = subprocess.run([mpiexec, "-n", str(ranks), str(binary), collective, ",".join(map(str, sizes)),
                             str(iters), str(warmup)], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise ReferenceError(f"the C reference failed ({collective}, {ranks} ranks): {result.stderr.strip()[-300:]}")
    out = {}
    for line in result.stdout.splitlines():
        name, size, _, mean, median, low, batch = line.split()
        out[int(size)] = tuple(float(x) for x in (mean, median, low, batch))
    return out


def run_commscale(mpiexec, ranks, collectives, sizes, iters, warmup, out_dir) -> dict:
    """{(collective, size_bytes): (mean, median, min)} of one `commscale run --backend mpi`."""
    argv = [mpiexec, "-n", str(ranks), sys.executable, "-m", "benchmarks", "run", "--backend", "mpi",
            "--device", "cpu", "--collectives", ",".join(collectives), "--sizes", ",".join(map(str, sizes)),
            "--ranks", str(ranks), "-n", str(iters), "-w", str(warmup), "--out", str(out_dir)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise ReferenceError(f"commscale run failed ({ranks} ranks): {result.stderr.strip()[-300:]}")
    out = {}
    with open(out_dir / "records.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["status"] == "ok" and r["nranks"] == ranks:
                out[r["collective"], r["size_bytes"]] = (r["time_us_mean"], r["time_us_median"], r["time_us_min"])
    return out


def measure(args, mpiexec, binary, work: Path) -> list[dict]:
    """Alternating rounds; per (collective, ranks, size) the per-round figures of both."""
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    collectives = args.collectives.split(",")
    rows = {}
    for r in range(args.rounds):
        for ranks in args.ranks:
            def c_side():
                return {c: run_reference(mpiexec, binary, ranks, c, sizes, args.iters, args.warmup) for c in collectives}

            def ours():
                return run_commscale(mpiexec, ranks, collectives, sizes, args.iters, args.warmup, work / f"r{r}-{ranks}")
            if r % 2 == 0:
                ref, mine = c_side(), ours()
            else:
                mine, ref = ours(), c_side()
            for c in collectives:
                for size, (_, c_med, c_min, c_batch) in ref[c].items():
                    if (c, size) not in mine:
                        continue
                    _, m_med, m_min = mine[c, size]
                    rows.setdefault((c, ranks, size), []).append((c_med, c_min, c_batch, m_med, m_min))
        print(f"# round {r + 1} of {args.rounds} done", file=sys.stderr)
    return [{"collective": c, "ranks": p, "size_bytes": n, "rounds": np.array(v)} for (c, p, n), v in sorted(rows.items())]


def verdict(row) -> str:
    ratio = row["ratio_median"]
    if row["size_bytes"] >= GOAL_FROM_BYTES:
        return "met" if ratio <= GOAL_RATIO else "MISSED"
    if row["size_bytes"] <= 8:
        return "met" if row["diff_us"] <= GOAL_SMALL_US else "MISSED"
    return "-"


def summarise(rows: list[dict]) -> list[dict]:
    for row in rows:
        v = row["rounds"]
        c_med, c_min, c_batch, m_med, m_min = v.T
        ratio, ratio_min = m_med / c_med, m_min / c_min
        row.update(c_median_us=float(np.median(c_med)), c_min_us=float(np.median(c_min)),
                   c_batch_us=float(np.median(c_batch)), median_us=float(np.median(m_med)),
                   min_us=float(np.median(m_min)), ratio_median=float(np.median(ratio)),
                   ratio_lo=float(ratio.min()), ratio_hi=float(ratio.max()),
                   ratio_of_min=float(np.median(ratio_min)), diff_us=float(np.median(m_med - c_med)),
                   c_spread=float(c_med.max() / c_med.min()), spread=float(m_med.max() / m_med.min()))
        row["verdict"] = verdict(row)
    return rows


def table(rows: list[dict], rounds: int) -> str:
    out = [f"| collective | ranks | size | C median us | commscale median us | ratio (median of {rounds} rounds) "
           f"| ratio range | ratio of minima | diff us | C batch us | spread C / commscale | goal |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['collective']} | {r['ranks']} | {format_size(r['size_bytes'])} | {r['c_median_us']:.2f} | "
                   f"{r['median_us']:.2f} | {r['ratio_median']:.3f} | {r['ratio_lo']:.2f}-{r['ratio_hi']:.2f} | "
                   f"{r['ratio_of_min']:.3f} | {r['diff_us']:+.2f} | {r['c_batch_us']:.2f} | "
                   f"{r['c_spread']:.2f}x / {r['spread']:.2f}x | {r['verdict']} |")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mpi_reference", description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", default="2,4", help="comma list of rank counts [2,4]")
    parser.add_argument("--sizes", default="8,64K,1M,16M", help="comma list of sizes [8,64K,1M,16M]")
    parser.add_argument("--collectives", default="all_reduce,all_to_all", help="comma list [all_reduce,all_to_all]")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (launches of each tool) [5]")
    parser.add_argument("--iters", type=int, default=100, help="timed calls per point in both tools [100]")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up calls per point in both tools [10]")
    args = parser.parse_args(argv)
    from benchmarks.dryrun import find_mpiexec
    from benchmarks.errors import UsageError
    try:
        args.ranks = [int(p) for p in args.ranks.split(",")]
        [parse_size(s) for s in args.sizes.split(",")]
    except ValueError as exc:
        print(f"mpi_reference: error: {exc}: give comma lists like --ranks 2,4 --sizes 8,64K", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="commscale-mpiref-") as tmp:
        try:
            mpiexec = find_mpiexec()
            binary = build(mpiexec, Path(tmp))
            rows = summarise(measure(args, mpiexec, binary, Path(tmp)))
        except (UsageError, ReferenceError) as exc:
            print(f"mpi_reference: error: {exc}", file=sys.stderr)
            return 2
    library = subprocess.run([sys.executable, "-c", "from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0])"],
                             capture_output=True, text=True).stdout.strip()
    print(f"# commscale run --backend mpi vs benchmarks/mpi_reference.c; {library}; {os.cpu_count()} CPUs; "
          f"{args.iters} calls per point, {args.warmup} warm-up; float32 sum, out of place, per-call times")
    print(table(rows, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())

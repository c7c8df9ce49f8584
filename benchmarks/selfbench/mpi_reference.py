"""commscale's MPI numbers beside a C reference, in alternating launches.

    python -m benchmarks.mpi_reference [--ranks 2,4] [--sizes 8,64K,1M,16M] [--osu DIR]
        [--collectives all_reduce,all_to_all] [--rounds 5] [--iters 100] [--warmup 10]

benchmarks/selfbench/mpi_reference.c (compiled here with the mpicc beside the mpiexec commscale
uses, so both link the same MPI library) times the collectives in C as OSU does: float
data, sum, out of place, page-aligned buffers, a warm-up, then one MPI_Wtime pair around
each call, the max over ranks per call (and a batch between two barriers, as IMB). Each
round launches, in an order that alternates from round to round: that C program (huge
pages asked for from 4 MiB, as numpy's arrays get them), the same loop in mpi4py (the
thread level and buffers of commscale's backend), `commscale run --backend mpi`, the C
program without huge pages (as OSU allocates), `commscale run --timing batch`, and with
--osu, OSU's own programs. The machine's slow drifts and the launch-to-launch spread (2-3x
on a 2-core VM) so fall on all of them alike.

Printed per collective, ranks and size: the median over rounds of each tool's per-call
median; commscale / C paired within each round (median over rounds and the range);
mpi4py / C (the binding's cost) and commscale / mpi4py (commscale's own); C without huge
pages / C; commscale batch / per call; each tool's spread over rounds; commscale / OSU.
Goal (issue 18): commscale / C <= 1.05 from 64 KiB, at most +3 us at 8 B.
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


def _parse_lines(text: str) -> dict:
    """{(collective, size_bytes): (mean, median, min, batch)} from the reference's lines."""
    out = {}
    for line in text.splitlines():
        name, size, _, mean, median, low, batch = line.split()
        out[name, int(size)] = tuple(float(x) for x in (mean, median, low, batch))
    return out


def run_reference(mpiexec, binary, ranks, collectives, sizes, iters, warmup, pages) -> dict:
    """One launch of the C reference per collective; `pages`: "thp" or "plain"."""
    out = {}
    for collective in collectives:
        result = subprocess.run([mpiexec, "-n", str(ranks), str(binary), collective, ",".join(map(str, sizes)),
                                 str(iters), str(warmup), pages], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise ReferenceError(f"the C reference failed ({collective}, {ranks} ranks): {result.stderr.strip()[-300:]}")
        out.update(_parse_lines(result.stdout))
    return out


def run_bare(mpiexec, ranks, collectives, sizes, iters, warmup) -> dict:
    """One launch of the bare mpi4py loop (`--bare-worker`): the C program's loop in Python."""
    argv = [mpiexec, "-n", str(ranks), sys.executable, "-m", "benchmarks.selfbench.mpi_reference", "--bare-worker",
            "--collectives", ",".join(collectives), "--sizes", ",".join(map(str, sizes)), "--iters", str(iters),
            "--warmup", str(warmup)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise ReferenceError(f"the bare mpi4py loop failed ({ranks} ranks): {result.stderr.strip()[-300:]}")
    return _parse_lines(result.stdout)


def bare_worker(collectives, sizes, iters, warmup) -> int:
    """Under mpiexec: the C reference's loop with mpi4py (the thread level and page-aligned
    buffers of commscale's backend), printing the same lines."""
    from collectives.backends.mpi import page_aligned
    from collectives.registry import get_collective
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, p = comm.Get_rank(), comm.Get_size()
    calls = {
        "all_reduce": lambda s, r: comm.Allreduce(s, r, MPI.SUM), "all_gather": lambda s, r: comm.Allgather(s, r),
        "reduce_scatter": lambda s, r: comm.Reduce_scatter_block(s, r, MPI.SUM),
        "all_to_all": lambda s, r: comm.Alltoall(s, r), "broadcast": lambda s, r: comm.Bcast(r, 0),
        "reduce": lambda s, r: comm.Reduce(s, r, MPI.SUM, 0),
        "sendrecv": lambda s, r: comm.Sendrecv(s, (rank + 1) % p, 0, r, (rank - 1) % p, 0)}
    for name in collectives:
        call = calls[name]
        for size in sizes:
            layout = get_collective(name).layout(size, p, 4)  # float32, as commscale lays it out
            if layout.send_numel == 0 or layout.recv_numel == 0:
                continue
            send = page_aligned(np.ones(layout.send_numel), np.float32)
            recv = page_aligned(np.zeros(layout.recv_numel), np.float32)
            fn = (lambda s, r, c: lambda: c(s, r))(send, recv, call)
            for _ in range(warmup):
                fn()
            comm.Barrier()
            mine, wtime = np.empty(iters), MPI.Wtime
            for i in range(iters):
                t0 = wtime()
                fn()
                mine[i] = wtime() - t0
            slowest = np.empty_like(mine)
            comm.Allreduce(mine, slowest, MPI.MAX)
            comm.Barrier()
            t0 = wtime()
            for _ in range(iters):
                fn()
            batch = np.array([(wtime() - t0) / iters])
            batch_max = np.empty_like(batch)
            comm.Reduce(batch, batch_max, MPI.MAX, 0)
            if rank == 0:
                print(f"{name} {layout.size_bytes} {iters} {slowest.mean() * 1e6:.3f} {np.median(slowest) * 1e6:.3f} "
                      f"{slowest.min() * 1e6:.3f} {batch_max[0] * 1e6:.3f}", flush=True)
    return 0


OSU_BINARIES = {"all_reduce": ("osu_allreduce", False), "all_to_all": ("osu_alltoall", True),
                "all_gather": ("osu_allgather", True), "broadcast": ("osu_bcast", False), "reduce": ("osu_reduce", False)}
"""OSU's program per collective, and whether OSU's size is per rank (commscale's / ranks)."""


def run_osu(mpiexec, osu_dir: Path, ranks, collectives, sizes, iters, warmup) -> dict:
    """{(collective, size_bytes): (avg, avg, avg, None)} from OSU's own programs (its average
    over ranks of each rank's mean: OSU prints nothing else by default). float data where
    OSU lets one choose (OMB 7: -T mpi_float; OMB 5 uses float)."""
    out = {}
    for collective in collectives:
        if collective not in OSU_BINARIES:
            continue
        program, per_rank = OSU_BINARIES[collective]
        binary = Path(osu_dir) / program
        if not binary.exists():
            raise ReferenceError(f"--osu {osu_dir}: no {program} there: give the directory holding OSU's collective programs")
        want = {size // ranks // 4 * 4 if per_rank else size: size for size in sizes}
        argv = [mpiexec, "-n", str(ranks), str(binary), "-m", f"{max(min(want), 1)}:{max(want)}", "-i", str(iters),
                "-x", str(warmup)]
        if "mpi_float" in subprocess.run([str(binary), "--help"], capture_output=True, text=True).stdout:
            argv += ["-T", "mpi_float"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise ReferenceError(f"{program} failed ({ranks} ranks): {result.stderr.strip()[-300:]}")
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit() and int(parts[0]) in want:
                osu_size = int(parts[0])
                size = osu_size * ranks if per_rank else osu_size
                avg = float(parts[1])
                out[collective, size] = (avg, avg, avg, None)
    return out


def run_commscale(mpiexec, ranks, collectives, sizes, iters, warmup, out_dir, timing="call") -> dict:
    """{(collective, size_bytes): (mean, median, min, None)} of one `commscale run --backend mpi`."""
    argv = [mpiexec, "-n", str(ranks), sys.executable, "-m", "benchmarks", "run", "--backend", "mpi",
            "--device", "cpu", "--collectives", ",".join(collectives), "--sizes", ",".join(map(str, sizes)),
            "--ranks", str(ranks), "-n", str(iters), "-w", str(warmup), "--timing", timing, "--out", str(out_dir)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise ReferenceError(f"commscale run failed ({ranks} ranks): {result.stderr.strip()[-300:]}")
    out = {}
    with open(out_dir / "records.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["status"] == "ok" and r["nranks"] == ranks:
                out[r["collective"], r["size_bytes"]] = (r["time_us_mean"], r["time_us_median"], r["time_us_min"], None)
    return out


TOOLS = ("c", "bare", "commscale", "c_plain", "batch")
"""The C reference (huge pages as numpy's), the bare mpi4py loop, commscale, the C
reference without huge pages (as OSU allocates), and commscale with --timing batch: one
launch of each per round and ranks."""


def measure(args, mpiexec, binary, work: Path) -> list[dict]:
    """Alternating rounds; per (collective, ranks, size) each tool's per-round figures
    (with --osu, OSU's own programs too, as "osu")."""
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    collectives = args.collectives.split(",")
    launch = {
        "c": lambda p, r: run_reference(mpiexec, binary, p, collectives, sizes, args.iters, args.warmup, "thp"),
        "c_plain": lambda p, r: run_reference(mpiexec, binary, p, collectives, sizes, args.iters, args.warmup, "plain"),
        "bare": lambda p, r: run_bare(mpiexec, p, collectives, sizes, args.iters, args.warmup),
        "commscale": lambda p, r: run_commscale(mpiexec, p, collectives, sizes, args.iters, args.warmup,
                                                work / f"r{r}-{p}"),
        "batch": lambda p, r: run_commscale(mpiexec, p, collectives, sizes, args.iters, args.warmup,
                                            work / f"r{r}-{p}-batch", "batch")}
    tools = TOOLS
    if args.osu:
        launch["osu"] = lambda p, r: run_osu(mpiexec, args.osu, p, collectives, sizes, args.iters, args.warmup)
        tools = TOOLS + ("osu",)
    rows = {}
    for r in range(args.rounds):
        for ranks in args.ranks:
            order = tools if r % 2 == 0 else tools[::-1]
            got = {tool: launch[tool](ranks, r) for tool in order}
            for key in got["c"]:
                if all(key in got[t] for t in TOOLS):
                    rows.setdefault((key[0], ranks, key[1]), []).append(
                        {t: got[t].get(key, (np.nan,) * 4) for t in tools})
        print(f"# round {r + 1} of {args.rounds} done", file=sys.stderr)
    return [{"collective": c, "ranks": p, "size_bytes": n, "rounds": v} for (c, p, n), v in sorted(rows.items())]


def verdict(ratio: float, diff_us: float, size_bytes: int) -> str:
    if size_bytes >= GOAL_FROM_BYTES:
        return "met" if ratio <= GOAL_RATIO else "MISSED"
    if size_bytes <= 8:
        return "met" if diff_us <= GOAL_SMALL_US else "MISSED"
    return "-"


def summarise(rows: list[dict]) -> list[dict]:
    for row in rows:
        med = {t: np.array([rnd[t][1] for rnd in row["rounds"]]) for t in row["rounds"][0]}
        ratio, binding, own = med["commscale"] / med["c"], med["bare"] / med["c"], med["commscale"] / med["bare"]
        row.update({f"{t}_median_us": float(np.median(v)) for t, v in med.items()})
        row.update(ratio=float(np.median(ratio)), ratio_lo=float(ratio.min()), ratio_hi=float(ratio.max()),
                   binding=float(np.median(binding)), own=float(np.median(own)),
                   diff_us=float(np.median(med["commscale"] - med["c"])),
                   own_diff_us=float(np.median(med["commscale"] - med["bare"])),
                   plain=float(np.median(med["c_plain"] / med["c"])),
                   batch=float(np.median(med["batch"] / med["commscale"])),
                   spread={t: float(v.max() / v.min()) for t, v in med.items()},
                   osu=float(np.median(med["commscale"] / med["osu"])) if "osu" in med else None)
        row["verdict"] = verdict(row["ratio"], row["diff_us"], row["size_bytes"])
    return rows


def table(rows: list[dict], rounds: int) -> str:
    out = [f"| collective | ranks | size | C us | mpi4py loop us | commscale us | commscale / C (range over {rounds} "
           f"rounds) | diff us | mpi4py / C | commscale / mpi4py | C without huge pages / C | commscale batch / per call "
           f"| spread C, commscale | goal |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    if any(r.get("osu") is not None for r in rows):
        out[0] = out[0].replace("| goal |", "| commscale / OSU | goal |")
        out[1] += "---|"
    for r in rows:
        out.append(f"| {r['collective']} | {r['ranks']} | {format_size(r['size_bytes'])} | {r['c_median_us']:.2f} | "
                   f"{r['bare_median_us']:.2f} | {r['commscale_median_us']:.2f} | {r['ratio']:.3f} "
                   f"({r['ratio_lo']:.2f}-{r['ratio_hi']:.2f}) | {r['diff_us']:+.2f} | {r['binding']:.3f} | "
                   f"{r['own']:.3f} | {r['plain']:.2f} | {r['batch']:.2f} | {r['spread']['c']:.2f}x, {r['spread']['commscale']:.2f}x | "
                   + (f"{'-' if np.isnan(r['osu']) else format(r['osu'], '.3f')} | " if r.get("osu") is not None else "")
                   + f"{r['verdict']} |")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mpi_reference", description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", default=None, help="comma list of rank counts [2,4; 2 on a machine with under 4 "
                        "CPUs, where 4 busy-polling MPICH ranks measure the scheduler]")
    parser.add_argument("--sizes", default="8,64K,1M,16M", help="comma list of sizes [8,64K,1M,16M]")
    parser.add_argument("--collectives", default="all_reduce,all_to_all", help="comma list [all_reduce,all_to_all]")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (launches of each tool) [5]")
    parser.add_argument("--iters", type=int, default=100, help="timed calls per point in both tools [100]")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up calls per point in both tools [10]")
    parser.add_argument("--osu", type=Path, help="also run OSU's own programs from this directory (osu_allreduce, "
                        "osu_alltoall, ...) in the same rounds: a column commscale / OSU")
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_worker:
        return bare_worker(args.collectives.split(","), [parse_size(s) for s in args.sizes.split(",")], args.iters,
                           args.warmup)
    from ..errors import UsageError
    from ..launch.local import find_mpiexec
    cpus = os.cpu_count() or 1
    try:
        args.ranks = [int(p) for p in args.ranks.split(",")] if args.ranks else [p for p in (2, 4) if p <= max(cpus, 2)]
        [parse_size(s) for s in args.sizes.split(",")]
    except ValueError as exc:
        print(f"mpi_reference: error: {exc}: give comma lists like --ranks 2,4 --sizes 8,64K", file=sys.stderr)
        return 2
    if max(args.ranks) > cpus:
        print(f"mpi_reference: warning: {max(args.ranks)} ranks on {cpus} CPUs: MPICH's ranks busy-poll, so an "
              f"oversubscribed launch measures the scheduler (an 8 B all_reduce took 8 ms at 4 ranks on 2 CPUs)",
              file=sys.stderr)
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
    print(f"# commscale run --backend mpi vs benchmarks/selfbench/mpi_reference.c; {library}; {os.cpu_count()} CPUs; "
          f"{args.iters} calls per point, {args.warmup} warm-up; float32 sum, out of place, per-call times")
    print(table(rows, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())

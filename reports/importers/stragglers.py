"""A process that is consistently the slowest, from nccl-tests' per-process rows (`-I 1`
with more than one MPI process). The rule and what it can tell: docs/methods.md
(`reports/importers/stragglers.py`).

Per sized point (size > 0, each placement its own point) with process rows: each
process's median over its iterations (after the `-K` skipped ones); the point's slowest
process is the one with the largest median (none on a tie). A process is a straggler when
  - it is the slowest in more than half of the points judged (at least MIN_POINTS),
  - that many is unlikely by chance: if each of the P processes were equally likely to be
    the slowest in each point, the binomial P(X >= k | n, 1/P) <= MAX_P_VALUE, and
  - it is slower by a margin that matters: over all points judged, the median of its
    excess (its median / the median of the other processes' medians - 1) is >=
    MIN_EXCESS_PCT.
At most one process can pass the first condition."""
from __future__ import annotations

import math
import statistics

MIN_POINTS = 4
MAX_P_VALUE = 0.01
MIN_EXCESS_PCT = 5.0


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return min(1.0, sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1)))


def check(points: list) -> dict | None:
    """`points`: (size_bytes, PerIter) per record. The check's numbers (`points_judged`,
    `processes`, the process most often slowest with `points_slowest`, `p_value`,
    `median_excess_pct`, and `found`); None where no sized point has process rows."""
    judged = [one for size, one in points if one is not None and one.process_us and (size or 0) > 0]
    if not judged:
        return None
    nprocs = len(judged[0].process_us)
    slowest, excess = [], [[] for _ in range(nprocs)]
    for one in judged:
        medians = [statistics.median(row[one.skipped:]) for row in one.process_us]
        top = max(medians)
        slowest.append(medians.index(top) if medians.count(top) == 1 else None)
        for p, m in enumerate(medians):
            others = statistics.median(medians[:p] + medians[p + 1:])
            excess[p].append(100.0 * (m / others - 1) if others > 0 else 0.0)
    counts = [slowest.count(p) for p in range(nprocs)]
    k = max(counts)
    proc = counts.index(k)
    n = len(judged)
    p_value = binomial_tail(k, n, 1 / nprocs)
    median_excess = statistics.median(excess[proc])
    found = n >= MIN_POINTS and 2 * k > n and p_value <= MAX_P_VALUE and median_excess >= MIN_EXCESS_PCT
    return {"points_judged": n, "processes": nprocs, "most_often_slowest": proc, "points_slowest": k,
            "p_value": float(f"{p_value:.3g}"), "median_excess_pct": round(median_excess, 2), "found": found}


def finding(result: dict, devices: list, ranks_per_process: int) -> dict:
    """The straggler of a check that found one, named: its ranks (nccl-tests numbers process
    p's GPUs p x ranks_per_process on) and, from the JSON's devices list (one entry per
    process, its first GPU), its host, CUDA device and GPU."""
    proc = result["most_often_slowest"]
    first = proc * ranks_per_process
    dev = devices[proc] if len(devices) == result["processes"] and isinstance(devices[proc], dict) else {}
    return {"process": proc, "ranks": [first, first + ranks_per_process - 1], "host": dev.get("hostname"),
            "device": dev.get("device"), "gpu": dev.get("device_info"),
            **{k: result[k] for k in ("points_slowest", "points_judged", "processes", "p_value",
                                      "median_excess_pct")}}


def where(f: dict) -> str:
    """'rank 5 on nid005487, CUDA device 1, NVIDIA GH200 120GB' (what the JSON says of it)."""
    lo, hi = f["ranks"]
    parts = [(f"rank {lo}" if lo == hi else f"ranks {lo}-{hi}") + (f" on {f['host']}" if f.get("host") else "")]
    if f.get("device") is not None:
        parts.append(f"CUDA device {f['device']}" + (" (its first)" if hi > lo else ""))
    if f.get("gpu"):
        parts.append(f["gpu"])
    return ", ".join(parts)


def note(f: dict) -> str:
    """The import's one line on a straggler."""
    return (f"straggler: process {f['process']} ({where(f)}) is the slowest of {f['processes']} processes in "
            f"{f['points_slowest']} of {f['points_judged']} sized points (chance alone: p = {f['p_value']:.2g}); "
            f"its median per-iteration time is {f['median_excess_pct']:.1f}% above the other processes' "
            f"(median over the points; per_process_max_times_us)")

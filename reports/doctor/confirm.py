"""The doctor's confirmation: the groups that confirm each suspect (a node beside healthy
ones and without it, a link against its nodes with other partners), measured at once, and
the bisection of a group still slow without the suspect. A generator of steps, driven by
the doctor run (benchmarks/doctor/doctor.py). docs/doctor.md has the method."""
from __future__ import annotations

from .stats import THRESHOLD


def confirm(n: int, suspects: list[dict], ref_gbps: float, threshold: float = THRESHOLD):
    """The confirmation, as a generator of steps: it yields a list of disjoint groups of node
    indices to measure at the same time (an all_reduce on each) and is sent back their busbw
    (GB/s, in order); it returns the group-level check and fills each suspect's
    `confirmation`. `ref_gbps`: a healthy pair's all_reduce busbw.

    A node suspect s: a group of s with healthy nodes beside an equal group of healthy
    nodes only ("with" and "without"). Confirmed when "with" is below "without" by more than
    the threshold; "restores" when "without" reaches the reference (less the threshold). If
    "without" is still slow, something unsuspected is slow in it: its halves are measured,
    the slower one halved again, down to 3 nodes or fewer (adaptive bisection), and named.
    A link suspect (a, b): a-b beside a healthy pair, then a and b each with another healthy
    partner. Finally, with node suspects: all nodes, then all nodes without the suspects."""
    bad = {s["index"] for s in suspects if s["kind"] == "node"}
    healthy = [i for i in range(n) if i not in bad]
    low = ref_gbps * (1 - threshold)
    count = 0
    for s in suspects:
        if s["kind"] == "node":
            steps = _node_steps(s["index"], n, healthy, low, threshold)
        else:
            steps = _link_steps(s["index"], [i for i in healthy if i not in s["index"]], low, threshold)
        s["confirmation"] = yield from steps
        count += s["confirmation"]["measurements"]
    group = None
    if bad and len(healthy) >= 2:
        (everyone,) = yield [list(range(n))]
        (clean,) = yield [healthy]
        count += 2
        group = {"all_nodes_gbps": everyone, "without_suspects_gbps": clean, "nodes_without": len(healthy),
                 "restores": bool(clean >= low), "improves": bool(clean > everyone * (1 + threshold))}
    return {"measurements": count, "reference_gbps": ref_gbps, "threshold": threshold, "group": group}


def _node_steps(s: int, n: int, healthy: list[int], low: float, threshold: float):
    half = min(n // 2, (len(healthy) + 1) // 2)
    if half < 2:
        return {"confirmed": None, "restores": None, "measurements": 0,
                "why": f"needs 3 nodes that are not suspects beside it; there are {len(healthy)}"}
    with_group, without_group = [s, *healthy[:half - 1]], healthy[half - 1:2 * half - 1]
    with_gbps, without_gbps = yield [with_group, without_group]
    out = {"with": with_group, "without": without_group, "with_gbps": with_gbps, "without_gbps": without_gbps,
           "confirmed": bool(with_gbps < without_gbps * (1 - threshold)), "restores": bool(without_gbps >= low),
           "measurements": 2}
    if not out["restores"]:
        out["still_slow"], extra = yield from _bisect(without_group, low)
        out["measurements"] += extra
    return out


def _link_steps(pair: list[int], others: list[int], low: float, threshold: float):
    if len(others) < 2:
        return {"confirmed": None, "restores": None, "measurements": 0,
                "why": f"needs 2 other nodes that are not suspects; there are {len(others)}"}
    a, b = pair
    x, y = others[:2]
    pair_gbps, control_gbps = yield [[a, b], [x, y]]
    a_gbps, b_gbps = yield [[a, x], [b, y]]
    without = min(a_gbps, b_gbps)
    return {"with": [[a, b], [x, y]], "without": [[a, x], [b, y]], "with_gbps": pair_gbps,
            "control_gbps": control_gbps, "without_gbps": without,
            "confirmed": bool(pair_gbps < without * (1 - threshold)), "restores": bool(without >= low),
            "measurements": 4}


def _bisect(nodes: list[int], low: float):
    """Halve a slow group until 3 nodes or fewer are left that hold the slowness; returns
    them (None if neither half is slow: the group was slow only as a whole) and the count."""
    count = 0
    while len(nodes) >= 4:
        first, second = nodes[:len(nodes) // 2], nodes[len(nodes) // 2:]
        rates = yield [first, second]
        count += 2
        if min(rates) >= low:
            return None, count
        nodes = first if rates[0] <= rates[1] else second
    return nodes, count


def run_confirmation(steps, measure):
    """Drive `confirm` with `measure(groups) -> busbw list`; its result."""
    try:
        groups = next(steps)
        while True:
            groups = steps.send(measure(groups))
    except StopIteration as done:
        return done.value

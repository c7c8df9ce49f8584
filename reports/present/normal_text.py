"""`commscale normal`'s text: per key of a run, where its busbw sits among comparable
published runs (reports/reference/match.py), the runs it was compared with and their
sources; one line when there are too few or none."""
from __future__ import annotations

import statistics

from ..reference.match import MIN_COMPARABLE, Comparable, Placement, RunKey
from .format import num, size


def _ordinal(p: float) -> str:
    n = int(round(p))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def scope(key: RunKey) -> str:
    where = "one node" if key.nnodes == 1 else "several nodes"
    per = f", {key.gpus_per_node} {'ranks' if key.memory == 'host' else 'GPUs'} per node" if key.gpus_per_node else ""
    net = {"none": "", "unknown": ", any network (this run's is not known: --network says it)"}.get(
        key.network_class, f", network {key.network_class}")
    return f"{key.collective} on {key.device.generation or 'an unknown device'}, {where}{per}{net}"


def headline(pl: Placement) -> str:
    """The one line of a key's answer."""
    k = pl.key
    if pl.status == "placed":
        vals = pl.values
        return (f"{k.label}: busbw {num(pl.busbw_gbps, 4)} GB/s at {size(pl.size_bytes)} is at the "
                f"{_ordinal(pl.percentile)} percentile of {len(vals)} comparable published runs (above {pl.below} of "
                f"{len(vals)}); their median {num(statistics.median(vals), 4)}, range {num(vals[0], 4)} to "
                f"{num(vals[-1], 4)} GB/s")
    where = "inside one node" if k.nnodes == 1 else "across nodes"
    if pl.status == "too_few":
        unit = "ranks" if k.memory == "host" else "GPUs"
        names = "; ".join(name(c) for c in pl.candidates[:3]) + (" ..." if len(pl.candidates) > 3 else "")
        return (f"{k.label}: too few comparable published runs to judge: {len(pl.candidates)} {k.collective} "
                f"run{'s' * (len(pl.candidates) > 1)} on {k.device.generation} {where} with any {unit} per node "
                f"({names}); {MIN_COMPARABLE} are needed at a size this run measured")
    why = pl.reason or f"the reference set holds no {k.collective} on {k.device.generation} {where}"
    return f"{k.label}: no comparable published run: {why}"


def name(c: Comparable) -> str:
    e = c.first
    repeats = f", median of {len(c.entries)} runs" if len(c.entries) > 1 else ""
    return (f"{e.system} ({e.publisher})" if e.system else e.publisher) + repeats


def rows(pl: Placement) -> list[list[str]]:
    """One row per comparable run: busbw, nodes x GPUs, device, network, who, source."""
    out = []
    for c, v in pl.others or tuple((c, None) for c in pl.candidates):
        e = c.first
        out.append([num(v, 4), f"{e.nnodes} x {e.gpus_per_node or '?'}", e.device or "-",
                    e.network or e.network_class, name(c), e.url])
    return out


def lines(pl: Placement) -> list[str]:
    """The headline, what was matched and relaxed, and the table of comparable runs."""
    out = [headline(pl)]
    if pl.left_out_self:
        out.append(f"  this run is itself in the reference set ({', '.join(pl.left_out_self)}): left out of its "
                   f"comparison")
    if pl.status == "none":
        return out
    relaxed = ", ".join(pl.relaxed) if pl.relaxed else "nothing"
    out.append(f"  compared with: {scope(pl.key)}; relaxed to find {MIN_COMPARABLE}: {relaxed}")
    table = rows(pl)
    head = ["busbw_gbps", "nodes x gpus", "device", "network", "system (publisher)", "source"]
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(5)]
    for r in [head, *table]:
        out.append("  " + "  ".join(c.ljust(w) if i else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                   + "  " + r[5])
    return out

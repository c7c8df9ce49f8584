"""The network model.json's fit describes, as the list of dimensions every export target
starts from: which entry of model.json (select_entry), one dimension per tier a group of N
nodes crosses (network), and the busbw and latency the model gives a group spanning each
dimension (with_groups). Pure: model.json's dict in, dataclasses out. The design (tiers,
members, groups) is docs/exports.md, "The dimensions"."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from collectives.registry import COLLECTIVES

from reports.model.tiers import shape_at

from .formatting import format_bytes


class ExportError(ValueError):
    """Bad input for an export: one line naming the problem and the fix."""


@dataclass(frozen=True)
class Dimension:
    name: str
    """tier name (intra_node, intra_domain, inter_domain, inter_node), or "flat"."""
    npus: int
    """members of this dimension at the exported node count"""
    q: int
    """members the tier's algorithm spans (its own members, or every rank under a flat tier)"""
    scales_with: str | None
    family: str
    alpha_us: float | None
    alpha_us_ci: list
    bandwidth_gbps: float
    """1 / beta, the family's per-link rate, GB/s of 1e9 B/s"""
    bandwidth_gbps_ci: list
    busbw_gbps: float
    """the busbw this tier gives the collective over q members"""
    busbw_gbps_ci: list
    measured_nnodes: list
    group_ranks: int = 0
    """ranks of a group spanning this dimension and every one inside it"""
    group_busbw_gbps: float = 0.0
    """the busbw the model gives the collective over those ranks at large sizes: busbw
    factor(group_ranks) / the sum of B(q) / bandwidth over the tiers it crosses"""
    group_busbw_gbps_ci: tuple = (None, None)
    """from the tiers' interval bounds taken together (wider than a joint interval)"""
    group_alpha_us: float = 0.0
    """the latency of one collective over those ranks: the sum of alpha x A(q) over the tiers"""


@dataclass(frozen=True)
class Network:
    collective: str
    source: str
    """hierarchical or flat: which model.json list the entry came from"""
    entry: dict
    """the model.json entry's key fields"""
    nodes: int
    ranks_per_node: int | None
    domain_size_nodes: int | None
    dims: tuple
    notes: tuple

    @property
    def backend(self) -> str:
        return self.entry["backend"]

    @property
    def dtype(self) -> str:
        return self.entry["dtype"]


def _family(collective: str, name: str):
    spec = COLLECTIVES.get(collective)
    return next((f for f in spec.families if f.name == name), None) if spec else None


def busbw_per_bandwidth(collective: str, family: str, q: int) -> float:
    """busbw / bandwidth_gbps over q members: busbw factor(q) / B(q); 1 where B(q) is the
    factor (ring, rabenseifner, pairwise) or the family is unknown."""
    fam = _family(collective, family)
    if fam is None or q < 2 or fam.data(q) <= 0:
        return 1.0
    return COLLECTIVES[collective].busbw_factor(q) / fam.data(q)


def data(collective: str, family: str, q: int) -> float:
    """B(q), the family's bytes per byte of the buffer over q members (the busbw factor for an
    unknown family)."""
    fam = _family(collective, family)
    if q < 2:
        return 0.0
    return float(fam.data(q)) if fam is not None else COLLECTIVES[collective].busbw_factor(q)


def _path(dims, k: int) -> list:
    """The dimensions a group spanning dims[:k + 1] crosses, outermost first: a flat ("ranks")
    tier's one ring over every rank under it stops the descent (reports/model/tiers.py)."""
    out = []
    for d in reversed(dims[:k + 1]):
        out.append(d)
        if d.scales_with == "ranks":
            break
    return out


def with_groups(collective: str, dims: list) -> list:
    """Each dimension with the busbw and latency the model gives a group spanning it and
    every dimension inside it (the collective over all those ranks; sendrecv: one pair
    across the dimension, its tier's own)."""
    out, ranks = [], 1
    for k, d in enumerate(dims):
        ranks *= d.npus
        path = _path(dims, k)
        factor = COLLECTIVES[collective].busbw_factor(ranks) if ranks > 1 else 0.0

        def busbw(bw_of):
            per_gbps = sum(data(collective, x.family, x.q) / bw_of(x) if bw_of(x) else math.inf for x in path)
            return factor / per_gbps if factor and per_gbps > 0 else None

        alpha = sum((x.alpha_us or 0.0) * steps(collective, x.family, x.q) for x in path)
        if d.name == "flat" or collective == "sendrecv":  # one node: the flat fit's busbw asymptote;
            group, ci = d.busbw_gbps, tuple(d.busbw_gbps_ci)  # a pair has no group: one pair across the tier
            alpha = (d.alpha_us or 0.0) * steps(collective, d.family, d.q)
        else:
            hi = None if any(x.bandwidth_gbps_ci[1] is None for x in path) else busbw(lambda x: x.bandwidth_gbps_ci[1])
            group, ci = busbw(lambda x: x.bandwidth_gbps), (busbw(lambda x: x.bandwidth_gbps_ci[0]), hi)
        out.append(replace(d, group_ranks=ranks, group_busbw_gbps=group, group_busbw_gbps_ci=ci, group_alpha_us=alpha))
    return out


def steps(collective: str, family: str, q: int) -> float:
    """A(q), the family's latency steps over q members (1 for an unknown family)."""
    fam = _family(collective, family)
    return float(fam.steps(q)) if fam is not None and q >= 2 else 1.0


def scaled(ci, factor: float) -> list:
    return [None if v is None else v * factor for v in ci]


def _matching(entries, collective, backend, dtype) -> list[dict]:
    return [e for e in entries or [] if e.get("collective") == collective
            and backend in (None, e.get("backend")) and dtype in (None, e.get("dtype"))]


def select_entry(model: dict, collective: str, backend=None, dtype=None) -> tuple[str, dict]:
    """("hierarchical" or "flat", the entry): the tiered fit where the runs cross nodes, else
    the flat fit's regime of the largest sizes; out-of-place, per-call timing and the most
    points where several keys remain."""
    known = sorted({e.get("collective") for e in model.get("fits", []) + model.get("hierarchical", [])})
    if collective not in known:
        raise ExportError(f"model.json has no fit of {collective!r}: choose --collective from "
                          f"{', '.join(known) or 'nothing (an empty model: fit runs with records)'}")
    hier = _matching(model.get("hierarchical"), collective, backend, dtype)
    flat = [e for e in _matching(model.get("fits"), collective, backend, dtype) if e["regime"] == e["regimes"]]
    source, rows = ("hierarchical", hier) if hier else ("flat", flat)
    if not rows:
        have = sorted({f"{e['backend']}/{e['dtype']}" for kind in ("hierarchical", "fits")
                       for e in _matching(model.get(kind), collective, None, None)})
        asked = " ".join(f"--{k} {v}" for k, v in (("backend", backend), ("dtype", dtype)) if v is not None)
        raise ExportError(f"model.json has no fit of {collective} with {asked}: choose from {', '.join(have)} "
                          f"(backend/dtype)")
    combos = sorted({f"{e['backend']}/{e['dtype']}" for e in rows})
    if len(combos) > 1:
        raise ExportError(f"model.json fits {collective} for {', '.join(combos)} (backend/dtype): choose one "
                          f"with --backend and --dtype")
    return source, min(rows, key=lambda e: (e.get("in_place") is True, e.get("timing") not in (None, "call"),
                                            -(e.get("points") or 0)))


def _dimension(collective: str, family: str, tier: dict, npus: int, q: int) -> Dimension:
    if tier.get("bandwidth_gbps") is None:
        raise ExportError(f"the {collective} fit's {tier['name']} tier has no finite bandwidth (a latency-only "
                          f"fit): measure larger sizes (-e) and fit again")
    ratio = busbw_per_bandwidth(collective, family, q)
    return Dimension(name=tier["name"], npus=npus, q=q, scales_with=tier.get("scales_with"), family=family,
                     alpha_us=tier.get("alpha_us"), alpha_us_ci=list(tier.get("alpha_us_ci") or [None, None]),
                     bandwidth_gbps=tier["bandwidth_gbps"],
                     bandwidth_gbps_ci=list(tier.get("bandwidth_gbps_ci") or [None, None]),
                     busbw_gbps=tier["bandwidth_gbps"] * ratio,
                     busbw_gbps_ci=scaled(tier.get("bandwidth_gbps_ci") or [None, None], ratio),
                     measured_nnodes=list(tier.get("nnodes") or []))


def _wanted(entry: dict, nodes: int) -> tuple[list, list]:
    """[(tier name, members at `nodes`, q if the tier is flat)], and notes on the shape."""
    g, size = entry["ranks_per_node"], entry.get("domain_size_nodes")
    s = shape_at(nodes, g, size)
    m, d, P = int(s.m[0]), int(s.d[0]), int(s.P[0])
    notes = []
    if size is None:
        return [("intra_node", g, g), ("inter_node", nodes, P)], notes
    if m * d != nodes:
        notes.append(f"{nodes} nodes are exported as {d} domains of {m} nodes ({m * d} nodes), the shape "
                     f"commscale predicts with (domains of {size} nodes filled evenly)")
    return [("intra_node", g, g), ("intra_domain", m, g * m), ("inter_domain", d, P)], notes


def _hier_dims(collective: str, entry: dict, nodes: int) -> tuple[list, list]:
    tiers = {t["name"]: t for t in entry["tiers"]}
    wanted, notes = _wanted(entry, nodes)
    dims = []
    for name, npus, flat_q in wanted:
        if npus <= 1:
            if name in tiers:
                notes.append(f"{name} left out: 1 member at {nodes} node{'s' if nodes != 1 else ''}")
            continue
        if name not in tiers:
            raise ExportError(f"the {collective} fit has no {name} tier, which {nodes} nodes of "
                              f"{entry['ranks_per_node']} ranks cross (it has {', '.join(tiers)}): choose --nodes "
                              f"within the measured tiers, or measure that tier and fit again")
        tier = tiers[name]
        q = flat_q if tier.get("scales_with") == "ranks" else npus
        dims.append(_dimension(collective, entry["family"], tier, npus, q))
    return dims, notes


def family_words(entry: dict, used: str) -> str:
    """'family ring', or 'family unidentified, priced as ring' where the fit could not tell
    the family and model.json's family_used stands in (as the file header says)."""
    told = entry.get("family")
    return f"family {used}" if told in (None, used) else f"family {told}, priced as {used}"


def _flat_dims(collective: str, entry: dict) -> tuple[list, list]:
    p = max(entry["nranks"])
    family = entry.get("family_used") or entry["family"]
    if entry.get("bandwidth_gbps") is None:
        raise ExportError(f"the {collective} fit of the largest sizes has no finite bandwidth (a latency-only "
                          f"fit): measure larger sizes (-e) and fit again")
    dim = Dimension(name="flat", npus=p, q=p, scales_with=None, family=family, alpha_us=entry.get("alpha_us"),
                    alpha_us_ci=list(entry.get("alpha_us_ci") or [None, None]),
                    bandwidth_gbps=entry["bandwidth_gbps"], bandwidth_gbps_ci=list(entry["bandwidth_gbps_ci"]),
                    busbw_gbps=entry.get("busbw_asymptote_gbps") or entry["bandwidth_gbps"],
                    busbw_gbps_ci=list(entry.get("busbw_asymptote_gbps_ci") or entry["bandwidth_gbps_ci"]),
                    measured_nnodes=[])
    note = (f"one dimension from the flat fit of the largest sizes ({entry['fabric']}, "
            f"{format_bytes(entry['size_bytes_min'])}-{format_bytes(entry['size_bytes_max'])}, up to {p} ranks, "
            f"{family_words(entry, family)}): model.json has no fit across nodes ('hierarchical') of {collective}")
    return [dim], [note]


def network(model: dict, collective: str = "all_reduce", backend=None, dtype=None, nodes=None) -> Network:
    """The dimensions `collective` crosses at `nodes` nodes (default: the largest measured)."""
    if nodes is not None and nodes < 1:
        raise ExportError(f"--nodes {nodes} must be at least 1")
    source, entry = select_entry(model, collective, backend, dtype)
    key = {k: entry.get(k) for k in ("collective", "backend", "device", "fabric", "dtype", "in_place", "timing",
                                     "family", "family_used", "size_bytes_min", "size_bytes_max") if k in entry}
    if source == "flat":
        if nodes not in (None, 1):
            raise ExportError(f"--nodes {nodes} needs a fit across nodes, and model.json has none of {collective} "
                              f"(one node): drop --nodes, or fit runs of 2 or more nodes")
        dims, notes = _flat_dims(collective, entry)
        return Network(collective, source, key, 1, None, None, tuple(with_groups(collective, dims)), tuple(notes))
    largest = max(entry["nnodes"])
    nodes = largest if nodes is None else nodes
    dims, notes = _hier_dims(collective, entry, nodes)
    if nodes > largest:
        notes.append(f"{nodes} nodes extrapolate past the largest node count measured ({largest})")
    if not dims:
        raise ExportError(f"{nodes} node of {entry['ranks_per_node']} rank leaves no dimension of 2 or more "
                          f"members: choose a larger --nodes")
    return Network(collective, source, key, nodes, entry["ranks_per_node"], entry.get("domain_size_nodes"),
                   tuple(with_groups(collective, dims)), tuple(notes))


def other_network(model: dict, net: Network, collective: str) -> Network | None:
    """The same backend, dtype and node count for another collective; None where model.json
    has no such fit or it lacks a tier."""
    try:
        nodes = net.nodes if net.source == "hierarchical" else None
        return network(model, collective, net.backend, net.dtype, nodes)
    except ExportError:
        return None


def dimension_named(net: Network | None, name: str) -> Dimension | None:
    return next((d for d in net.dims if d.name == name), None) if net is not None else None

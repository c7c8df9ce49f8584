"""model.json's measured network as input files of planning tools: ASTRA-sim, SimAI, Calculon.

Pure conversion: functions take the model.json dict (reports/model/store.py) and return text or
dicts; `commscale export` (benchmarks/cli/export.py) reads and writes the files. Every
export also returns a side document (written as FILE + ".commscale.json") with what the
target has no key for: the 95% intervals, the model entry used, the unit factors, the
notes (a flat fit standing in for tiers, a dimension left out, an extrapolation).

The network is a list of dimensions, innermost first. From a hierarchical entry
(model.json "hierarchical", reports/model/tiers.py): one per tier a group of N nodes crosses
(--nodes N, default the largest node count measured), each with the tier's alpha_us and
bandwidth_gbps and its member count at N nodes: ranks_per_node inside the node, the nodes
per domain inside a domain, the domains across them (N where the domains are unknown:
`inter_node`), the shape `reports.model.tiers.shape_at` predicts with. A dimension of one member
is left out (ASTRA-sim refuses npus_count 1). Without a hierarchical entry (one node: a dry
run has only "fits"), one dimension from the flat fit's regime of the largest sizes.

Example files checked (read, not copied):
- astra-sim/astra-sim @ 518bd513ae110428cd62eb60efc0f3993fd53c70:
  examples/network/analytical/Ring_8npus.yml, examples/network/analytical/HGX-H100-validated.yml,
  inputs/network/hgx_h100_32gpu.yml ([ Switch, Ring ]), inputs/network/tpu_v3_32_2dtorus.yml
- astra-sim/astra-network-analytical @ 599a0473a9a74f5383f73b3cea5a12b9bc5ebaef (the
  analytical backend's reader): common/network-parser/NetworkParser.cpp (keys topology,
  npus_count, bandwidth, latency; lengths equal; npus_count > 1, bandwidth > 0, latency >= 0),
  common/NetworkFunction.cpp (1 GB is 2^30 B), input/Ring_FullyConnected_Switch.yml,
  congestion_unaware/basic-topology/Ring.cpp and Switch.cpp (hops per send: ring distance, 2)
- aliyun/SimAI @ cef83f9ddd96540e3e9f48934f11335d52d54fce: example/busbw.yaml,
  docs/CN/Tutorial.md; its reader, UserParam::parseYaml in
  astra-sim-alibabacloud/astra-sim/system/AstraParamParse.hh, and the use of the values in
  astra-sim/workload/Layer.cc and `GBps` in astra-sim/system/Common.hh, @
  2bdecddbee6fa1fc6645dffb110e8912adb2cc33 (the last commit whose SimAI_analytical takes
  -busbw: later ones compute busbw from -nv/-nic/-n_p_s, aliyun/SimAI issue #168)
- calculon-ai/calculon @ caa4b11f8fe1fee3ba57adaacb7590d7deabd053: systems/a100_80g.json,
  systems/h100_80g_nvl8.json, calculon/network.py (exactly the 7 keys; bandwidth x 1e9;
  time = latency + size x scalar x (1 + offset / comm_size) / (bandwidth x efficiency)),
  calculon/llm/layers.py (all_gather and reduce_scatter are given the whole tensor's bytes)

ASTRA-sim (analytical network YAML). One entry per dimension in `topology` (Ring),
`npus_count`, `bandwidth` and `latency`, chosen so that ASTRA-sim's multi-dimensional
collective takes the fitted time: ASTRA-sim runs it dimension by dimension (reduce-scatter
inward-out, all-gather back), so dimension k carries 1 / (the members of the dimensions
inside it) of the buffer, where commscale's hierarchical tiers each carry all of it
(reports/model/tiers.py). bandwidth_k = bandwidth_gbps_k x ring B(npus) / (B_k(q) x the inner
members) (a ring-family tier: its bandwidth_gbps over the inner members), converted from
commscale's GB/s (1e9 B/s, as nccl-tests) to ASTRA-sim's (2^30 B/s): x 1e9 / 2^30 = 0.9313.
A flat tier (one ring over every rank under it, the inner tiers adding nothing) gets what
its time leaves after the inner dimensions'. latency: alpha_us x A(q) / the ring's steps x
1000 ns per Ring hop (a ring-family tier: alpha_us x 1000; a Switch pays two hops per send:
halve it there). An alpha not fitted (under 3 sizes) is exported as 0 ns with a note. The intervals are YAML comments and in the side file;
ASTRA-sim's reader takes only the four keys. Not exported: the collective algorithm and
chunking (ASTRA-sim's system config: choose the family named in the comments), compute,
memory, the topology's shape beyond the tiers (every dimension is a Ring of its members; a
flat "ranks" tier, one ring over every rank under it, becomes the link rate of its
dimension in ASTRA-sim's dimension-by-dimension collectives), congestion.

SimAI (busbw.yaml of SimAI-Analytical's -busbw). Sections TP, DP, EP (keys `allreduce,`,
`allgather,`, `reducescatter,`, `alltoall,`) and PP (`busbw`), busbw in SimAI's GB/s (2^30
B/s: Layer.cc divides bytes x GBps by it) = commscale GB/s x 0.9313. Each collective's value
comes from its own model.json entry (same backend and dtype): the busbw the model gives a
group at large sizes, busbw factor(P) / the sum over the tiers it crosses of B(q) /
bandwidth_gbps (the flat fit's busbw_asymptote_gbps with one node). TP: a group of the
innermost tier (one node's ranks); DP and EP: all N x ranks-per-node ranks, the shape
measured (a DP group beside TP 8 has one rank per node and, with one NIC per GPU, reaches
an eighth of the network: divide, as `commscale plan` does); PP: sendrecv's pair across
the outermost tier where measured, else the whole group's busbw / ranks per node (one NIC
per GPU assumed, noted). With one node every group carries the node's numbers. A collective not measured is `null`,
as in SimAI's example. Not exported: latency (SimAI-Analytical's busbw has none), the
intervals (side file), overlap ratios, group sizes, compute.

Calculon ("networks" of a system JSON; merge it into a whole system file). One network per
dimension: size the processors it reaches (ranks_per_node inside the node, x nodes per
domain, x domains or nodes), bandwidth the busbw the model gives the exported collective
over all `size` ranks (the tiers' times added as the model adds them) in GB/s (1e9 B/s,
Calculon multiplies by 1e9: no conversion), ops the busbw factors of nccl-tests ([scalar,
offset]: all_reduce [2, -1], reduce_scatter and all_gather [1, -1], p2p [1, null]) so
that Calculon's time for a collective over the whole network is the model's, each scalar
divided by that collective's own busbw relative to the exported one where model.json has
it (p2p: sendrecv's pair across the tier), latency the sum of alpha_us x A(q) x 1e-6 s over
the tiers crossed (Calculon's latency is per operation, commscale's alpha per step). Assumed: efficiency 1.0 (the
measured rate is what the link delivers), processor_usage 0.0 (not measured),
must_be_filled true for every network but the outermost (as Calculon's examples). Not
exported: matrix, vector, mem1, mem2, processing_mode, the intervals (side file).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from collectives.registry import COLLECTIVES

from reports.model.tiers import shape_at

TARGETS = ("astra-sim", "simai", "calculon")
SIDE_SUFFIX = ".commscale.json"
GIB_GBPS_PER_GBPS = 1e9 / 2 ** 30
"""commscale GB/s (1e9 B/s) -> ASTRA-sim's and SimAI's GB/s (2^30 B/s)."""
NS_PER_US = 1e3
S_PER_US = 1e-6
SIMAI_NAMES = {"all_reduce": "allreduce", "all_gather": "allgather", "reduce_scatter": "reducescatter",
               "all_to_all": "alltoall"}
CALCULON_OPS = {"p2p": (1.0, None), "reduce_scatter": (1.0, -1), "all_gather": (1.0, -1), "all_reduce": (2.0, -1)}
"""nccl-tests' busbw factors as Calculon's [scalar, offset]: 2(p-1)/p and (p-1)/p."""
CALCULON_SOURCE = {"p2p": "sendrecv", "reduce_scatter": "reduce_scatter", "all_gather": "all_gather",
                   "all_reduce": "all_reduce"}


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


@dataclass(frozen=True)
class Export:
    text: str
    """the target's file"""
    side: dict
    """FILE + SIDE_SUFFIX: intervals, units, notes"""
    summary: str
    """one line for the terminal"""


def read_model(path) -> tuple[dict, Path]:
    """(model.json's dict, its path) from a run directory holding model.json or the file."""
    path = Path(path)
    file = path / "model.json" if path.is_dir() else path
    if not file.is_file():
        raise ExportError(f"{str(path)!r} holds no model.json: run 'commscale fit {path}' first")
    try:
        model = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{str(file)!r} is not a readable model.json ({exc}): write it again with "
                          f"'commscale fit {file.parent}'") from None
    if not isinstance(model, dict) or model.get("schema_version") != 1 or "fits" not in model:
        raise ExportError(f"{str(file)!r} is not a model.json of schema_version 1: write it again with "
                          f"'commscale fit {file.parent}'")
    return model, file


# -- the network: dimensions from the model ------------------------------------------------

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


def astra_dimensions(collective: str, dims: list) -> tuple[list, list, list]:
    """(bandwidth GB/s of 1e9 B/s, latency us per hop, notes) per dimension such that
    ASTRA-sim's multi-dimensional collective reproduces the model's time: ASTRA-sim runs it
    dimension by dimension (reduce-scatter inward-out, all-gather back), so dimension k
    carries 1 / (the members of the dimensions inside it) of the buffer, on a Ring (the
    collective's first family: ring, pairwise). A hierarchical tier's term B(q) n / bw and
    alpha A(q) become that ring's; a flat tier's one ring over every rank under it, which
    commscale does not add the inner tiers to, gets what is left of its time after the
    inner dimensions' (noted)."""
    ring = COLLECTIVES[collective].families[0]
    bandwidth, latency, notes, inner, spent = [], [], [], 1, 0.0  # spent: the inner dims' time per byte
    for d in dims:
        own = data(collective, d.family, d.q) / d.bandwidth_gbps  # per byte, as the model has it
        want = own - spent if d.scales_with == "ranks" else own
        if want <= 0:
            notes.append(f"{d.name}: a flat tier faster than the dimensions inside it: exported at its own rate")
            want = own
        bw = ring.data(d.npus) / (inner * want)
        bandwidth.append(bw)
        latency.append((d.alpha_us or 0.0) * steps(collective, d.family, d.q) / max(ring.steps(d.npus), 1))
        spent += ring.data(d.npus) / (inner * bw)
        inner *= d.npus
    return bandwidth, latency, notes


def steps(collective: str, family: str, q: int) -> float:
    """A(q), the family's latency steps over q members (1 for an unknown family)."""
    fam = _family(collective, family)
    return float(fam.steps(q)) if fam is not None and q >= 2 else 1.0


def _scaled(ci, factor: float) -> list:
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
                     busbw_gbps_ci=_scaled(tier.get("bandwidth_gbps_ci") or [None, None], ratio),
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
            f"family {family}): model.json has no fit across nodes ('hierarchical') of {collective}")
    return [dim], [note]


def format_bytes(n) -> str:
    from collectives.sizes import format_size
    return format_size(n) if n is not None else "?"


def network(model: dict, collective: str = "all_reduce", backend=None, dtype=None, nodes=None) -> Network:
    """The dimensions `collective` crosses at `nodes` nodes (default: the largest measured)."""
    if nodes is not None and nodes < 1:
        raise ExportError(f"--nodes {nodes} must be at least 1")
    source, entry = select_entry(model, collective, backend, dtype)
    key = {k: entry.get(k) for k in ("collective", "backend", "device", "fabric", "dtype", "in_place", "timing",
                                     "family", "size_bytes_min", "size_bytes_max") if k in entry}
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


def _other(model: dict, net: Network, collective: str) -> Network | None:
    """The same backend, dtype and node count for another collective; None where model.json
    has no such fit or it lacks a tier."""
    try:
        nodes = net.nodes if net.source == "hierarchical" else None
        return network(model, collective, net.backend, net.dtype, nodes)
    except ExportError:
        return None


def _by_name(net: Network | None, name: str) -> Dimension | None:
    return next((d for d in net.dims if d.name == name), None) if net is not None else None


# -- formatting helpers ----------------------------------------------------------------------

def num(x: float) -> str:
    """x in fixed notation with 9 significant digits (a YAML 1.1 reader takes 1e-05 for a string)."""
    if x == 0:
        return "0.0"
    digits = max(1, 8 - math.floor(math.log10(abs(x))))
    text = f"{x:.{digits}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _ci(ci, factor: float = 1.0) -> str:
    lo, hi = ci if ci else (None, None)
    if lo is None and hi is None:
        return "[-]"
    return f"[{'-' if lo is None else f'{lo * factor:.4g}'}, {'inf' if hi is None else f'{hi * factor:.4g}'}]"


def _header(net: Network, target: str) -> list[str]:
    e = net.entry
    where = (f"the hierarchical fit at {net.nodes} node{'s' if net.nodes != 1 else ''} x {net.ranks_per_node} "
             f"ranks per node" if net.source == "hierarchical" else "the flat fit (one node)")
    return [f"exported by `commscale export --to {target}`: {net.collective}, backend {e['backend']}, "
            f"dtype {e['dtype']}, timing {e.get('timing')}, family {e.get('family')}, from {where}"]


def _side(net: Network, target: str, units: dict, exported: list, extra_notes=()) -> dict:
    return {"exported_by": "commscale export", "target": target, "collective": net.collective,
            "source": net.source, "entry": net.entry, "nodes": net.nodes, "ranks_per_node": net.ranks_per_node,
            "domain_size_nodes": net.domain_size_nodes, "units": units,
            "dimensions": [{**asdict(d), "exported": x} for d, x in zip(net.dims, exported)],
            "notes": list(net.notes) + list(extra_notes)}


def _alpha_note(net: Network, what: str) -> list[str]:
    return [f"{d.name}: alpha not fitted (under 3 sizes): {what} 0" for d in net.dims if d.alpha_us is None]


# -- ASTRA-sim -------------------------------------------------------------------------------

def astra_sim(model: dict, collective="all_reduce", backend=None, dtype=None, nodes=None) -> Export:
    """ASTRA-sim's analytical network YAML: topology, npus_count, bandwidth (GB/s of 2^30 B),
    latency (ns), one entry per dimension; intervals as comments and in the side document."""
    net = network(model, collective, backend, dtype, nodes)
    link_gbps, hop_us, notes = astra_dimensions(collective, list(net.dims))
    bandwidth = [b * GIB_GBPS_PER_GBPS for b in link_gbps]
    latency = [x * NS_PER_US for x in hop_us]
    notes += _alpha_note(net, "latency")
    lines = ["# ASTRA-sim analytical network config (keys of astra-network-analytical's NetworkParser)",
             *(f"# {line}" for line in _header(net, "astra-sim")),
             f"# bandwidth: per Ring link, such that ASTRA-sim's dimension-by-dimension collective (dimension k "
             f"carrying 1 / the members inside it of the buffer) takes the fitted time: commscale GB/s (1e9 B/s) "
             f"x {GIB_GBPS_PER_GBPS:.9f} = ASTRA-sim GB/s (2^30 B/s); latency: per Ring hop, alpha x A(q) / the "
             f"ring's steps (us) x 1000 = ns",
             *(f"# dim {i} {d.name}: {d.npus} npus, alpha {'-' if d.alpha_us is None else f'{d.alpha_us:.4g}'} us "
               f"{_ci(d.alpha_us_ci)}, bandwidth {d.bandwidth_gbps:.4g} GB/s (1e9 B/s) {_ci(d.bandwidth_gbps_ci)}, "
               f"scales with {d.scales_with or '-'}" for i, d in enumerate(net.dims)),
             *(f"# note: {n}" for n in list(net.notes) + notes),
             f"# intervals and notes: this file's name + {SIDE_SUFFIX}",
             f"topology: [ {', '.join('Ring' for _ in net.dims)} ]",
             f"npus_count: [ {', '.join(str(d.npus) for d in net.dims)} ]",
             f"bandwidth: [ {', '.join(num(b) for b in bandwidth)} ]  # GB/s (2^30 B/s)",
             f"latency: [ {', '.join(num(x) for x in latency)} ]  # ns"]
    exported = [{"topology": "Ring", "npus_count": d.npus, "bandwidth": b,
                 "bandwidth_ci": _scaled(d.bandwidth_gbps_ci, b / d.bandwidth_gbps), "latency_ns": x,
                 "latency_ns_ci": _scaled(d.alpha_us_ci, x / d.alpha_us if d.alpha_us else NS_PER_US)}
                for d, b, x in zip(net.dims, bandwidth, latency)]
    units = {"bandwidth": "GB/s of 2^30 B/s = commscale GB/s (1e9 B/s) x 1e9 / 2^30", "latency": "ns = alpha_us x 1000"}
    shape = " x ".join(f"{d.name} {d.npus}" for d in net.dims)
    return Export("\n".join(lines) + "\n", _side(net, "astra-sim", units, exported, notes),
                  f"astra-sim: {len(net.dims)} dimension{'s' if len(net.dims) != 1 else ''} ({shape})")


# -- SimAI -----------------------------------------------------------------------------------

def _simai_value(net: Network | None, name: str) -> tuple[float | None, list]:
    """busbw (2^30 B/s) of a group spanning `net`'s dimension called `name` and those inside
    it; None where it has none."""
    d = _by_name(net, name)
    if d is None:
        return None, [None, None]
    return d.group_busbw_gbps * GIB_GBPS_PER_GBPS, _scaled(list(d.group_busbw_gbps_ci), GIB_GBPS_PER_GBPS)


def _simai_pp(model: dict, net: Network) -> tuple[float, str, list]:
    """PP's busbw: sendrecv's across the outermost tier where measured; else the exported
    collective's busbw over the whole group shared by its ranks per node (one NIC per GPU)."""
    outer = net.dims[-1]
    value, ci = _simai_value(_other(model, net, "sendrecv"), outer.name)
    if value is not None:
        return value, f"sendrecv {outer.name}", ci
    share = net.ranks_per_node if net.source == "hierarchical" and len(net.dims) > 1 else 1
    return (outer.group_busbw_gbps * GIB_GBPS_PER_GBPS / share,
            f"{net.collective} over all {outer.group_ranks} ranks / {share} (no sendrecv fit there: one NIC of "
            f"{share} per GPU assumed)", _scaled(list(outer.group_busbw_gbps_ci), GIB_GBPS_PER_GBPS / share))


def simai(model: dict, collective="all_reduce", backend=None, dtype=None, nodes=None) -> Export:
    """SimAI-Analytical's busbw.yaml: TP (innermost tier), DP and EP (outermost) busbw per
    collective, PP busbw; GB/s of 2^30 B/s. Its reader skips the first line."""
    net = network(model, collective, backend, dtype, nodes)
    nets = {c: (net if c == collective else _other(model, net, c)) for c in SIMAI_NAMES}
    table, sources, lines = {}, {}, []
    for group, tier in (("TP", net.dims[0].name), ("DP", net.dims[-1].name), ("EP", net.dims[-1].name)):
        table[group], lines = {}, lines + [f"{group}:"]
        for c, name in SIMAI_NAMES.items():
            value, ci = _simai_value(nets[c], tier)
            table[group][name] = value
            sources[f"{group}.{name}"] = {"from": f"{c} {tier}" if value is not None else
                                          f"not in model.json ({c} at {tier})", "busbw": value, "busbw_ci": ci}
            lines.append(f"  {name},: {'null' if value is None else num(value)}")
    pp, pp_from, pp_ci = _simai_pp(model, net)
    table["PP"] = {"busbw": pp}
    sources["PP.busbw"] = {"from": pp_from, "busbw": pp, "busbw_ci": pp_ci}
    lines += ["PP:", f"  busbw: {num(pp)}"]
    groups = (f"TP: a group of the {net.dims[0].name} tier ({net.dims[0].group_ranks} ranks); DP, EP: a group of "
              f"all {net.dims[-1].group_ranks} ranks" + (f" at {net.nodes} nodes (a group with fewer ranks per node "
                                                          f"reaches fewer NICs: docs/exports.md)"
                                                          if net.source == "hierarchical" else ""))
    notes = [] if len(net.dims) > 1 else [f"one dimension ({net.dims[0].name}): TP, DP, EP and PP all carry it"]
    head = [f"# SimAI-Analytical busbw file (-busbw; its reader skips this first line) {_header(net, 'simai')[0]}",
            f"# busbw: SimAI GB/s (2^30 B/s) = commscale busbw GB/s (1e9 B/s) x {GIB_GBPS_PER_GBPS:.9f}; {groups}; "
            f"null: not in model.json", *(f"# note: {n}" for n in list(net.notes) + notes),
            f"# intervals and sources: this file's name + {SIDE_SUFFIX}"]
    units = {"busbw": "GB/s of 2^30 B/s (SimAI's GBps) = commscale GB/s (1e9 B/s) x 1e9 / 2^30"}
    exported = [{"group_busbw": d.group_busbw_gbps * GIB_GBPS_PER_GBPS} for d in net.dims]
    side = {**_side(net, "simai", units, exported, notes), "busbw": table, "sources": sources}
    measured = sum(v is not None for v in table["TP"].values())
    return Export("\n".join(head + lines) + "\n", side,
                  f"simai: TP, DP, EP busbw of {measured} of 4 collectives, PP ({pp_from})")


# -- Calculon --------------------------------------------------------------------------------

def _calculon_ops(model: dict, net: Network, d: Dimension) -> tuple[dict, dict]:
    ops, sources = {}, {}
    for op, (scalar, offset) in CALCULON_OPS.items():
        c = CALCULON_SOURCE[op]
        other = _by_name(net if c == net.collective else _other(model, net, c), d.name)
        if other is None or not other.group_busbw_gbps:
            ops[op], sources[op] = [scalar, offset], f"{net.collective}'s busbw ({c} not in model.json at {d.name})"
        else:
            ops[op] = [scalar * d.group_busbw_gbps / other.group_busbw_gbps, offset]
            sources[op] = f"{c} {d.name}"
    return ops, sources


def calculon(model: dict, collective="all_reduce", backend=None, dtype=None, nodes=None) -> Export:
    """Calculon's "networks": one per dimension, innermost first (returned as JSON text of
    {"networks": [...]}, to merge into a system file)."""
    net = network(model, collective, backend, dtype, nodes)
    networks, exported, size = [], [], 1
    for i, d in enumerate(net.dims):
        size *= d.npus
        ops, sources = _calculon_ops(model, net, d)
        networks.append({"bandwidth": d.group_busbw_gbps, "efficiency": 1.0, "size": size,
                         "latency": d.group_alpha_us * S_PER_US, "ops": ops,
                         "must_be_filled": i < len(net.dims) - 1, "processor_usage": 0.0})
        exported.append({"size": size, "bandwidth": d.group_busbw_gbps, "bandwidth_ci": list(d.group_busbw_gbps_ci),
                         "latency_s": networks[-1]["latency"], "ops_from": sources})
    units = {"bandwidth": "GB/s of 1e9 B/s (as commscale): the busbw of the exported collective over all the "
                          "network's ranks (size), its tiers' times added as the model adds them",
             "latency": "s = the sum of alpha_us x A(q) x 1e-6 over the tiers a collective over all its ranks "
                        "crosses",
             "assumed": "efficiency 1.0, processor_usage 0.0, must_be_filled true but for the outermost network"}
    notes = _alpha_note(net, "latency")
    shape = " x ".join(f"{d.name} {d.npus}" for d in net.dims)
    text = _compact(json.dumps({"networks": networks}, indent=2)) + "\n"
    return Export(text, _side(net, "calculon", units, exported, notes),
                  f"calculon: {len(networks)} network{'s' if len(networks) != 1 else ''} ({shape})")


def _compact(text: str) -> str:
    """JSON with lists of numbers on one line, as Calculon's examples write `ops`."""
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text)


EXPORTERS = {"astra-sim": astra_sim, "simai": simai, "calculon": calculon}


def export(model: dict, target: str, collective="all_reduce", backend=None, dtype=None, nodes=None) -> Export:
    if target not in EXPORTERS:
        raise ExportError(f"unknown target {target!r}: choose --to from {', '.join(TARGETS)}")
    if collective not in COLLECTIVES:
        raise ExportError(f"unknown collective {collective!r}: choose --collective from {', '.join(COLLECTIVES)}")
    return EXPORTERS[target](model, collective, backend, dtype, nodes)

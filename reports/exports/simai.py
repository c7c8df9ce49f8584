"""`commscale export --to simai`: SimAI-Analytical's busbw file (-busbw): TP, DP and EP busbw
per collective and PP's, each from its own model.json entry. The design and the reader
checked: docs/exports.md, "SimAI"."""
from __future__ import annotations

from .formatting import num
from .network import Network, dimension_named, network, other_network, scaled
from .output import GIB_GBPS_PER_GBPS, SIDE_SUFFIX, Export, header_lines, side_document

SIMAI_NAMES = {"all_reduce": "allreduce", "all_gather": "allgather", "reduce_scatter": "reducescatter",
               "all_to_all": "alltoall"}


def _simai_value(net: Network | None, name: str) -> tuple[float | None, list]:
    """busbw (2^30 B/s) of a group spanning `net`'s dimension called `name` and those inside
    it; None where it has none."""
    d = dimension_named(net, name)
    if d is None:
        return None, [None, None]
    return d.group_busbw_gbps * GIB_GBPS_PER_GBPS, scaled(list(d.group_busbw_gbps_ci), GIB_GBPS_PER_GBPS)


def _simai_pp(model: dict, net: Network) -> tuple[float, str, list]:
    """PP's busbw: sendrecv's across the outermost tier where measured; else the exported
    collective's busbw over the whole group shared by its ranks per node (one NIC per GPU)."""
    outer = net.dims[-1]
    value, ci = _simai_value(other_network(model, net, "sendrecv"), outer.name)
    if value is not None:
        return value, f"sendrecv {outer.name}", ci
    share = net.ranks_per_node if net.source == "hierarchical" and len(net.dims) > 1 else 1
    return (outer.group_busbw_gbps * GIB_GBPS_PER_GBPS / share,
            f"{net.collective} over all {outer.group_ranks} ranks / {share} (no sendrecv fit there: one NIC of "
            f"{share} per GPU assumed)", scaled(list(outer.group_busbw_gbps_ci), GIB_GBPS_PER_GBPS / share))


def simai(model: dict, collective="all_reduce", backend=None, dtype=None, nodes=None) -> Export:
    """SimAI-Analytical's busbw.yaml: TP (innermost tier), DP and EP (outermost) busbw per
    collective, PP busbw; GB/s of 2^30 B/s. Its reader skips the first line."""
    net = network(model, collective, backend, dtype, nodes)
    nets = {c: (net if c == collective else other_network(model, net, c)) for c in SIMAI_NAMES}
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
    head = [f"# SimAI-Analytical busbw file (-busbw; its reader skips this first line) {header_lines(net, 'simai')[0]}",
            f"# busbw: SimAI GB/s (2^30 B/s) = commscale busbw GB/s (1e9 B/s) x {GIB_GBPS_PER_GBPS:.9f}; {groups}; "
            f"null: not in model.json", *(f"# note: {n}" for n in list(net.notes) + notes),
            f"# intervals and sources: this file's name + {SIDE_SUFFIX}"]
    units = {"busbw": "GB/s of 2^30 B/s (SimAI's GBps) = commscale GB/s (1e9 B/s) x 1e9 / 2^30"}
    exported = [{"group_busbw": d.group_busbw_gbps * GIB_GBPS_PER_GBPS} for d in net.dims]
    side = {**side_document(net, "simai", units, exported, notes), "busbw": table, "sources": sources}
    measured = sum(v is not None for v in table["TP"].values())
    return Export("\n".join(head + lines) + "\n", side,
                  f"simai: TP, DP, EP busbw of {measured} of 4 collectives, PP ({pp_from})")

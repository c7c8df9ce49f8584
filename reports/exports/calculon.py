"""`commscale export --to calculon`: the "networks" of a Calculon system JSON, one per
dimension (size, bandwidth, latency, ops), to merge into a whole system file. The design
and the reader checked: docs/exports.md, "Calculon"."""
from __future__ import annotations

import json
import re

from .network import Dimension, Network, dimension_named, network, other_network
from .output import Export, alpha_notes, side_document

S_PER_US = 1e-6
CALCULON_OPS = {"p2p": (1.0, None), "reduce_scatter": (1.0, -1), "all_gather": (1.0, -1), "all_reduce": (2.0, -1)}
"""nccl-tests' busbw factors as Calculon's [scalar, offset]: 2(p-1)/p and (p-1)/p."""
CALCULON_SOURCE = {"p2p": "sendrecv", "reduce_scatter": "reduce_scatter", "all_gather": "all_gather",
                   "all_reduce": "all_reduce"}


def _calculon_ops(model: dict, net: Network, d: Dimension) -> tuple[dict, dict]:
    ops, sources = {}, {}
    for op, (scalar, offset) in CALCULON_OPS.items():
        c = CALCULON_SOURCE[op]
        other = dimension_named(net if c == net.collective else other_network(model, net, c), d.name)
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
    notes = alpha_notes(net, "latency")
    shape = " x ".join(f"{d.name} {d.npus}" for d in net.dims)
    text = _compact(json.dumps({"networks": networks}, indent=2)) + "\n"
    return Export(text, side_document(net, "calculon", units, exported, notes),
                  f"calculon: {len(networks)} network{'s' if len(networks) != 1 else ''} ({shape})")


def _compact(text: str) -> str:
    """JSON with lists of numbers on one line, as Calculon's examples write `ops`."""
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text)

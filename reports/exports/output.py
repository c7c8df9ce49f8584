"""What every export target's output shares: the Export it returns, the header line, the side
document written as FILE + SIDE_SUFFIX (intervals, units, notes), the notes on alphas not
fitted, and the factor to the 2^30 B/s "GB/s" of ASTRA-sim and SimAI (docs/exports.md,
"Units")."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .network import Network, family_words

SIDE_SUFFIX = ".commscale.json"
GIB_GBPS_PER_GBPS = 1e9 / 2 ** 30
"""commscale GB/s (1e9 B/s) -> ASTRA-sim's and SimAI's GB/s (2^30 B/s)."""


@dataclass(frozen=True)
class Export:
    text: str
    """the target's file"""
    side: dict
    """FILE + SIDE_SUFFIX: intervals, units, notes"""
    summary: str
    """one line for the terminal"""


def header_lines(net: Network, target: str) -> list[str]:
    e = net.entry
    where = (f"the hierarchical fit at {net.nodes} node{'s' if net.nodes != 1 else ''} x {net.ranks_per_node} "
             f"ranks per node" if net.source == "hierarchical" else "the flat fit (one node)")
    return [f"exported by `commscale export --to {target}`: {net.collective}, backend {e['backend']}, "
            f"dtype {e['dtype']}, timing {e.get('timing')}, {family_words(e, e.get('family_used') or e.get('family'))}, from {where}"]


def side_document(net: Network, target: str, units: dict, exported: list, extra_notes=()) -> dict:
    return {"exported_by": "commscale export", "target": target, "collective": net.collective,
            "source": net.source, "entry": net.entry, "nodes": net.nodes, "ranks_per_node": net.ranks_per_node,
            "domain_size_nodes": net.domain_size_nodes, "units": units,
            "dimensions": [{**asdict(d), "exported": x} for d, x in zip(net.dims, exported)],
            "notes": list(net.notes) + list(extra_notes)}


def alpha_notes(net: Network, what: str) -> list[str]:
    return [f"{d.name}: alpha not fitted (under 3 sizes): {what} 0" for d in net.dims if d.alpha_us is None]

"""The emulation's link and tier checks as printed (reports/model/linkcheck.py computes
them). docs/fabrics.md (the emulated network)."""
from __future__ import annotations

import math

from reports.model.linkcheck import MIN_SIZE_BYTES


def format_link_check(checks: list[dict]) -> str:
    lines = [f"# link check: fitted {checks[0]['collective'] if checks else 'all_reduce'} bandwidth vs the link's TCP "
             f"payload rate (one rank per node, one regime, sizes from {MIN_SIZE_BYTES >> 20} MiB)"]
    for c in checks:
        lo, hi = c["bandwidth_gbps_ci"]
        racks = f" in {c['ndomains']} racks" if c.get("ndomains") else ""
        lines.append(f"  nodes {c['nnodes']}{racks}: {c['family']} bandwidth {c['bandwidth_gbps']:.4f} GB/s "
                     f"[{lo:.4f},{hi:.4f}] vs payload {c['payload_gbps']:.4f} GB/s: ratio {c['ratio']:.3f} "
                     f"({'within' if c['within_tolerance'] else 'OUTSIDE'} {c['tolerance']:.0%})")
    if not checks:
        lines.append("  nothing to check: no all_reduce at 2 or more nodes with one rank per node and 3 sizes of 2 MiB or more")
    return "\n".join(lines)


def format_tier_check(checks: list[dict]) -> str:
    lines = ["# tier check: the tiered model's bandwidth per tier (model.json) vs the payload rate the ring gets "
             "there"]
    for c in checks:
        lo, hi = c["bandwidth_gbps_ci"]
        lines.append(f"  {c['tier']:<13} (nodes {','.join(map(str, c['nnodes']))}): bandwidth "
                     f"{c['bandwidth_gbps']:.4f} GB/s [{lo or 0:.4f},{hi if hi is not None else math.inf:.4f}] vs "
                     f"payload {c['payload_gbps']:.4f} GB/s: ratio {c['ratio']:.3f} "
                     f"({'within' if c['within_tolerance'] else 'OUTSIDE'} {c['tolerance']:.0%})")
    if not checks:
        lines.append("  nothing to check: no tiered all_reduce fit (groups inside and across the tiers are needed)")
    return "\n".join(lines)

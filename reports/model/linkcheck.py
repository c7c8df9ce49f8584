"""Does the model recover a link of known bandwidth? For runs on an emulated network
(`commscale emulate`), fit all_reduce at each node count with one rank per node (the
shaped link is then the only path) over the sizes where bandwidth dominates, one regime,
and compare the fitted bandwidth with what TCP can carry over the link.
The method: docs/methods.md (`reports/model/linkcheck.py`)."""
from __future__ import annotations


import pandas as pd

from collectives.registry import get_collective

from .fit import BOOTSTRAP, fit_points, usable
from .stats import bandwidth_gbps
from .entries import bandwidth_ci

MIN_SIZE_BYTES = 2 << 20
TOLERANCE = 0.05


def link_check(df: pd.DataFrame, payload_gbps: float, collective: str = "all_reduce",
               min_size_bytes: int = MIN_SIZE_BYTES, samples: int = BOOTSTRAP,
               across_gbps: float | None = None) -> list[dict]:
    """One entry per multi-node count (and domain count) measured with one rank per node.
    `across_gbps`: the payload rate of a group that spans domains (racks joined by an
    uplink: expected_tier_rates), where it differs from the node link's."""
    rows = usable(df)
    rows = rows[(rows["collective"] == collective) & (rows["size_bytes"] >= min_size_bytes)
                & (rows["nnodes"] > 1) & (rows["ranks_per_node"] == 1)]
    families = [f for f in get_collective(collective).families if f.name == "ring"] or get_collective(collective).families
    checks = []
    for (nnodes, ndomains), group in rows.groupby(["nnodes", "ndomains"], dropna=False):
        fit = fit_points(families, group["nranks"], group["size_bytes"], group["time_us_median"],
                         {"collective": collective, "nnodes": int(nnodes)}, samples, max_regimes=1)
        if fit is None:
            continue
        regime = fit.regimes[0]
        bw = float(bandwidth_gbps(regime.theta[1]))
        spans = bool(pd.notna(ndomains) and ndomains > 1)
        want = across_gbps if spans and across_gbps is not None else payload_gbps
        ratio = bw / want
        checks.append({"collective": collective, "nnodes": int(nnodes), "ranks_per_node": 1,
                       "ndomains": None if pd.isna(ndomains) else int(ndomains),
                       "size_bytes_min": int(group["size_bytes"].min()), "size_bytes_max": int(group["size_bytes"].max()),
                       "family": regime.family.name, "bandwidth_gbps": bw, "bandwidth_gbps_ci": bandwidth_ci(regime.boot[:, 1]),
                       "payload_gbps": want, "ratio": ratio, "within_tolerance": bool(abs(ratio - 1) <= TOLERANCE),
                       "tolerance": TOLERANCE, "points": regime.points})
    return checks


TIER_TOLERANCE = 0.10


def expected_tier_rates(node_payload_gbps: float, uplink_payload_gbps: float | None) -> dict:
    """What each tier of an emulated network can carry for gloo's ring, whose every link
    carries one stream each way, so a flat ring is paced by its slowest link: across nodes
    inside a rack the node link; across racks the slower of the node link and the uplink
    (each rack's uplink carries one stream each way: the ring enters and leaves each rack
    once, ranks being placed rack by rack). Without racks, the tier across nodes is the
    node link. The tier inside a node is loopback, not shaped: no expectation."""
    if uplink_payload_gbps is None:
        return {"inter_node": node_payload_gbps}
    return {"intra_domain": node_payload_gbps, "inter_domain": min(node_payload_gbps, uplink_payload_gbps)}


def tier_check(hier_entries: list[dict], expected: dict, collective: str = "all_reduce") -> list[dict]:
    """One entry per tier of model.json's tiered fit of `collective` with an expected rate:
    the fitted bandwidth (and interval) against it."""
    mine = [h for h in hier_entries if h["collective"] == collective]
    if not mine:
        return []
    checks = []
    for tier in mine[0]["tiers"]:
        want = expected.get(tier["name"])
        if want is None or tier["bandwidth_gbps"] is None:
            continue
        ratio = tier["bandwidth_gbps"] / want
        checks.append({"collective": collective, "tier": tier["name"], "scales_with": tier["scales_with"],
                       "nnodes": tier["nnodes"], "bandwidth_gbps": tier["bandwidth_gbps"],
                       "bandwidth_gbps_ci": tier["bandwidth_gbps_ci"], "payload_gbps": want, "ratio": ratio,
                       "within_tolerance": bool(abs(ratio - 1) <= TIER_TOLERANCE), "tolerance": TIER_TOLERANCE})
    return checks

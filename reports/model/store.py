"""model.json (schema below) and the printed table of a fit.

model.json:
    schema_version   1
    runs             the run directories fitted together
    time_field       "time_us_median"; weighting "relative"; bootstrap (samples)
    fits             one entry per regime of each key:
        collective, backend, device, fabric, dtype, in_place, timing   the key: points of one key
                                 are comparable (in- and out-of-place differ by up to 20% in real
                                 logs; "call" and "batch" timing differ by the launch cost)
        regime, regimes          1-based index of this regime, and how many the key has
        size_bytes_min/max       sizes the regime covers
        family_identified        true only when the measured rank counts tell the family from every
                                 other candidate: it has the smallest residual, strictly, in 95% of
                                 200 case resamples (never at one rank count, where all fit alike)
        family                   the chosen family, or "unidentified"; family_used: the A(p), B(p)
                                 fitted (unidentified: the one whose B(p) is the busbw factor, so
                                 bandwidth_gbps is the busbw asymptote); family_source its source
        steps_formula            A(p) and B(p) at the measured rank counts, for reading
        alpha_us, alpha_us_ci    latency per step, 95% bootstrap interval; null with
                                 alpha_identified false (under 3 sizes, fitted across rank
                                 counts: the bandwidth term only)
        bandwidth_gbps, _ci      1 / beta in GB/s (null: unbounded, a latency-only regime): the
                                 family's link rate, which means busbw only where B(p) is the factor
        busbw_asymptote_gbps, _ci  the large-message busbw the regime implies at its largest rank
                                 count, factor(p) / (beta B(p)): comparable with records' busbw
                                 whatever the family
        busbw_asymptote_reached  false where the regime's largest size is still latency-bound (its
                                 model busbw there under asymptote / 1.3): the asymptote is then an
                                 extrapolation past the data (a log that stops at 1 MiB)
        peak_busbw_gbps, peak_at_size_bytes  the highest busbw among the regime's points, its size
        r2, mape_pct             goodness of fit on time
        heldout_mape_pct         MAPE on the largest rank count's points in this regime's sizes,
                                 predicted by a fit (families, regime cuts and count) made without
                                 them; key_heldout_mape_pct: over all of that rank count's points
        heldout_nranks, heldout_from_nranks  the rank count held out, the ones it was predicted
                                 from (null, []: a single rank count, nothing held out)
        points, nranks           points used and the rank counts among them
    hierarchical     one entry per (collective, backend, device, dtype, timing) whose points cross
                     two tiers or more (reports/model/tiers.py): family, ranks_per_node,
                     domain_size_nodes (null: domains unknown); size_bytes_min/max, family
                     and tiers of the regime of the largest sizes (the bandwidths), and
                     size_regimes (every size regime, smallest first: size_bytes_min/max,
                     family, tiers, r2, mape_pct, points); tiers (innermost first; each
                     with name intra_node / intra_domain / inter_domain, or inter_node where
                     the domains are unknown; scales_with "nodes" (hierarchical: B(q) n, q
                     its own members) or "ranks" (flat: B(Q) n, Q every rank under it; null
                     for intra_node); fabric, alpha_us(_ci) (null under 3 sizes),
                     bandwidth_gbps(_ci), nnodes and nranks that measured it, points),
                     tier_names; the innermost and outermost tiers again as
                     alpha_intra_us(_ci), bandwidth_intra_gbps(_ci), alpha_inter_us(_ci),
                     bandwidth_inter_gbps(_ci), fabric_intra/inter, inter_scales_with; r2,
                     mape_pct, heldout_mape_pct, heldout_nnodes, heldout_note, points, nnodes
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from collectives.sizes import format_size

from .fit import BOOTSTRAP, REACHED, TIME_FIELD, KeyFit
from .stats import bandwidth_gbps, ci95
from reports.model.tiers import HierFit

MODEL_FILE = "model.json"
SCHEMA_VERSION = 1


def _num(x):
    """JSON-safe float: inf and nan become null."""
    return None if x is None or not math.isfinite(x) else float(x)


def bandwidth_ci(betas: np.ndarray) -> list:
    lo, hi = ci95(betas)
    return [_num(bandwidth_gbps(hi)), _num(bandwidth_gbps(lo))]


def fit_entries(fits: list[KeyFit]) -> list[dict]:
    entries = []
    for fit in fits:
        for i, r in enumerate(fit.regimes, 1):
            alpha, beta = r.theta
            entries.append({
                **fit.key, "regime": i, "regimes": len(fit.regimes),
                "size_bytes_min": r.size_lo, "size_bytes_max": r.size_hi,
                "family": r.family.name if r.identified else "unidentified", "family_identified": r.identified,
                "family_used": r.family.name, "family_source": r.family.source,
                "steps_formula": {str(p): [r.family.steps(p), r.family.data(p)] for p in r.nranks},
                "alpha_identified": r.alpha_identified,
                "alpha_us": _num(alpha) if r.alpha_identified else None,
                "alpha_us_ci": [_num(v) for v in ci95(r.boot[:, 0])] if r.alpha_identified else [None, None],
                "bandwidth_gbps": _num(bandwidth_gbps(beta)), "bandwidth_gbps_ci": bandwidth_ci(r.boot[:, 1]),
                "busbw_asymptote_gbps": _num(r.busbw_asymptote()),
                "busbw_asymptote_gbps_ci": [_num(r.busbw_asymptote(b)) for b in ci95(r.boot[:, 1])[::-1]],
                "busbw_asymptote_reached": r.asymptote_reached,
                "peak_busbw_gbps": _num(r.peak_busbw), "peak_at_size_bytes": r.peak_at,
                "r2": _num(r.r2), "mape_pct": _num(r.mape_pct), "heldout_mape_pct": _num(r.heldout_mape_pct),
                "heldout_nranks": r.heldout_nranks, "heldout_from_nranks": list(fit.heldout_from),
                "key_heldout_mape_pct": _num(fit.heldout_mape_pct), "points": r.points, "nranks": list(r.nranks),
            })
    return entries


def tier_entries(r, alpha_identified: bool = True) -> list[dict]:
    """model.json's `tiers` of one regime of a tiered fit (reports/model/tiers.py), innermost first."""
    out = []
    for j, tier in enumerate(r.tiers):
        alpha, beta = r.theta[2 * j], r.theta[2 * j + 1]
        out.append({"name": tier.name, "scales_with": tier.scope, "fabric": tier.fabric,
                    "alpha_us": _num(alpha) if alpha_identified else None,
                    "alpha_us_ci": [_num(v) for v in ci95(r.boot[:, 2 * j])] if alpha_identified else [None, None],
                    "bandwidth_gbps": _num(bandwidth_gbps(beta)),
                    "bandwidth_gbps_ci": bandwidth_ci(r.boot[:, 2 * j + 1]),
                    "nnodes": list(tier.nnodes), "nranks": list(tier.nranks), "points": tier.points})
    return out


def size_regime_entries(h: HierFit) -> list[dict]:
    """Every size regime of a tiered fit, smallest sizes first."""
    return [{"size_bytes_min": r.size_lo, "size_bytes_max": r.size_hi, "family": r.family.name,
             "tiers": tier_entries(r, h.alpha_identified), "r2": _num(r.r2), "mape_pct": _num(r.mape_pct),
             "points": r.points} for r in h.regimes]


def hier_entries(fits: list[HierFit]) -> list[dict]:
    entries = []
    for h in fits:
        tiers = tier_entries(h.top, h.alpha_identified)
        inner, outer = tiers[0], tiers[-1]
        entries.append({
            **h.key, "family": h.family.name, "family_source": h.family.source,
            "ranks_per_node": h.ranks_per_node, "domain_size_nodes": h.domain_size_nodes,
            "size_bytes_min": h.top.size_lo, "size_bytes_max": h.top.size_hi,
            "tiers": tiers, "tier_names": [t["name"] for t in tiers], "size_regimes": size_regime_entries(h),
            "fabric_intra": h.fabric_intra, "fabric_inter": h.fabric_inter, "inter_scales_with": h.inter,
            "alpha_intra_us": inner["alpha_us"], "alpha_intra_us_ci": inner["alpha_us_ci"],
            "bandwidth_intra_gbps": inner["bandwidth_gbps"], "bandwidth_intra_gbps_ci": inner["bandwidth_gbps_ci"],
            "alpha_inter_us": outer["alpha_us"], "alpha_inter_us_ci": outer["alpha_us_ci"],
            "bandwidth_inter_gbps": outer["bandwidth_gbps"], "bandwidth_inter_gbps_ci": outer["bandwidth_gbps_ci"],
            "r2": _num(h.r2), "mape_pct": _num(h.mape_pct), "heldout_mape_pct": _num(h.heldout_mape_pct),
            "heldout_nnodes": h.heldout_nnodes, "heldout_note": h.heldout_note, "points": h.points,
            "nnodes": list(h.nnodes),
        })
    return entries


def write_model(out: Path, runs, fits, hier, samples=BOOTSTRAP) -> Path:
    doc = {"schema_version": SCHEMA_VERSION, "runs": [str(r) for r in runs], "time_field": TIME_FIELD,
           "weighting": "relative", "bootstrap": samples, "fits": fit_entries(fits), "hierarchical": hier_entries(hier)}
    path = Path(out) / MODEL_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _f(x, fmt="{:.3g}"):
    return "-" if x is None else fmt.format(x)


def _interval(ci, fmt="{:.3g}"):
    if ci[0] is None and ci[1] is None:
        return "-"
    return f"[{_f(ci[0], fmt)},{_f(ci[1], fmt) if ci[1] is not None else 'inf'}]"


def format_fits(entries: list[dict]) -> str:
    head = (f"# {'collective':<15} {'backend':<7} {'fabric':<12} {'dtype':<8} {'place':<5} {'reg':>3} {'sizes':>19} "
            f"{'family':<18} {'alpha_us':>8} {'alpha_us_ci95':>21} {'bw_gbps':>8} {'busbw_asymptote':>15} "
            f"{'busbw_asym_ci95':>21} {'peak busbw@size':>17} {'R2':>6} {'MAPE%':>6} {'heldout%':>16} {'pts':>4}")
    lines = [head]
    for e in entries:
        asymptote = _f(e["busbw_asymptote_gbps"]) + ("" if e.get("busbw_asymptote_reached", True) else "*")
        sizes = f"{format_size(e['size_bytes_min'])}-{format_size(e['size_bytes_max'])}"
        place = {True: "in", False: "out"}.get(e.get("in_place"), "-") + ("/b" if e.get("timing") == "batch" else "")
        peak = f"{_f(e['peak_busbw_gbps'])}@{format_size(e['peak_at_size_bytes'])}"
        lines.append(
            f"  {e['collective']:<15} {e['backend']:<7} {e['fabric']:<12} {e['dtype']:<8} {place:<5} {e['regime']:>3} "
            f"{sizes:>19} {e['family']:<18} {_f(e['alpha_us']):>8} {_interval(e['alpha_us_ci']):>21} "
            f"{_f(e['bandwidth_gbps']):>8} {asymptote:>15} {_interval(e['busbw_asymptote_gbps_ci']):>21} "
            f"{peak:>17} {_f(e['r2'], '{:.3f}'):>6} {_f(e['mape_pct'], '{:.1f}'):>6} {heldout_words(e):>16} "
            f"{e['points']:>4}")
    if not all(e.get("busbw_asymptote_reached", True) for e in entries):
        lines.append(f"# * asymptote not reached: the regime's largest size is latency-bound (its busbw there under "
                     f"asymptote / {REACHED:g}); the value extrapolates past the measured sizes")
    return "\n".join(lines)


def heldout_words(e: dict) -> str:
    """'12.3%@8<2,4': the error predicting 8 ranks from a fit on 2 and 4; '-' when nothing
    was held out (one rank count)."""
    if e.get("heldout_mape_pct") is None:
        return "-"
    return f"{e['heldout_mape_pct']:.1f}%@{e['heldout_nranks']}<{','.join(map(str, e['heldout_from_nranks']))}"


def format_hier(entries: list[dict]) -> str:
    """One line per tier of each size regime of each tiered fit: its kind, alpha, bandwidth
    with interval, and the node counts that measured it."""
    if not entries:
        return ""
    lines = [f"# hierarchical tiers: {'collective':<15} {'backend':<7} {'G':>3} {'sizes':>19} {'family':<18} "
             f"{'tier':<13} {'kind':<6} {'alpha_us':>9} {'bw_gbps':>9} {'bw_gbps_ci95':>21} {'nodes':<12} "
             f"{'MAPE%':>6} {'heldout%':>8}"]
    for e in entries:
        held = "-" if e["heldout_mape_pct"] is None else f"{e['heldout_mape_pct']:.1f}@{e['heldout_nnodes']}"
        first = True
        for r in e["size_regimes"]:
            sizes = f"{format_size(r['size_bytes_min'])}-{format_size(r['size_bytes_max'])}"
            for i, tier in enumerate(r["tiers"]):
                kind = {"nodes": "B(q)", "ranks": "B(Q)"}.get(tier["scales_with"], "B(G)")
                head = f"{e['collective']:<15} {e['backend']:<7} {e['ranks_per_node']:>3}" if first else " " * 27
                what = f"{sizes:>19} {r['family']:<18}" if i == 0 else " " * 38
                tail = f"{_f(e['mape_pct'], '{:.1f}'):>6} {held:>8}" if first else ""
                lines.append(f"  {'':<6} {head} {what} {tier['name']:<13} {kind:<6} {_f(tier['alpha_us']):>9} "
                             f"{_f(tier['bandwidth_gbps']):>9} {_interval(tier['bandwidth_gbps_ci']):>21} "
                             f"{','.join(map(str, tier['nnodes'])):<12} {tail}".rstrip())
                first = False
        if e.get("domain_size_nodes"):
            lines.append(f"  {'':<6} {'':<27} (domain: {e['domain_size_nodes']} nodes; B(q): tier by tier, "
                         f"B(Q): flat over every rank under the tier)")
    return "\n".join(lines)

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
    hierarchical     one entry per (collective, backend, device, dtype, timing) measured on one
                     node and on several: family, ranks_per_node, fabric_intra/inter,
                     inter_scales_with ("nodes": B(N) n crosses the network, a
                     hierarchical algorithm; "ranks": B(N x G) n, a flat ring),
                     alpha_intra_us(_ci), bandwidth_intra_gbps(_ci), alpha_inter_us(_ci),
                     bandwidth_inter_gbps(_ci), r2, mape_pct, heldout_mape_pct,
                     heldout_nnodes, points, nnodes
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from collectives.sizes import format_size

from .fit import BOOTSTRAP, REACHED, TIME_FIELD, HierFit, KeyFit, bandwidth_gbps, ci95

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


def hier_entries(fits: list[HierFit]) -> list[dict]:
    entries = []
    for h in fits:
        a_i, b_i, a_e, b_e = h.theta
        entries.append({
            **h.key, "family": h.family.name, "family_source": h.family.source,
            "ranks_per_node": h.ranks_per_node, "fabric_intra": h.fabric_intra, "fabric_inter": h.fabric_inter,
            "inter_scales_with": h.inter,
            "alpha_intra_us": _num(a_i), "alpha_intra_us_ci": [_num(v) for v in ci95(h.boot[:, 0])],
            "bandwidth_intra_gbps": _num(bandwidth_gbps(b_i)), "bandwidth_intra_gbps_ci": bandwidth_ci(h.boot[:, 1]),
            "alpha_inter_us": _num(a_e), "alpha_inter_us_ci": [_num(v) for v in ci95(h.boot[:, 2])],
            "bandwidth_inter_gbps": _num(bandwidth_gbps(b_e)), "bandwidth_inter_gbps_ci": bandwidth_ci(h.boot[:, 3]),
            "r2": _num(h.r2), "mape_pct": _num(h.mape_pct), "heldout_mape_pct": _num(h.heldout_mape_pct),
            "heldout_nnodes": h.heldout_nnodes, "points": h.points, "nnodes": list(h.nnodes),
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
    if not entries:
        return ""
    lines = [f"# hierarchical: {'collective':<15} {'backend':<7} {'G':>3} {'family':<18} {'inter':<6} {'alpha_intra_us':>14} "
             f"{'bw_intra_gbps':>13} {'alpha_inter_us':>14} {'bw_inter_gbps':>13} {'MAPE%':>6} {'heldout%':>8}"]
    for e in entries:
        held = "-" if e["heldout_mape_pct"] is None else f"{e['heldout_mape_pct']:.1f}@{e['heldout_nnodes']}"
        inter = "B(N)" if e["inter_scales_with"] == "nodes" else "B(NG)"
        lines.append(f"  {'':<13} {e['collective']:<15} {e['backend']:<7} {e['ranks_per_node']:>3} {e['family']:<18} {inter:<6} "
                     f"{_f(e['alpha_intra_us']):>14} {_f(e['bandwidth_intra_gbps']):>13} {_f(e['alpha_inter_us']):>14} "
                     f"{_f(e['bandwidth_inter_gbps']):>13} {_f(e['mape_pct'], '{:.1f}'):>6} {held:>8}")
    return "\n".join(lines)

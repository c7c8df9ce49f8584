"""The fits as model.json's entries and back: fit_entries / hier_entries write them,
key_fits / hier_fits rebuild the same KeyFit and HierFit objects from them and their
bootstrap samples. docs/model.md (model.json) has the schema."""
from __future__ import annotations

import math

import numpy as np

from collectives.registry import get_collective

from .fit import HIER_KEY, KEY, KeyFit, Regime
from .stats import bandwidth_gbps, ci95
from .tiers import HierFit, Tier, TierRegime


def json_float(x):
    """JSON-safe float: inf and nan become null."""
    return None if x is None or not math.isfinite(x) else float(x)


def _float(x) -> float:
    """json_float's inverse for fields that were floats: null is nan."""
    return math.nan if x is None else float(x)


def bandwidth_ci(betas: np.ndarray) -> list:
    lo, hi = ci95(betas)
    return [json_float(bandwidth_gbps(hi)), json_float(bandwidth_gbps(lo))]


def _regime_entry(fit: KeyFit, i: int, r: Regime) -> dict:
    alpha, beta = r.theta
    return {
        **fit.key, "regime": i, "regimes": len(fit.regimes),
        "size_bytes_min": r.size_lo, "size_bytes_max": r.size_hi,
        "family": r.family.name if r.identified else "unidentified", "family_identified": r.identified,
        "family_used": r.family.name, "family_source": r.family.source,
        "steps_formula": {str(p): [r.family.steps(p), r.family.data(p)] for p in r.nranks},
        "alpha_identified": r.alpha_identified,
        "alpha_us": json_float(alpha) if r.alpha_identified else None,
        "alpha_us_ci": [json_float(v) for v in ci95(r.boot[:, 0])] if r.alpha_identified else [None, None],
        "bandwidth_gbps": json_float(bandwidth_gbps(beta)), "bandwidth_gbps_ci": bandwidth_ci(r.boot[:, 1]),
        "busbw_asymptote_gbps": json_float(r.busbw_asymptote()),
        "busbw_asymptote_gbps_ci": [json_float(r.busbw_asymptote(b)) for b in ci95(r.boot[:, 1])[::-1]],
        "busbw_asymptote_reached": r.asymptote_reached,
        "peak_busbw_gbps": json_float(r.peak_busbw), "peak_at_size_bytes": r.peak_at,
        "r2": json_float(r.r2), "mape_pct": json_float(r.mape_pct), "heldout_mape_pct": json_float(r.heldout_mape_pct),
        "heldout_nranks": r.heldout_nranks, "heldout_from_nranks": list(fit.heldout_from),
        "key_heldout_mape_pct": json_float(fit.heldout_mape_pct), "key_heldout_nranks": fit.heldout_nranks,
        "points": r.points, "nranks": list(r.nranks), "theta": [float(v) for v in r.theta],
    }


def fit_entries(fits: list[KeyFit]) -> list[dict]:
    """model.json's `fits`: one entry per regime of each key."""
    return [_regime_entry(fit, i, r) for fit in fits for i, r in enumerate(fit.regimes, 1)]


def tier_entries(r: TierRegime, alpha_identified: bool = True) -> list[dict]:
    """model.json's `tiers` of one regime of a tiered fit, innermost first."""
    out = []
    for j, tier in enumerate(r.tiers):
        alpha, beta = r.theta[2 * j], r.theta[2 * j + 1]
        out.append({"name": tier.name, "scales_with": tier.scope, "fabric": tier.fabric,
                    "alpha_us": json_float(alpha) if alpha_identified else None,
                    "alpha_us_ci": [json_float(v) for v in ci95(r.boot[:, 2 * j])] if alpha_identified else [None, None],
                    "bandwidth_gbps": json_float(bandwidth_gbps(beta)),
                    "bandwidth_gbps_ci": bandwidth_ci(r.boot[:, 2 * j + 1]),
                    "nnodes": list(tier.nnodes), "nranks": list(tier.nranks), "points": tier.points})
    return out


def size_regime_entries(h: HierFit) -> list[dict]:
    """Every size regime of a tiered fit, smallest sizes first."""
    return [{"size_bytes_min": r.size_lo, "size_bytes_max": r.size_hi, "family": r.family.name,
             "tiers": tier_entries(r, h.alpha_identified), "r2": json_float(r.r2), "mape_pct": json_float(r.mape_pct),
             "points": r.points, "scopes": {str(k): v for k, v in r.scopes.items()},
             "theta": [float(v) for v in r.theta]} for r in h.regimes]


def _hier_entry(h: HierFit) -> dict:
    tiers = tier_entries(h.top, h.alpha_identified)
    inner, outer = tiers[0], tiers[-1]
    return {
        **h.key, "family": h.family.name, "family_source": h.family.source,
        "ranks_per_node": h.ranks_per_node, "domain_size_nodes": h.domain_size_nodes,
        "size_bytes_min": h.top.size_lo, "size_bytes_max": h.top.size_hi,
        "tiers": tiers, "tier_names": [t["name"] for t in tiers], "size_regimes": size_regime_entries(h),
        "fabric_intra": h.fabric_intra, "fabric_inter": h.fabric_inter, "inter_scales_with": h.inter,
        "alpha_intra_us": inner["alpha_us"], "alpha_intra_us_ci": inner["alpha_us_ci"],
        "bandwidth_intra_gbps": inner["bandwidth_gbps"], "bandwidth_intra_gbps_ci": inner["bandwidth_gbps_ci"],
        "alpha_inter_us": outer["alpha_us"], "alpha_inter_us_ci": outer["alpha_us_ci"],
        "bandwidth_inter_gbps": outer["bandwidth_gbps"], "bandwidth_inter_gbps_ci": outer["bandwidth_gbps_ci"],
        "alpha_identified": h.alpha_identified,
        "r2": json_float(h.r2), "mape_pct": json_float(h.mape_pct), "heldout_mape_pct": json_float(h.heldout_mape_pct),
        "heldout_nnodes": h.heldout_nnodes, "heldout_note": h.heldout_note, "points": h.points,
        "nnodes": list(h.nnodes),
    }


def hier_entries(fits: list[HierFit]) -> list[dict]:
    """model.json's `hierarchical`: one entry per tiered fit."""
    return [_hier_entry(h) for h in fits]


def fit_samples(fits: list[KeyFit], hier: list[HierFit]) -> dict[str, np.ndarray]:
    """The bootstrap samples of every regime, named as key_fits and hier_fits read them."""
    out = {f"fit{i}": r.boot for i, r in enumerate(r for fit in fits for r in fit.regimes)}
    out.update({f"hier{i}_{j}": r.boot for i, h in enumerate(hier) for j, r in enumerate(h.regimes)})
    return out


def _family(collective: str, name: str):
    return next(f for f in get_collective(collective).families if f.name == name)


def _regime(e: dict, boot: np.ndarray) -> Regime:
    return Regime(_family(e["collective"], e["family_used"]), e["size_bytes_min"], e["size_bytes_max"],
                  np.array(e["theta"], dtype=float), boot=boot, r2=_float(e["r2"]), mape_pct=_float(e["mape_pct"]),
                  heldout_mape_pct=e["heldout_mape_pct"], heldout_nranks=e["heldout_nranks"], points=e["points"],
                  nranks=tuple(e["nranks"]), identified=e["family_identified"],
                  factor=get_collective(e["collective"]).busbw_factor, alpha_identified=e["alpha_identified"],
                  peak_busbw=_float(e["peak_busbw_gbps"]), peak_at=e["peak_at_size_bytes"])


def key_fits(entries: list[dict], samples: dict) -> list[KeyFit]:
    """The KeyFits fit_entries wrote, with their bootstrap samples (fit_samples' names)."""
    fits, i = [], 0
    while i < len(entries):
        first = entries[i]
        regimes = [_regime(e, samples[f"fit{i + k}"]) for k, e in enumerate(entries[i:i + first["regimes"]])]
        fits.append(KeyFit({k: first[k] for k in KEY}, regimes, heldout_mape_pct=first["key_heldout_mape_pct"],
                           heldout_nranks=first["key_heldout_nranks"], heldout_from=tuple(first["heldout_from_nranks"])))
        i += first["regimes"]
    return fits


def _tier_regime(e: dict, r: dict, boot: np.ndarray) -> TierRegime:
    tiers = tuple(Tier(t["name"], t["scales_with"], t["fabric"], tuple(t["nnodes"]), tuple(t["nranks"]), t["points"])
                  for t in r["tiers"])
    return TierRegime(r["size_bytes_min"], r["size_bytes_max"], _family(e["collective"], r["family"]),
                      {int(k): v for k, v in r["scopes"].items()}, np.array(r["theta"], dtype=float), boot, tiers,
                      _float(r["r2"]), _float(r["mape_pct"]), r["points"])


def hier_fits(entries: list[dict], samples: dict) -> list[HierFit]:
    """The HierFits hier_entries wrote, with their bootstrap samples."""
    out = []
    for i, e in enumerate(entries):
        regimes = tuple(_tier_regime(e, r, samples[f"hier{i}_{j}"]) for j, r in enumerate(e["size_regimes"]))
        out.append(HierFit({k: e[k] for k in HIER_KEY}, e["ranks_per_node"], regimes,
                           domain_size_nodes=e["domain_size_nodes"], alpha_identified=e["alpha_identified"],
                           r2=_float(e["r2"]), mape_pct=_float(e["mape_pct"]), heldout_mape_pct=e["heldout_mape_pct"],
                           heldout_nnodes=e["heldout_nnodes"], heldout_note=e["heldout_note"], points=e["points"],
                           nnodes=tuple(e["nnodes"])))
    return out

"""Where communication overtakes compute: the crossover node count of a workload.

For N = 1 .. limit nodes of G GPUs (p = N G ranks), per GPU per step (reports/planning/workloads.py):
    compute_s = FLOPs / (rate_tflops x 1e12)
    comm_s    = messages x T(bytes, N, G) x 1e-6, T from the fitted model (reports/model/fit.py):
                the tiered fit (reports/model/tiers.py) where the runs span tiers, else the flat
                fit at p ranks
- crossover_tier / crossover_boundary: the outermost tier a step crosses at the crossover
  (intra_node, intra_domain, inter_domain; inter_node where the domains are unknown) and
  where it starts, in words ("beyond one domain (18 nodes)"); each row names its tier.
- crossover_nodes: the smallest N with comm_s > compute_s (no overlap: communication alone
  takes longer than the computation it serves).
- hidden_crossover_nodes: the smallest N with comm_s > overlap x compute_s (communication
  can no longer hide under the part of compute it overlaps with).
- Intervals: the same computed for each bootstrap sample of the fit (2.5 and 97.5
  percentiles), each sample also carrying the model's own error where it extrapolates
  (with_model_error: the predictive half-width of reports/model/predict.py at that node count's
  extrapolation factor, wide where no run measured its tier); an upper bound past the
  limit is reported as null. Each row says its extrapolation factor (nodes over the
  largest measured) and the model error added there (model_error_pct).
- Roofline: a step stays compute-bound while its FLOPs per communicated byte (per GPU) are
  at least rate x comm_s / bytes, the intensity the fabric demands at that scale.
Points at or below the largest measured node and rank counts are "fit, measured range";
beyond, "extrapolated".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from reports.model.fit import KeyFit
from reports.model.tiers import HierFit
from reports.planning.workloads import Workload


class CrossoverError(ValueError):
    """The runs cannot answer for this workload; the message names the problem and the fix."""


@dataclass
class CommModel:
    describe: str
    predict_us: callable
    """(bytes, nnodes, gpus_per_node) -> us"""
    samples_us: callable
    """(bytes, nnodes, gpus_per_node) -> array of us, one per bootstrap sample"""
    fabric: callable
    """nnodes -> fabric name the prediction rests on"""
    heldout_pct: callable
    """bytes -> held-out MAPE (%) of the fit used at that message size, or None"""
    heldout_note: callable = None
    """bytes -> what was held out and predicted from what, or why nothing could be"""
    tier: callable = None
    """nnodes -> the outermost tier a step at that scale crosses (intra_node, intra_domain,
    inter_domain; inter_node where the domains are unknown), None for a flat model"""
    domain_size_nodes: int | None = None
    error_halfwidth: callable = None
    """nnodes -> the half-width on log time the model's error adds there (with_model_error)"""


def with_model_error(model: CommModel, measured_nodes, level: float = 0.9) -> CommModel:
    """The model whose samples also carry its error when it extrapolates (reports/model/predict.py:
    error_halfwidth): each bootstrap sample's time times exp(z sigma), z one standard normal
    per sample (the same at every node count, so the draws stay coherent across scales),
    sigma the half-width at `level` over its normal quantile. Predictions are unchanged."""
    from statistics import NormalDist

    from reports.model.predict import error_halfwidth, tier_name, tier_of as tier_index
    size = model.domain_size_nodes
    tier_of = model.tier or (lambda N: tier_name(tier_index(N, size), size))
    measured = {}
    for k in sorted({int(v) for v in measured_nodes}):
        measured[tier_of(k)] = k
    z_level = NormalDist().inv_cdf((1 + level) / 2)
    z_cache = {}

    def halfwidth(N):
        return error_halfwidth(int(N), tier_of(int(N)), measured, level)

    def samples_us(n, N, G):
        base = np.asarray(model.samples_us(n, N, G), dtype=float)
        q = halfwidth(N)
        if q <= 0:
            return base
        z = z_cache.setdefault(base.shape, np.random.default_rng(0).standard_normal(base.shape))
        return base * np.exp(z * q / z_level)
    return replace(model, samples_us=samples_us, error_halfwidth=halfwidth)


def boundary_words(tier: str | None, domain_size_nodes: int | None) -> str:
    """Where a tier starts, in words: 'beyond one domain (18 nodes)'."""
    return {"intra_node": "within one node", "inter_node": "beyond one node",
            "intra_domain": f"beyond one node, inside one domain ({domain_size_nodes} nodes)",
            "inter_domain": f"beyond one domain ({domain_size_nodes} nodes)"}.get(tier, "")


def _flat_note(fit: KeyFit, n: float) -> str:
    regime = fit.regime_for(n)
    if regime.heldout_mape_pct is not None:
        return (f"held-out error {regime.heldout_mape_pct:.1f}% predicting {regime.heldout_nranks} ranks from a fit "
                f"on {', '.join(map(str, fit.heldout_from))}")
    counts = sorted({q for r in fit.regimes for q in r.nranks})
    if len(counts) == 1:
        return f"no held-out error: one rank count measured ({counts[0]})"
    return f"no held-out error at this size: its regime has no points at the largest rank count ({counts[-1]})"


def choose_model(fits: list[KeyFit], hier: list[HierFit], collective: str, backend: str | None,
                 dtype: str) -> CommModel:
    """The hierarchical fit for the collective if there is one, else the flat fit(s)."""
    mine = [f for f in fits if f.key["collective"] == collective]
    backends = sorted({f.key["backend"] for f in mine} | {h.key["backend"] for h in hier if h.key["collective"] == collective})
    if not backends:
        raise CrossoverError(f"the runs have no fitted {collective}: sweep it (--collectives {collective}) and fit again")
    if backend is None:
        if len(backends) > 1:
            raise CrossoverError(f"the runs fit {collective} on {', '.join(backends)}: choose one with --backend")
        backend = backends[0]
    elif backend not in backends:
        raise CrossoverError(f"no {collective} fit for backend {backend!r} (have {', '.join(backends)}): choose one of those")

    def pick(items):
        same = [i for i in items if i.key["dtype"] == dtype]
        return (same or items)[0]

    hiers = [h for h in hier if h.key["collective"] == collective and h.key["backend"] == backend]
    if hiers:
        h = pick(hiers)
        tiers = ", ".join(f"{t.name} {t.fabric}" for t in h.tiers)
        fabric = {t.name: t.fabric for t in h.tiers}
        return CommModel(f"hierarchical {collective}/{backend}/{h.key['dtype']} ({h.family.name}; {tiers})",
                         lambda n, N, G: float(h.predict(n, N, G)[0]), h.predict_samples,
                         lambda N: fabric.get(h.tier_at(N), h.fabric_inter), lambda n: h.heldout_mape_pct,
                         lambda n: h.heldout_note, h.tier_at, h.domain_size_nodes)
    flat = [f for f in mine if f.key["backend"] == backend]
    net = [f for f in flat if f.key["fabric"] == "net"]
    local = [f for f in flat if f.key["fabric"] != "net"] or net
    one, many = pick(local), pick(net) if net else None
    fit_for = (lambda N: one if N == 1 or many is None else many)
    describe = (f"flat {collective}/{backend}/{one.key['dtype']}: {one.key['fabric']} on one node, "
                + (f"{many.key['fabric']} across nodes" if many else
                   f"{one.key['fabric']} beyond one node too (no multi-node points: the network is not in this model)"))
    return CommModel(describe,
                     lambda n, N, G: fit_for(N).predict(n, N * G),
                     lambda n, N, G: fit_for(N).predict_samples(n, N * G),
                     lambda N: fit_for(N).key["fabric"], lambda n: (many or one).regime_for(n).heldout_mape_pct,
                     lambda n: _flat_note(many or one, n))


def _first_over(exceeds: np.ndarray) -> np.ndarray:
    """Index of the first True along the last axis; -1 where there is none."""
    first = np.argmax(exceeds, axis=-1)
    return np.where(exceeds.any(axis=-1), first, -1)


def _nodes_ci(first_idx: np.ndarray) -> list:
    nodes = np.where(first_idx >= 0, first_idx + 1.0, math.inf)
    lo, hi = np.percentile(nodes, [2.5, 97.5])
    return [None if not math.isfinite(v) else int(round(v)) for v in (lo, hi)]


def crossover(workload: Workload, model: CommModel, rate_tflops: float, gpus_per_node: int, limit: int,
              measured_nodes: int, measured_ranks: int, overlap: float | None = None) -> dict:
    """Every figure of the crossover as a JSON-ready dict (see the module docstring)."""
    overlap = workload.overlap if overlap is None else overlap
    N = np.arange(1, limit + 1)
    steps = [workload.step(int(k), gpus_per_node) for k in N]
    flops = np.array([s[0] for s in steps])
    count = np.array([s[1] for s in steps], dtype=float)
    nbytes = np.array([s[2] for s in steps])
    compute_s = flops / (rate_tflops * 1e12)
    comm_s = np.array([c * model.predict_us(b, int(k), gpus_per_node) * 1e-6 for c, b, k in zip(count, nbytes, N)])
    samples = np.array([c * model.samples_us(b, int(k), gpus_per_node) * 1e-6
                        for c, b, k in zip(count, nbytes, N)]).T  # (bootstrap, limit)
    cross, hidden = _first_over(comm_s > compute_s), _first_over(comm_s > overlap * compute_s)
    at = cross if cross >= 0 else limit - 1  # the message size the answer rests on
    result = {
        "workload": {"name": workload.name, "kind": workload.kind, "scaling": workload.scaling,
                     "dtype": workload.dtype, **workload.fields},
        "collective": workload.collective, "model": model.describe, "heldout_mape_pct": model.heldout_pct(nbytes[at]),
        "heldout_note": model.heldout_note(nbytes[at]) if model.heldout_note else None,
        "compute_tflops": rate_tflops, "gpus_per_node": gpus_per_node, "overlap": overlap, "limit_nodes": limit,
        "measured_nodes": measured_nodes, "measured_ranks": measured_ranks,
        "crossover_nodes": int(cross + 1) if cross >= 0 else None,
        "crossover_nodes_ci": _nodes_ci(_first_over(samples > compute_s)),
        "hidden_crossover_nodes": int(hidden + 1) if hidden >= 0 else None,
        "hidden_crossover_nodes_ci": _nodes_ci(_first_over(samples > overlap * compute_s)),
        "domain_size_nodes": model.domain_size_nodes,
    }
    tier_at = model.tier or (lambda k: None)
    result["crossover_tier"] = tier_at(result["crossover_nodes"]) if result["crossover_nodes"] else None
    result["crossover_boundary"] = boundary_words(result["crossover_tier"], model.domain_size_nodes) or None
    shown = {2 ** i for i in range(limit.bit_length()) if 2 ** i <= limit} | {measured_nodes}
    shown |= {v for v in (result["crossover_nodes"], result["hidden_crossover_nodes"]) if v}
    rows = []
    for k in sorted(v for v in shown if 1 <= v <= limit):
        i = k - 1
        lo, hi = np.percentile(samples[:, i], [2.5, 97.5])
        comm_bytes = count[i] * nbytes[i]
        rows.append({
            "nnodes": k, "nranks": k * gpus_per_node, "fabric": model.fabric(k), "tier": tier_at(k),
            "source": "fit, measured range" if k <= measured_nodes and k * gpus_per_node <= measured_ranks
            else "extrapolated",
            "extrapolation": k / measured_nodes,
            "model_error_pct": (math.exp(model.error_halfwidth(k)) - 1) * 100 if model.error_halfwidth else None,
            "compute_ms": compute_s[i] * 1e3, "comm_ms": comm_s[i] * 1e3, "comm_ms_ci": [lo * 1e3, hi * 1e3],
            "comm_over_compute": comm_s[i] / compute_s[i], "bytes_per_message": nbytes[i], "messages": int(count[i]),
            "workload_flops_per_byte": flops[i] / comm_bytes if comm_bytes else None,
            "needed_flops_per_byte": rate_tflops * 1e12 * comm_s[i] / comm_bytes if comm_bytes else None,
        })
    result["rows"] = rows
    return result


def format_crossover(res: dict) -> str:
    w = res["workload"]
    lines = [f"# crossover: workload {w['name']} ({w['kind']}, {w['scaling']} scaling), {res['collective']} from "
             f"{res['model']}",
             f"# compute {res['compute_tflops']:.4g} TFLOP/s per GPU, {res['gpus_per_node']} GPUs per node, "
             f"overlap {res['overlap']:.2f}; measured up to {res['measured_nodes']} node(s), {res['measured_ranks']} ranks",
             f"# {'nodes':>6} {'ranks':>7} {'fabric':<12} {'tier':<13} {'compute_ms':>11} {'comm_ms':>11} {'comm_ms_ci95':>21} "
             f"{'comm/comp':>9} {'flop/B have':>11} {'flop/B need':>11}  source"]
    for r in res["rows"]:
        ci = f"[{r['comm_ms_ci'][0]:.4g},{r['comm_ms_ci'][1]:.4g}]"
        have = "-" if r["workload_flops_per_byte"] is None else f"{r['workload_flops_per_byte']:.4g}"
        need = "-" if r["needed_flops_per_byte"] is None else f"{r['needed_flops_per_byte']:.4g}"
        lines.append(f"  {r['nnodes']:>6} {r['nranks']:>7} {r['fabric']:<12} {r.get('tier') or '-':<13} "
                     f"{r['compute_ms']:11.4g} {r['comm_ms']:11.4g} "
                     f"{ci:>21} {r['comm_over_compute']:9.3g} {have:>11} {need:>11}  {r['source']}")

    def when(n, ci):
        if n is None:
            return f"not within {res['limit_nodes']} nodes"
        hi = "beyond the limit" if ci[1] is None else ci[1]
        return f"from {n} node(s) (95% interval {ci[0]} to {hi})"

    lines.append(f"# communication exceeds compute {when(res['crossover_nodes'], res['crossover_nodes_ci'])}"
                 + (f": {res['crossover_boundary']}, the {res['crossover_tier']} tier" if res.get("crossover_boundary")
                    else ""))
    lines.append(f"# with {res['overlap']:.0%} of compute to hide under, communication is exposed "
                 f"{when(res['hidden_crossover_nodes'], res['hidden_crossover_nodes_ci'])}")
    beyond = res["crossover_nodes"] and res["crossover_nodes"] > res["measured_nodes"]
    note = res.get("heldout_note") or ("no held-out error" if res["heldout_mape_pct"] is None else
                                       f"held-out error {res['heldout_mape_pct']:.1f}%")
    where = (f"the crossover is extrapolated {res['crossover_nodes'] / res['measured_nodes']:.1f} x past the largest "
             f"measured scale ({res['measured_nodes']} node(s))" if beyond else
             "the crossover lies within the measured scale" if res["crossover_nodes"] else
             f"no crossover within {res['limit_nodes']} nodes, {res['limit_nodes'] / res['measured_nodes']:.1f} x past "
             f"the largest measured scale")
    lines.append(f"# {where}; {note} (the error to expect one step up in scale)")
    errs = [(r["nnodes"], r["model_error_pct"]) for r in res["rows"] if r.get("model_error_pct")]
    if errs:
        lines.append("# intervals include the model's own error past the measured scale (90% of predictions within "
                     + ", ".join(f"x{1 + e / 100:.3g} either way at {k} node(s)" for k, e in errs[:1] + errs[-1:])
                     + "; docs/model.md#predictions)")
    return "\n".join(lines)

"""The doctor's statistics: from rates measured between pairs of nodes, each node's
capacity, each link's shortfall, the suspects with intervals and a confidence, and the
choice of the groups that confirm them. Pure: numbers in, numbers out
(benchmarks/doctor/ measures; this decides).
The method: docs/methods.md (`reports/doctor/stats.py`)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


DOCTOR_FILE = "doctor.json"
THRESHOLD = 0.15
"""Smallest shortfall called a suspect: 15% below the reference (noise on a quiet fabric is
a few percent; a degraded link, a PCIe link trained down, a NIC at half rate, are 25% and more)."""
K_SPREADS = 3.0
"""... and more than 3 robust standard deviations below it."""
MIN_CONFIDENCE = 0.8
"""A flagged node or link is named a suspect only if at least 80% of the bootstrap
resamples flag it too; the others are listed as `uncertain` (measure more passes)."""
BOOTSTRAP = 1000
SEED = 0
MAD_TO_SD = 1.4826
"""A normal distribution's standard deviation is 1.4826 x its MAD."""


@dataclass(frozen=True, slots=True)
class Method:
    threshold: float = THRESHOLD
    k_spreads: float = K_SPREADS
    bootstrap: int = BOOTSTRAP
    seed: int = SEED

    def describe(self) -> dict:
        return {"capacity": "the best of the node's pair rates (each pair: the median of its samples)",
                "reference": "median capacity of the nodes within the threshold of the median of all",
                "spread": "1.4826 x MAD of those capacities",
                "rule": f"suspect: below the reference by more than {self.threshold:.0%} and more than "
                        f"{self.k_spreads:g} spreads",
                "link_rule": "link suspect: rate / min(capacity of its two nodes) below the median ratio by the same "
                             "rule",
                "interval": f"95% percentile bootstrap over each pair's samples, {self.bootstrap} resamples",
                "confidence": "share of the resamples in which the suspect is flagged",
                "threshold": self.threshold, "k_spreads": self.k_spreads, "bootstrap": self.bootstrap,
                "seed": self.seed}


def _best(row: np.ndarray) -> float:
    """The best of the finite values in `row` (NaN if none)."""
    values = row[np.isfinite(row)]
    return float(values.max()) if values.size else math.nan


def _flags(values: np.ndarray, method: Method) -> tuple[np.ndarray, float, float]:
    """Which finite values lie low beyond the rule; the reference and the spread. The
    reference and spread are those of the values left once the ones below the median by
    more than the threshold are set aside (so that slow ones, up to half, do not pull the
    reference down or widen the spread)."""
    finite = values[np.isfinite(values)]
    if finite.size < 3:  # two values cannot tell which one is off
        return np.zeros(values.shape, bool), (float(np.median(finite)) if finite.size else math.nan), math.nan
    first = float(np.median(finite))
    rest = finite[finite >= first * (1 - method.threshold)]
    ref = float(np.median(rest))
    spread = MAD_TO_SD * float(np.median(np.abs(rest - ref)))
    cut = min(ref * (1 - method.threshold), ref - method.k_spreads * spread)
    return np.isfinite(values) & (values < cut), ref, spread


def estimate(n: int, pairs: list[tuple[int, int]], rates: np.ndarray, method: Method) -> dict:
    """One estimate from one rate per pair: capacities, link ratios and their flags."""
    matrix = np.full((n, n), math.nan)
    for (a, b), r in zip(pairs, rates):
        matrix[a, b] = matrix[b, a] = r
    caps = np.array([_best(matrix[i]) for i in range(n)])
    node_flags, ref, spread = _flags(caps, method)
    expected = np.array([min(caps[a], caps[b]) for a, b in pairs])
    ratios = rates / expected
    link_flags, ratio_ref, ratio_spread = _flags(ratios, method)
    return {"caps": caps, "node_flags": node_flags, "ref": ref, "spread": spread, "expected": expected,
            "ratios": ratios, "link_flags": link_flags, "ratio_ref": ratio_ref, "ratio_spread": ratio_spread}


def _sample_matrix(samples: list[list[float]]) -> np.ndarray:
    """Pairs x samples, NaN where a pair has fewer samples than the most."""
    width = max(len(s) for s in samples)
    out = np.full((len(samples), width), math.nan)
    for i, s in enumerate(samples):
        out[i, :len(s)] = s
    return out


def _bootstrap(n: int, pairs, samples: np.ndarray, method: Method) -> list[dict]:
    """The estimate on `method.bootstrap` resamples of each pair's samples."""
    rng = np.random.default_rng(method.seed)
    counts = np.isfinite(samples).sum(axis=1)
    out = []
    for _ in range(method.bootstrap):
        picks = (rng.random(samples.shape) * counts[:, None]).astype(int)
        resampled = np.take_along_axis(samples, picks, axis=1)
        resampled[~np.isfinite(samples)] = math.nan
        out.append(estimate(n, pairs, np.nanmedian(resampled, axis=1), method))
    return out


def _interval(values) -> list[float]:
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    return [float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))] if finite.size else [None, None]


def pool_tests(per_test: dict[str, dict[tuple[int, int], list[float]]], scale: str = "all_reduce"):
    """One set of samples per pair from several tests, each test's samples brought to the
    `scale` test's busbw: multiplied by the median over pairs of (scale's median / the
    test's median). The factor is a ratio within each pair, so it holds whichever pairs
    are slow. Returns the pooled samples and each test's factor."""
    base = per_test.get(scale) or next(iter(per_test.values()))
    pooled, factors = {}, {}
    for test, samples in per_test.items():
        ratios = [np.median(base[p]) / np.median(v) for p, v in samples.items() if p in base and np.median(v) > 0]
        factors[test] = float(np.median(ratios)) if ratios else 1.0
        for pair, values in samples.items():
            pooled.setdefault(pair, []).extend(v * factors[test] for v in values)
    return pooled, factors


def analyse(names: list[str], samples: dict[tuple[int, int], list[float]], method: Method = Method()) -> dict:
    """doctor.json's `nodes`, `links`, `suspects` (most suspect first), reference and notes
    from the rates (GB/s) each pair of nodes measured, `samples[(a, b)]` with a < b."""
    n, pairs = len(names), sorted(samples)
    matrix = _sample_matrix([samples[p] for p in pairs])
    rates = np.nanmedian(matrix, axis=1)
    point = estimate(n, pairs, rates, method)
    boots = _bootstrap(n, pairs, matrix, method) if method.bootstrap else []
    nodes = []
    for i, name in enumerate(names):
        mine = [rates[k] for k, p in enumerate(pairs) if i in p]
        nodes.append({"node": name, "index": i, "partners": len(mine),
                      "capacity_gbps": _num(point["caps"][i]), "median_gbps": _num(np.median(mine)) if mine else None,
                      "interval_gbps": _interval([b["caps"][i] for b in boots]),
                      "flagged": bool(point["node_flags"][i]),
                      "confidence": _share([b["node_flags"][i] for b in boots])})
    links = []
    for k, (a, b) in enumerate(pairs):
        links.append({"nodes": [names[a], names[b]], "index": [a, b], "samples": int(np.isfinite(matrix[k]).sum()),
                      "rate_gbps": _num(rates[k]), "expected_gbps": _num(point["expected"][k]),
                      "ratio": _num(point["ratios"][k]),
                      "interval_gbps": _interval([bs["ratios"][k] * bs["expected"][k] for bs in boots]),
                      "flagged": bool(point["link_flags"][k]),
                      "confidence": _share([bs["link_flags"][k] for bs in boots])})
    ranked = rank_suspects(nodes, links, point["ref"])
    named = {suspect_label(s) for s in ranked["suspects"]}
    for item in nodes + links:
        item["suspect"] = (item.get("node") or "-".join(item["nodes"])) in named
    return {"reference_gbps": _num(point["ref"]), "spread_gbps": _num(point["spread"]),
            "link_ratio_reference": _num(point["ratio_ref"]), "link_ratio_spread": _num(point["ratio_spread"]),
            "nodes": nodes, "links": links, **ranked, "notes": _notes(n, pairs)}


def rank_suspects(nodes: list[dict], links: list[dict], ref: float) -> dict:
    """`suspects`: the flagged nodes and links the bootstrap confirms (MIN_CONFIDENCE), most
    suspect first (by confidence x shortfall); `uncertain`: flagged, below that confidence."""
    found = []
    for node in nodes:
        if node["flagged"]:
            found.append({"kind": "node", "node": node["node"], "index": node["index"],
                          "measured_gbps": node["capacity_gbps"], "expected_gbps": _num(ref),
                          "interval_gbps": node["interval_gbps"], "confidence": node["confidence"],
                          "shortfall": _num(1 - node["capacity_gbps"] / ref)})
    for link in links:
        if link["flagged"]:
            found.append({"kind": "link", "nodes": link["nodes"], "index": link["index"],
                          "measured_gbps": link["rate_gbps"], "expected_gbps": link["expected_gbps"],
                          "interval_gbps": link["interval_gbps"], "confidence": link["confidence"],
                          "shortfall": _num(1 - link["ratio"])})
    sure = [s for s in found if s["confidence"] is None or s["confidence"] >= MIN_CONFIDENCE]
    return {"suspects": rerank(sure), "uncertain": [s for s in found if s not in sure]}


def rerank(suspects: list[dict]) -> list[dict]:
    """Most suspect first (confidence x shortfall), each given its `rank` from 1."""
    ordered = sorted(suspects, key=lambda s: -((s["confidence"] if s["confidence"] is not None else 1.0)
                                               * s["shortfall"]))
    for rank, suspect in enumerate(ordered, 1):
        suspect["rank"] = rank
    return ordered


def _notes(n: int, pairs) -> list[str]:
    notes = []
    if n < 3:
        notes.append("with 2 nodes there is one pair: a slow pair cannot be told from a slow node; run on 3 or more")
    possible = n * (n - 1) // 2
    if len(pairs) < possible:
        notes.append(f"{len(pairs)} of the {possible} pairs measured (sampled rounds): a slow link between two nodes "
                     f"never paired is not seen")
    return notes


def _num(v):
    return None if v is None or not np.isfinite(v) else float(v)


def _share(flags) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def suspect_label(suspect: dict) -> str:
    """node3, node0-node3, node3:gpu5, node3:gpu1-node3:gpu5."""
    return suspect["node"] if suspect["kind"] in ("node", "gpu") else "-".join(suspect["nodes"])

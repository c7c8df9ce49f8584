"""The doctor's statistics: from rates measured between pairs of nodes, each node's
capacity, each link's shortfall, the suspects with intervals and a confidence, and the
choice of the groups that confirm them. Pure: numbers in, numbers out
(benchmarks/doctor/ measures; this decides).

The model. A transfer between nodes a and b goes at the slower of the two nodes' links,
or slower still where the path between them is bad: rate(a, b) = min(cap_a, cap_b, link_ab).

- A node's capacity is estimated as the best rate it reached with any partner (each
  pair's rate being the median of its samples): a healthy node has a healthy partner, and
  with it shows its own link; a slow node is slow with every partner, so even its best pair
  is slow. (A median over its partners would take a healthy node down with it once many of
  its partners are slow, as with 2 slow nodes of 4.)
- The reference is the median capacity over the nodes left once those below the overall
  median by more than `threshold` are set aside, and its spread 1.4826 x their median
  absolute deviation (MAD): the slow nodes,
  fewer than half, neither pull the reference down nor widen the spread.
- A node is a suspect when its capacity lies below the reference by more than
  `threshold` (relative) and by more than `k` spreads.
- A link (a, b) is a suspect when its rate lies below min(cap_a, cap_b), the rate its two
  nodes reach with others, by the same rule applied to the ratios rate / min(cap_a, cap_b):
  one pair slow while both of its nodes are fine with everyone else.
- Intervals and confidence come from a bootstrap over each pair's repeated samples: the
  2.5 and 97.5 percentiles of the estimate, and the share of resamples in which the
  suspect is still flagged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from collectives.sizes import format_size

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



def confirm(n: int, suspects: list[dict], ref_gbps: float, threshold: float = THRESHOLD):
    """The confirmation, as a generator of steps: it yields a list of disjoint groups of node
    indices to measure at the same time (an all_reduce on each) and is sent back their busbw
    (GB/s, in order); it returns the group-level check and fills each suspect's
    `confirmation`. `ref_gbps`: a healthy pair's all_reduce busbw.

    A node suspect s: a group of s with healthy nodes beside an equal group of healthy
    nodes only ("with" and "without"). Confirmed when "with" is below "without" by more than
    the threshold; "restores" when "without" reaches the reference (less the threshold). If
    "without" is still slow, something unsuspected is slow in it: its halves are measured,
    the slower one halved again, down to 3 nodes or fewer (adaptive bisection), and named.
    A link suspect (a, b): a-b beside a healthy pair, then a and b each with another healthy
    partner. Finally, with node suspects: all nodes, then all nodes without the suspects."""
    bad = {s["index"] for s in suspects if s["kind"] == "node"}
    healthy = [i for i in range(n) if i not in bad]
    low = ref_gbps * (1 - threshold)
    count = 0
    for s in suspects:
        if s["kind"] == "node":
            steps = _node_steps(s["index"], n, healthy, low, threshold)
        else:
            steps = _link_steps(s["index"], [i for i in healthy if i not in s["index"]], low, threshold)
        s["confirmation"] = yield from steps
        count += s["confirmation"]["measurements"]
    group = None
    if bad and len(healthy) >= 2:
        (everyone,) = yield [list(range(n))]
        (clean,) = yield [healthy]
        count += 2
        group = {"all_nodes_gbps": everyone, "without_suspects_gbps": clean, "nodes_without": len(healthy),
                 "restores": bool(clean >= low), "improves": bool(clean > everyone * (1 + threshold))}
    return {"measurements": count, "reference_gbps": ref_gbps, "threshold": threshold, "group": group}


def _node_steps(s: int, n: int, healthy: list[int], low: float, threshold: float):
    half = min(n // 2, (len(healthy) + 1) // 2)
    if half < 2:
        return {"confirmed": None, "restores": None, "measurements": 0,
                "why": f"needs 3 nodes that are not suspects beside it; there are {len(healthy)}"}
    with_group, without_group = [s, *healthy[:half - 1]], healthy[half - 1:2 * half - 1]
    with_gbps, without_gbps = yield [with_group, without_group]
    out = {"with": with_group, "without": without_group, "with_gbps": with_gbps, "without_gbps": without_gbps,
           "confirmed": bool(with_gbps < without_gbps * (1 - threshold)), "restores": bool(without_gbps >= low),
           "measurements": 2}
    if not out["restores"]:
        out["still_slow"], extra = yield from _bisect(without_group, low)
        out["measurements"] += extra
    return out


def _link_steps(pair: list[int], others: list[int], low: float, threshold: float):
    if len(others) < 2:
        return {"confirmed": None, "restores": None, "measurements": 0,
                "why": f"needs 2 other nodes that are not suspects; there are {len(others)}"}
    a, b = pair
    x, y = others[:2]
    pair_gbps, control_gbps = yield [[a, b], [x, y]]
    a_gbps, b_gbps = yield [[a, x], [b, y]]
    without = min(a_gbps, b_gbps)
    return {"with": [[a, b], [x, y]], "without": [[a, x], [b, y]], "with_gbps": pair_gbps,
            "control_gbps": control_gbps, "without_gbps": without,
            "confirmed": bool(pair_gbps < without * (1 - threshold)), "restores": bool(without >= low),
            "measurements": 4}


def _bisect(nodes: list[int], low: float):
    """Halve a slow group until 3 nodes or fewer are left that hold the slowness; returns
    them (None if neither half is slow: the group was slow only as a whole) and the count."""
    count = 0
    while len(nodes) >= 4:
        first, second = nodes[:len(nodes) // 2], nodes[len(nodes) // 2:]
        rates = yield [first, second]
        count += 2
        if min(rates) >= low:
            return None, count
        nodes = first if rates[0] <= rates[1] else second
    return nodes, count


def run_confirmation(steps, measure):
    """Drive `confirm` with `measure(groups) -> busbw list`; its result."""
    try:
        groups = next(steps)
        while True:
            groups = steps.send(measure(groups))
    except StopIteration as done:
        return done.value


def _rate(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def _interval_text(iv) -> str:
    return "-" if not iv or iv[0] is None else f"[{iv[0]:.4g},{iv[1]:.4g}]"


def _confirmation_text(c: dict | None) -> str:
    if not c:
        return "not run"
    if c.get("confirmed") is None:
        return f"not possible: {c.get('why')}"
    word = "yes" if c["confirmed"] else "NO"
    text = f"{word}: {c['with_gbps']:.4g} with vs {c['without_gbps']:.4g} without"
    if not c.get("restores"):
        text += "; still slow without it" + (f" (in {', '.join(map(str, c['still_slow_nodes']))})"
                                             if c.get("still_slow_nodes") else "")
    return text


def format_doctor(doc: dict, path, exit_status: int) -> str:
    """The screen's table: suspects ranked most suspect first, then every node."""
    lines = [f"# reference {_rate(doc.get('reference_gbps'))} GB/s (median capacity of the nodes near the median), spread "
             f"{_rate(doc.get('spread_gbps'))} GB/s (1.4826 MAD); {doc.get('method', {}).get('rule', '')}"]
    lines += [f"# note: {note}" for note in doc.get("notes", [])]
    for s in doc.get("uncertain", []):
        lines.append(f"# uncertain (not a suspect: confidence {s['confidence']:.2f} < {MIN_CONFIDENCE}): "
                     f"{suspect_label(s)} {s['kind']} {_rate(s['measured_gbps'])} vs {_rate(s['expected_gbps'])} GB/s; "
                     f"more --passes would settle it")
    if doc["suspects"]:
        lines.append(f"# {'rank':>4}  {'suspect':<22} {'kind':<5} {'measured':>9} {'expected':>9} "
                     f"{'95% interval':>19} {'short':>6} {'conf':>5}  confirmed (all_reduce busbw GB/s)")
        for s in doc["suspects"]:
            lines.append(f"  {s['rank']:>4}  {suspect_label(s):<22} {s['kind']:<5} {_rate(s['measured_gbps']):>9} "
                         f"{_rate(s['expected_gbps']):>9} {_interval_text(s['interval_gbps']):>19} "
                         f"{s['shortfall']:>6.0%} {s['confidence'] or 0:>5.2f}  "
                         f"{_confirmation_text(s.get('confirmation'))}")
    group = (doc.get("confirmation") or {}).get("group")
    if group:
        lines.append(f"# all {len(doc['nodes'])} nodes: all_reduce busbw {group['all_nodes_gbps']:.4g} GB/s; without "
                     f"the suspect nodes ({group['nodes_without']}): {group['without_suspects_gbps']:.4g} GB/s: "
                     f"{'restored' if group['restores'] else 'NOT restored'}")
    if doc.get("confirmation"):
        lines.append(f"# confirmation: {doc['confirmation']['measurements']} extra all_reduce measurements")
    lines.append(f"# {'node':<16} {'capacity':>9} {'95% interval':>19} {'median':>9} {'pairs':>5}  (GB/s, "
                 f"lowest capacity first)")
    for node in sorted(doc["nodes"], key=lambda n: n["capacity_gbps"] if n["capacity_gbps"] is not None else 0):
        lines.append(f"  {node['node']:<16} {_rate(node['capacity_gbps']):>9} {_interval_text(node['interval_gbps']):>19} "
                     f"{_rate(node['median_gbps']):>9} {node['partners']:>5}"
                     + ("  SUSPECT" if node["suspect"] else "  uncertain" if node["flagged"] else ""))
    for node, found in (doc.get("intra") or {}).items():
        caps = ", ".join(f"{n['node'].split(':')[-1]} {_rate(n['capacity_gbps'])}" for n in found["nodes"])
        named = ", ".join(suspect_label(s) for s in found["suspects"]) or "none"
        lines.append(f"# inside {node}: GPU capacities (GB/s) {caps}; suspects: {named}")
    count = len(doc["suspects"])
    verdict = f"{count} suspect(s)" if count else "healthy: no suspect"
    lines.append(f"# doctor: {verdict} (exit {exit_status}); {path}")
    return "\n".join(lines)


def doctor_views(doc: dict):
    """The report's doctor section: a sentence, the suspects and the nodes as DataFrames."""
    import pandas as pd
    suspects = pd.DataFrame([{
        "rank": s["rank"], "suspect": suspect_label(s), "kind": s["kind"], "measured GB/s": s["measured_gbps"],
        "expected GB/s": s["expected_gbps"], "95% interval": _interval_text(s["interval_gbps"]),
        "shortfall": f"{s['shortfall']:.0%}", "confidence": s["confidence"],
        "confirmation": _confirmation_text(s.get("confirmation"))} for s in doc.get("suspects", [])])
    nodes = pd.DataFrame([{
        "node": n["node"], "capacity GB/s": n["capacity_gbps"], "95% interval": _interval_text(n["interval_gbps"]),
        "median GB/s": n["median_gbps"], "pairs": n["partners"],
        "verdict": "suspect" if n["suspect"] else "uncertain" if n["flagged"] else ""}
        for n in sorted(doc.get("nodes", []), key=lambda n: n["capacity_gbps"] or 0)])
    count = len(doc.get("suspects", []))
    sentence = (f"{len(doc.get('node_names', []))} nodes, {doc.get('rounds', {}).get('why', '')}, "
                f"{doc.get('passes')} pass(es) of sendrecv and all_reduce of {format_size(doc.get('size_bytes') or 0)} per "
                f"pair; "
                f"reference {_rate(doc.get('reference_gbps'))} GB/s; "
                + (f"{count} suspect(s), most suspect first." if count else "no suspect: healthy."))
    return sentence, suspects, nodes


def _same(suspect: dict, fault: dict) -> bool:
    if suspect["kind"] != fault["kind"]:
        return False
    return suspect["node"] == fault["node"] if fault["kind"] == "node" else sorted(suspect["nodes"]) == sorted(
        fault["nodes"])


def check_faults(doc: dict, faults: list[dict]) -> dict:
    """Known faults (the emulation's) against the doctor's suspects: each fault found (at
    which rank, its measured rate over the rate the fault allows) or missed; each suspect
    that matches no fault a false positive."""
    rows, matched = [], set()
    for fault in faults:
        hit = next((s for s in doc["suspects"] if _same(s, fault)), None)
        row = {**fault, "found": hit is not None, "rank": hit and hit["rank"],
               "measured_gbps": hit and hit["measured_gbps"],
               "ratio": hit and hit["measured_gbps"] / fault["payload_gbps"]}
        rows.append(row)
        if hit:
            matched.add(hit["rank"])
    false = [{"suspect": suspect_label(s), "kind": s["kind"], "rank": s["rank"]} for s in doc["suspects"]
             if s["rank"] not in matched]
    return {"faults": rows, "false_negatives": sum(not r["found"] for r in rows), "false_positives": len(false),
            "unexpected_suspects": false}


def format_fault_check(check: dict) -> str:
    lines = []
    for f in check["faults"]:
        what = f.get("node") or "-".join(f["nodes"])
        if f["found"]:
            lines.append(f"# emulated fault {what} ({f['kind']}, payload {f['payload_gbps']:.4g} GB/s): found at rank "
                         f"{f['rank']}, measured {f['measured_gbps']:.4g} GB/s, ratio {f['ratio']:.3f}")
        else:
            lines.append(f"# emulated fault {what} ({f['kind']}, payload {f['payload_gbps']:.4g} GB/s): NOT found")
    lines += [f"# not an emulated fault: {u['suspect']} ({u['kind']}, rank {u['rank']})"
              for u in check["unexpected_suspects"]]
    lines.append(f"# fault check: {len(check['faults'])} emulated, {check['false_negatives']} missed, "
                 f"{check['false_positives']} false positive(s)")
    return "\n".join(lines)

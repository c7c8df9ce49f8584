"""The doctor's printed table (format_doctor), its section of the report (doctor_views)
and the emulation's fault check (format_fault_check), from doctor.json read as a
DoctorResult. docs/doctor.md explains the columns."""
from __future__ import annotations

import pandas as pd

from reports.doctor.result import DoctorResult
from reports.doctor.stats import MIN_CONFIDENCE

from .format import interval, num, size


def _rate(v) -> str:
    return num(v, 4)


def _interval(iv) -> str:
    return interval(iv, 4, compact=True)


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


def format_doctor(doc: DoctorResult, path, exit_status: int) -> str:
    """The screen's table: suspects ranked most suspect first, then every node."""
    lines = [f"# reference {_rate(doc.reference_gbps)} GB/s (median capacity of the nodes near the median), spread "
             f"{_rate(doc.spread_gbps)} GB/s (1.4826 MAD); {doc.method.get('rule', '')}"]
    lines += [f"# note: {note}" for note in doc.notes]
    for s in doc.uncertain:
        lines.append(f"# uncertain (not a suspect: confidence {s.confidence:.2f} < {MIN_CONFIDENCE}): "
                     f"{s.label} {s.kind} {_rate(s.measured_gbps)} vs {_rate(s.expected_gbps)} GB/s; "
                     f"more --passes would settle it")
    if doc.suspects:
        lines.append(f"# {'rank':>4}  {'suspect':<22} {'kind':<5} {'measured':>9} {'expected':>9} "
                     f"{'95% interval':>19} {'short':>6} {'conf':>5}  confirmed (all_reduce busbw GB/s)")
        for s in doc.suspects:
            lines.append(f"  {s.rank:>4}  {s.label:<22} {s.kind:<5} {_rate(s.measured_gbps):>9} "
                         f"{_rate(s.expected_gbps):>9} {_interval(s.interval_gbps):>19} "
                         f"{s.shortfall:>6.0%} {s.confidence or 0:>5.2f}  "
                         f"{_confirmation_text(s.confirmation)}")
    group = (doc.confirmation or {}).get("group")
    if group:
        lines.append(f"# all {len(doc.nodes)} nodes: all_reduce busbw {group['all_nodes_gbps']:.4g} GB/s; without "
                     f"the suspect nodes ({group['nodes_without']}): {group['without_suspects_gbps']:.4g} GB/s: "
                     f"{'restored' if group['restores'] else 'NOT restored'}")
    if doc.confirmation:
        lines.append(f"# confirmation: {doc.confirmation['measurements']} extra all_reduce measurements")
    lines.append(f"# {'node':<16} {'capacity':>9} {'95% interval':>19} {'median':>9} {'pairs':>5}  (GB/s, "
                 f"lowest capacity first)")
    for node in sorted(doc.nodes, key=lambda n: n.capacity_gbps if n.capacity_gbps is not None else 0):
        lines.append(f"  {node.node:<16} {_rate(node.capacity_gbps):>9} {_interval(node.interval_gbps):>19} "
                     f"{_rate(node.median_gbps):>9} {node.partners:>5}"
                     + ("  SUSPECT" if node.suspect else "  uncertain" if node.flagged else ""))
    for node, found in doc.intra.items():
        caps = ", ".join(f"{n.node.split(':')[-1]} {_rate(n.capacity_gbps)}" for n in found.nodes)
        named = ", ".join(s.label for s in found.suspects) or "none"
        lines.append(f"# inside {node}: GPU capacities (GB/s) {caps}; suspects: {named}")
    count = len(doc.suspects)
    verdict = f"{count} suspect(s)" if count else "healthy: no suspect"
    lines.append(f"# doctor: {verdict} (exit {exit_status}); {path}")
    return "\n".join(lines)


def doctor_views(doc: DoctorResult):
    """The report's doctor section: a sentence, the suspects and the nodes as DataFrames."""
    suspects = pd.DataFrame([{
        "rank": s.rank, "suspect": s.label, "kind": s.kind, "measured GB/s": s.measured_gbps,
        "expected GB/s": s.expected_gbps, "95% interval": _interval(s.interval_gbps),
        "shortfall": f"{s.shortfall:.0%}", "confidence": s.confidence,
        "confirmation": _confirmation_text(s.confirmation)} for s in doc.suspects])
    nodes = pd.DataFrame([{
        "node": n.node, "capacity GB/s": n.capacity_gbps, "95% interval": _interval(n.interval_gbps),
        "median GB/s": n.median_gbps, "pairs": n.partners,
        "verdict": "suspect" if n.suspect else "uncertain" if n.flagged else ""}
        for n in sorted(doc.nodes, key=lambda n: n.capacity_gbps or 0)])
    count = len(doc.suspects)
    sentence = (f"{len(doc.node_names)} nodes, {doc.rounds.get('why', '')}, "
                f"{doc.passes} pass(es) of sendrecv and all_reduce of {size(doc.size_bytes or 0)} per "
                f"pair; "
                f"reference {_rate(doc.reference_gbps)} GB/s; "
                + (f"{count} suspect(s), most suspect first." if count else "no suspect: healthy."))
    return sentence, suspects, nodes


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

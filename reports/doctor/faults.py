"""Known faults (the emulation's) against the doctor's suspects: found, missed, false
positives. docs/doctor.md (the emulated check)."""
from __future__ import annotations

from .result import DoctorResult, Suspect


def _same(suspect: Suspect, fault: dict) -> bool:
    if suspect.kind != fault["kind"]:
        return False
    return suspect.node == fault["node"] if fault["kind"] == "node" else sorted(suspect.nodes) == sorted(
        fault["nodes"])


def check_faults(doc: DoctorResult, faults: list[dict]) -> dict:
    """Known faults (the emulation's) against the doctor's suspects: each fault found (at
    which rank, its measured rate over the rate the fault allows) or missed; each suspect
    that matches no fault a false positive."""
    rows, matched = [], set()
    for fault in faults:
        hit = next((s for s in doc.suspects if _same(s, fault)), None)
        row = {**fault, "found": hit is not None, "rank": hit and hit.rank,
               "measured_gbps": hit and hit.measured_gbps,
               "ratio": hit and hit.measured_gbps / fault["payload_gbps"]}
        rows.append(row)
        if hit:
            matched.add(hit.rank)
    false = [{"suspect": s.label, "kind": s.kind, "rank": s.rank} for s in doc.suspects
             if s.rank not in matched]
    return {"faults": rows, "false_negatives": sum(not r["found"] for r in rows), "false_positives": len(false),
            "unexpected_suspects": false}

"""nccl-tests `-J FILE` JSON as a Segment, so it is read as the text is."""
from __future__ import annotations

import json

from .evidence import ImportFailure
from .nccl_text import Row, Segment, version_from_code


def _tok(value) -> str:
    return "N/A" if value is None else repr(float(value))


def segment(text: str, path) -> tuple[Segment, list[str]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailure(f"{path}:{exc.lineno}: not JSON ({exc.msg}): give the file written by -J") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ImportFailure(f"{path}: no 'results' list: give the file nccl-tests wrote with -J")
    seg = Segment(first_line=1, columns=["size", "count", "type", "redop", "root", "time", "algbw", "busbw",
                                         "#wrong", "time", "algbw", "busbw", "#wrong"], time_unit="us")
    args = [str(a) for a in doc.get("args") or []]
    if args:
        seg.named.append(args[0])
    for d in doc.get("devices") or []:
        if isinstance(d, dict) and isinstance(d.get("rank"), int):
            seg.ranks[d["rank"]] = (str(d.get("hostname")), str(d.get("device_info") or ""))
        elif isinstance(d, dict):  # an older writer without "rank": in order
            seg.ranks[len(seg.ranks)] = (str(d.get("hostname")), str(d.get("device_info") or ""))
    if isinstance(doc.get("nccl_version"), int):
        seg.versions["nccl"] = version_from_code(doc["nccl_version"])
    for entry in doc.get("env") or []:
        name, _, value = str(entry).partition("=")
        if name.startswith("NCCL_"):
            seg.nccl_env[name] = value
    for i, r in enumerate(doc["results"]):
        try:
            placements = []
            for key, in_place in (("out_of_place", False), ("in_place", True)):
                fig = r.get(key)
                if fig:
                    time = fig.get("time", fig.get("cpu_time"))
                    placements.append((in_place, _tok(time), _tok(fig["alg_bw"]), _tok(fig["bus_bw"]),
                                       "N/A" if fig.get("nwrong") is None else str(int(fig["nwrong"]))))
            root = str(r.get("root", "-1")).strip()
            seg.rows.append(Row(i + 1, int(r["size"]), int(r["count"]), str(r["type"]), r.get("redop"),
                                int(root) if root.lstrip("-").isdigit() else None, placements))
        except (KeyError, TypeError, ValueError) as exc:
            raise ImportFailure(f"{path}: results[{i}] lacks or garbles {exc}: is this nccl-tests -J output?") from None
    return seg, [" ".join(args)] if args else []

"""nccl-tests `-J FILE` JSON as a Segment, so it is read as the text is, and its `-I 1`
per-iteration data (nccl_iters.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from . import nccl_iters
from .evidence import ImportFailure
from .nccl_text import Row, Segment, version_from_code


@dataclass(frozen=True)
class Extras:
    """What the JSON holds beyond the text's table."""
    per_iter: list
    """nccl_iters.PerIter or None per point, in the records' order."""
    devices: list
    """The devices list: one entry per MPI process (its first GPU's Rank line)."""
    ranks_per_process: int
    """config nthreads x ngpus: process p holds ranks p x this on."""


def _tok(value) -> str:
    return "N/A" if value is None else repr(float(value))


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _devices(doc: dict, seg: Segment) -> tuple[list, int]:
    """The devices list (nccl-tests writes it inside "config"; a top-level one is read too)
    into seg.ranks: each entry is one process's first GPU, so with -t/-g above 1 the
    process's other ranks get its host and no GPU name."""
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    devices = config.get("devices") or doc.get("devices") or []
    per_proc = _count(config.get("nthreads")) * _count(config.get("ngpus"))
    for d in devices:
        if not isinstance(d, dict):
            continue
        first = d["rank"] if isinstance(d.get("rank"), int) else len(seg.ranks)  # older writers: in order
        for j in range(per_proc):
            seg.ranks[first + j] = (str(d.get("hostname")), str(d.get("device_info") or "") if j == 0 else "")
    return devices, per_proc


def segment(text: str, path) -> tuple[Segment, list[str], Extras]:
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
    devices, per_proc = _devices(doc, seg)
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
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ImportFailure(f"{path}: results[{i}] lacks or garbles {exc}: is this nccl-tests -J output?") from None
    extras = Extras(nccl_iters.read(doc, path), devices, per_proc)
    return seg, [" ".join(args)] if args else [], extras

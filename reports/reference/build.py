"""The reference set from published logs: each manifest entry (a log, its source URL and
the facts its text does not carry) imported with commscale's own importer, one entry per
run and collective; the same run published twice kept once.

Rules (docs/normal.md says them to users):
- a run's points are its `ok` rows above 0 bytes; of nccl-tests' two columns the
  out-of-place one (nccl-tests' own headline), in-place where only that is printed;
- a run is left out, with the reason kept in `left_out`, when the manifest says why
  (a functional test, a run its publisher calls broken), when its rank or node count is
  unknown, when it has one rank (busbw is 0 by definition), or when no point is ok;
- two runs with the same fingerprint (collective, ranks and every (size, time) row) are
  one run published twice: the first in manifest order is kept, the other listed as left out.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..importers import ImportFailure, parse
from .devices import classify, device_name
from .entries import NETWORK_CLASSES, Entry

MANIFEST_KEYS = ("path", "format", "flags", "url", "publisher", "system", "device", "memory", "gpus_per_node",
                 "network", "network_class", "software", "evidence", "exclude")


def fingerprint(collective: str, nranks, rows) -> str:
    """The same run, wherever it was published: its collective, ranks and (size, time) rows."""
    text = f"{collective}|{nranks}|" + ";".join(f"{int(s)}:{float(t):.6g}" for s, t in sorted(rows))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chosen_points(points: list[dict]) -> list[dict]:
    """The ok points above 0 bytes, one per size: out-of-place where both columns exist."""
    ok = [p for p in points if p.get("status") == "ok" and (p.get("size_bytes") or 0) > 0
          and (p.get("busbw_gbps") or 0) > 0 and p.get("time_us_mean")]
    by_size: dict[int, dict] = {}
    for p in ok:
        have = by_size.get(p["size_bytes"])
        if have is None or (have.get("in_place") and p.get("in_place") is False):
            by_size[p["size_bytes"]] = p
    return [by_size[s] for s in sorted(by_size)]


def check_manifest(manifest: list[dict]) -> None:
    """Every entry has every key, a known network class and a pinned URL; paths are unique."""
    seen = set()
    for e in manifest:
        missing = [k for k in MANIFEST_KEYS if k not in e]
        if missing:
            raise ValueError(f"manifest entry {e.get('path')!r} lacks {', '.join(missing)}")
        if e["network_class"] not in NETWORK_CLASSES:
            raise ValueError(f"{e['path']}: network_class {e['network_class']!r} is not one of {NETWORK_CLASSES}")
        if "/blob/" not in e["url"] and "/commit" not in e["url"]:
            raise ValueError(f"{e['path']}: url {e['url']!r} is not pinned to a commit")
        if e["path"] in seen:
            raise ValueError(f"{e['path']}: listed twice in the manifest")
        seen.add(e["path"])


def build(manifest: list[dict], root: Path, leave_out: tuple[str, ...] = ()) -> dict:
    """published.json's document from the manifest; `leave_out`: paths not to read (a test
    that holds one log out)."""
    check_manifest(manifest)
    entries, left_out, seen = [], [], {}
    for item in manifest:
        if item["path"] in leave_out:
            left_out.append({"path": item["path"], "why": "held out by the caller"})
            continue
        if item["exclude"]:
            left_out.append({"path": item["path"], "why": item["exclude"]})
            continue
        try:
            runs = parse(Path(root) / item["path"], item["format"], dict(item["flags"]))
        except ImportFailure as exc:
            left_out.append({"path": item["path"], "why": f"the importer refused it: {exc}"})
            continue
        for run in runs:
            entry, why = _entry(item, run)
            rid = f"{item['path']}#{run['label']}"
            if entry is None:
                left_out.append({"path": rid, "why": why})
            elif entry.fingerprint in seen:
                left_out.append({"path": rid, "why": f"the same run as {seen[entry.fingerprint]} (identical rows)"})
            else:
                seen[entry.fingerprint] = entry.id
                entries.append(entry)
    return {"notes": _notes(manifest, entries, left_out), "entries": [e.to_json() for e in entries],
            "left_out": left_out}


def _entry(item: dict, run: dict) -> tuple[Entry | None, str]:
    nranks, nnodes = run.get("nranks"), run.get("nnodes")
    if not nranks or not nnodes:
        return None, f"{'ranks' if not nranks else 'nodes'} unknown: the log does not say and the source gives no flag"
    if nranks < 2:
        return None, "one rank: busbw is 0 by definition"
    points = chosen_points(run["points"])
    if not points:
        return None, "no ok point above 0 bytes"
    meta = run["meta"]
    dev = classify(item["device"] or device_name(meta), item["memory"])
    per_node = item["gpus_per_node"] or (nranks // nnodes if nranks % nnodes == 0 else None)
    tool = meta.get("tool") or item["format"]
    version = meta.get("tool_version")
    return Entry(
        id=f"{item['path']}#{run['label']}", url=item["url"], publisher=item["publisher"], system=item["system"],
        device=dev.name, vendor=dev.vendor, generation=dev.generation, memory=item["memory"],
        collective=run["collective"], tool=f"{tool} {version}" if version else tool, nranks=int(nranks),
        nnodes=int(nnodes), gpus_per_node=per_node, network=item["network"],
        network_class="none" if nnodes == 1 else item["network_class"],
        software={**({"nccl": meta["nccl_version"]} if meta.get("nccl_version") else {}), **item["software"]},
        in_place=points[0].get("in_place"), sizes_bytes=tuple(int(p["size_bytes"]) for p in points),
        busbw_gbps=tuple(round(float(p["busbw_gbps"]), 4) for p in points),
        fingerprint=fingerprint(run["collective"], nranks, [(p["size_bytes"], p["time_us_mean"]) for p in points]),
        source_file=meta.get("source_file", ""), source_sha256=meta.get("sha256", "")), ""


def _notes(manifest: list[dict], entries: list[Entry], left_out: list[dict]) -> dict:
    return {"built_by": "python -m benchmarks.reference_set",
            "manifest": "benchmarks/published/reference_sources.json",
            "logs": len(manifest), "entries": len(entries), "left_out": len(left_out),
            "publishers": len({e.publisher for e in entries}),
            "points": "ok rows above 0 bytes; out-of-place busbw where nccl-tests prints both columns",
            "dedup": "one entry per fingerprint (collective, ranks, every (size, time) row): a run published "
                     "twice is kept once, the first in manifest order"}

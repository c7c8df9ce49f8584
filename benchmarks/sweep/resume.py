"""`--resume DIR`: finish an interrupted run, measuring only the points it lacks.

The sweep is DIR's own, rebuilt from its meta.json; flags that would change what is
measured are refused unless they agree with it. Points already in records.jsonl are
matched by what identifies a point (collective, dtype, op, placement, group, size as
recorded), counted with multiplicity, so a resumed run ends with exactly the points of an
uninterrupted one: no duplicates, no gaps. The records keep DIR's run_id.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from collectives.records import META_FILE, RECORDS_FILE, load_meta, read_records

from ..errors import UsageError
from .config import RunConfig

#: RunConfig fields that decide what is measured; the others (timeout, out) may change.
SWEEP_FIELDS = ("backend", "device", "collectives", "dtypes", "ops", "in_place", "sizes", "ranks", "nodes",
                "warmup", "iters", "iters_budget_s", "cuda_graph", "layouts", "fabric", "timing", "domain_size", "domain_file")
LATER_FIELDS = {"layouts": ["full"], "fabric": "auto", "timing": "call", "domain_size": None, "domain_file": None}
"""Sweep fields newer than the first meta.json, with the value a run without them had."""

PointKey = tuple


def resumable_meta(run_dir: Path) -> dict:
    """DIR's meta.json, or a usage error saying why there is no run to resume."""
    try:
        meta = load_meta(run_dir)
    except FileNotFoundError:
        raise UsageError(f"--resume {run_dir}: no {META_FILE} there, so no run to resume: "
                         f"give the directory of an interrupted run") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--resume {run_dir}: cannot read {META_FILE} ({exc}): "
                         f"resume a run whose meta.json is intact, or start a new one") from None
    if not isinstance(meta.get("config"), dict):
        raise UsageError(f"--resume {run_dir}: {META_FILE} has no run configuration: "
                         f"resume a run written by 'commscale run'")
    return meta


def resumed_config(asked: RunConfig, defaults: RunConfig, run_dir: Path) -> RunConfig:
    """DIR's sweep, with this command's timeout. A flag that differs from its default and
    from DIR's value is a usage error naming it."""
    meta = resumable_meta(run_dir)
    stored = {**LATER_FIELDS, **meta["config"]}
    missing = [f for f in SWEEP_FIELDS if f not in stored]
    if missing:
        raise UsageError(f"--resume {run_dir}: {META_FILE} lacks {', '.join(missing)}: "
                         f"it was written by another commscale; start a new run")
    values = {f: tuple(stored[f]) if isinstance(stored[f], list) else stored[f] for f in SWEEP_FIELDS}
    for name in SWEEP_FIELDS:
        mine = getattr(asked, name)
        if mine != getattr(defaults, name) and mine != values[name]:
            raise UsageError(f"--resume {run_dir} measures that run's sweep ({name} {values[name]!r}) but this "
                             f"command asks {name} {mine!r}: drop that flag, or start a new run with --out")
    return replace(asked, **values, out=Path(run_dir).resolve(), resume=True)


def repair_cut_line(run_dir: Path) -> None:
    """If records.jsonl ends in a line cut short by a kill, cut it off, so appended records
    start on a line of their own (read_records has reported it)."""
    path = Path(run_dir) / RECORDS_FILE
    if not path.exists():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    keep = data.rfind(b"\n") + 1
    tail = data[keep:]
    try:
        json.loads(tail)
    except ValueError:
        print(f"commscale: warning: {path}: dropping a last line cut short ({len(tail)} bytes) before resuming",
              file=sys.stderr, flush=True)
        with open(path, "r+b") as f:
            f.truncate(keep)
        return
    with open(path, "ab") as f:  # a whole record that only lacks its newline
        f.write(b"\n")


def point_key(collective: str, dtype: str, reduce_op: str | None, in_place: bool, nranks: int, nnodes: int,
              size_bytes: int) -> PointKey:
    """What identifies a point of a sweep; the sweep and the records agree through it."""
    return (collective, dtype, reduce_op, bool(in_place), nranks, nnodes, size_bytes)


def record_key(record: dict) -> PointKey:
    return point_key(record["collective"], record["dtype"], record["reduce_op"], record["in_place"],
                     record["nranks"], record["nnodes"], record["size_bytes"])


def done_points(run_dir: Path) -> Counter:
    """Points already recorded in DIR, with multiplicity."""
    path = Path(run_dir) / RECORDS_FILE
    if not path.exists():
        return Counter()
    repair_cut_line(run_dir)
    try:
        return Counter(record_key(r) for r in read_records(path))
    except ValueError as exc:
        raise UsageError(f"--resume {run_dir}: {exc}: repair or remove that line, or start a new run") from None

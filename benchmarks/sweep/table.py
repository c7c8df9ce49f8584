"""Rank 0's live output: an nccl-tests-style table with units, and progress with an ETA.

Printed for people; the records are the storage format. The whole table also goes to
OUT/sweep.txt; with COMMSCALE_TABLE=brief (the dry run and the emulation without -v) the
terminal gets one line per block of points (a collective on a group), plus every point
that is not ok, instead of a row per point.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

from collectives.sizes import format_size

_COLUMNS = (
    ("size", 10), ("count", 11), ("type", 8), ("redop", 5), ("place", 5),
    ("time_us", 10), ("algbw_gbps", 10), ("busbw_gbps", 10), ("#wrong", 6), ("status", 7),
)
# A point's expected cost for the ETA: a fixed latency share plus its bytes on all ranks.
_LATENCY_BYTES = 64 << 10


def _weight(size_bytes: int, nranks: int) -> float:
    return _LATENCY_BYTES + size_bytes * nranks


TABLE_FILE = "sweep.txt"
"""The sweep's table, beside the records."""


def brief_wanted() -> bool:
    """COMMSCALE_TABLE=brief: one line per block on the terminal (the dry run sets it unless -v)."""
    return os.environ.get("COMMSCALE_TABLE", "").strip().lower() == "brief"


@dataclass
class _Block:
    """brief: the block (a collective on a group) being measured, for its one line."""
    label: str
    points: int = 0
    ok: int = 0
    peak_busbw_gbps: float | None = None
    peak_size_bytes: int | None = None


class Printer:
    def __init__(self, planned: list[tuple[int, int]], stream=sys.stdout, table=None, brief: bool = False):
        """`planned`: (size_bytes, nranks) of every point in the run, for the ETA; `table`:
        a file the whole table is appended to; `brief`: the terminal gets a line per block."""
        self.stream = stream
        self.table = table
        self.brief = brief
        self.total_points = len(planned)
        self.total_weight = sum(_weight(s, p) for s, p in planned) or 1.0
        self.done_points = 0
        self.done_weight = 0.0
        self.start = time.monotonic()
        self.block: _Block | None = None

    def _print(self, text: str, terminal: bool = True) -> None:
        if terminal:
            print(text, file=self.stream, flush=True)
        if self.table is not None and not self.table.closed:
            print(text, file=self.table, flush=True)

    def header(self, collective: str, nranks: int, nnodes: int, fabric: str) -> None:
        terminal = not self.brief
        self._print(f"#\n# {collective}  nranks {nranks}  nnodes {nnodes}  fabric {fabric}"
                    "  (time: max over ranks, mean of iterations; GB/s = 1e9 B/s)", terminal)
        self._print("# " + " ".join(f"{name:>{width}}" for name, width in _COLUMNS), terminal)
        self.block = _Block(f"{collective} {nranks} ranks, {nnodes} node(s), {fabric}")

    def row(self, rec: dict) -> None:
        def num(key, fmt):
            return format(rec[key], fmt) if rec.get(key) is not None else "-"
        cells = (
            format_size(rec["size_bytes"]), rec["count"] if rec["count"] is not None else "-",
            rec["dtype"], rec["reduce_op"] or "-", "in" if rec["in_place"] else "out",
            num("time_us_mean", ".2f"), num("algbw_gbps", ".3f"), num("busbw_gbps", ".3f"),
            rec["n_wrong"] if rec["n_wrong"] is not None else "-", rec["status"],
        )
        bad = rec["status"] != "ok"
        self._print("  " + " ".join(f"{str(c):>{w}}" for c, (_, w) in zip(cells, _COLUMNS)), not self.brief or bad)
        if bad and rec.get("reason"):
            self._print(f"#   {rec['status']}: {rec['reason']}")
        self._count(rec, bad)
        self.done_points += 1
        self.done_weight += _weight(rec["size_bytes"] or 0, rec["nranks"])

    def _count(self, rec: dict, bad: bool) -> None:
        block = self.block
        if block is None:
            return
        block.points += 1
        block.ok += not bad
        bw = rec.get("busbw_gbps")
        if not bad and bw is not None and (block.peak_busbw_gbps is None or bw > block.peak_busbw_gbps):
            block.peak_busbw_gbps, block.peak_size_bytes = bw, rec["size_bytes"]

    def progress(self) -> None:
        elapsed = time.monotonic() - self.start
        frac = min(self.done_weight / self.total_weight, 1.0)
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        line = f"progress {self.done_points}/{self.total_points} points, elapsed {elapsed:.1f} s, ETA {eta:.1f} s"
        self._print(f"# {line}", not self.brief)
        block = self.block
        if self.brief and block is not None:
            best = (f", peak busbw {block.peak_busbw_gbps:.3g} GB/s at {format_size(block.peak_size_bytes)}"
                    if block.peak_busbw_gbps is not None else "")
            print(f"# {block.label}: {block.ok} of {block.points} points ok{best}; {line}", file=self.stream,
                  flush=True)

    def note(self, text: str) -> None:
        self._print(f"# {text}")

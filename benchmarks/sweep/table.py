"""Rank 0's live output: an nccl-tests-style table with units, and progress with an ETA.

Printed for people; the records are the storage format.
"""
from __future__ import annotations

import sys
import time

from collectives.sizes import format_size

_COLUMNS = (
    ("size", 10), ("count", 11), ("type", 8), ("redop", 5), ("place", 5),
    ("time_us", 10), ("algbw_gbps", 10), ("busbw_gbps", 10), ("#wrong", 6), ("status", 7),
)
# A point's expected cost for the ETA: a fixed latency share plus its bytes on all ranks.
_LATENCY_BYTES = 64 << 10


def _weight(size_bytes: int, nranks: int) -> float:
    return _LATENCY_BYTES + size_bytes * nranks


class Printer:
    def __init__(self, planned: list[tuple[int, int]], stream=sys.stdout):
        """`planned`: (size_bytes, nranks) of every point in the run, for the ETA."""
        self.stream = stream
        self.total_points = len(planned)
        self.total_weight = sum(_weight(s, p) for s, p in planned) or 1.0
        self.done_points = 0
        self.done_weight = 0.0
        self.start = time.monotonic()

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def header(self, collective: str, nranks: int, nnodes: int, fabric: str) -> None:
        self._print(f"#\n# {collective}  nranks {nranks}  nnodes {nnodes}  fabric {fabric}"
                    "  (time: max over ranks, mean of iterations; GB/s = 1e9 B/s)")
        self._print("# " + " ".join(f"{name:>{width}}" for name, width in _COLUMNS))

    def row(self, rec: dict) -> None:
        def num(key, fmt):
            return format(rec[key], fmt) if rec.get(key) is not None else "-"
        cells = (
            format_size(rec["size_bytes"]), rec["count"] if rec["count"] is not None else "-",
            rec["dtype"], rec["reduce_op"] or "-", "in" if rec["in_place"] else "out",
            num("time_us_mean", ".2f"), num("algbw_gbps", ".3f"), num("busbw_gbps", ".3f"),
            rec["n_wrong"] if rec["n_wrong"] is not None else "-", rec["status"],
        )
        self._print("  " + " ".join(f"{str(c):>{w}}" for c, (_, w) in zip(cells, _COLUMNS)))
        if rec["status"] != "ok" and rec.get("reason"):
            self._print(f"#   {rec['status']}: {rec['reason']}")
        self.done_points += 1
        self.done_weight += _weight(rec["size_bytes"] or 0, rec["nranks"])

    def progress(self) -> None:
        elapsed = time.monotonic() - self.start
        frac = min(self.done_weight / self.total_weight, 1.0)
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        self._print(f"# progress {self.done_points}/{self.total_points} points, "
                    f"elapsed {elapsed:.1f} s, ETA {eta:.1f} s")

    def note(self, text: str) -> None:
        self._print(f"# {text}")

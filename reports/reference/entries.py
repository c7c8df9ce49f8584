"""The reference set: published runs shipped as data (`data/published.json`, written by
`python -m benchmarks.reference_set` from the real logs in tests/fixtures/real), read back
as typed entries."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "data" / "published.json"
NETWORK_CLASSES = ("ib", "roce", "efa", "slingshot", "tcpx", "tcp", "omnipath", "nvlink-domain", "none", "unknown")
"""The network classes an entry (and a run) is matched on; 'none' is one node."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One published run of one collective: who published it, on what, and its busbw per size."""
    id: str
    """'<fixture path>#<run label>': unique in the set."""
    url: str
    """The source, pinned to a commit (and lines, where the log is an excerpt)."""
    publisher: str
    system: str | None
    device: str | None
    vendor: str | None
    generation: str | None
    memory: str
    """'device' (GPU buffers) or 'host'."""
    collective: str
    tool: str
    """'nccl-tests', 'OSU micro-benchmarks' or 'IMB-MPI1', with its version where printed."""
    nranks: int
    nnodes: int
    gpus_per_node: int | None
    network: str | None
    """As the source states it."""
    network_class: str
    software: dict = field(default_factory=dict)
    in_place: bool | None = None
    """Which of nccl-tests' two columns the points are (out-of-place where both are printed)."""
    sizes_bytes: tuple[int, ...] = ()
    busbw_gbps: tuple[float, ...] = ()
    fingerprint: str = ""
    """Hash of the rows (size, time): two entries with the same one are the same run."""
    source_file: str = ""
    source_sha256: str = ""

    def busbw_at(self, size_bytes: float) -> float | None:
        """busbw at this size: measured, or interpolated in log size between the two measured
        sizes around it; None outside the sizes measured (never extrapolated)."""
        sizes, bw = self.sizes_bytes, self.busbw_gbps
        if not sizes or size_bytes < sizes[0] * 0.99 or size_bytes > sizes[-1] * 1.01:
            return None
        for i, s in enumerate(sizes):
            if abs(s - size_bytes) <= 0.01 * s:
                return bw[i]
            if s > size_bytes:
                lo, hi = sizes[i - 1], s
                w = (math.log(size_bytes) - math.log(lo)) / (math.log(hi) - math.log(lo))
                return bw[i - 1] + w * (bw[i] - bw[i - 1])
        return bw[-1]

    def to_json(self) -> dict:
        d = asdict(self)
        d["sizes_bytes"], d["busbw_gbps"] = list(self.sizes_bytes), list(self.busbw_gbps)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Entry":
        return cls(**{**d, "sizes_bytes": tuple(d.get("sizes_bytes") or ()),
                      "busbw_gbps": tuple(d.get("busbw_gbps") or ())})


@dataclass(frozen=True, slots=True)
class ReferenceSet:
    entries: tuple[Entry, ...]
    left_out: tuple[dict, ...]
    """{'path', 'why'} of every source file or run not in the set."""
    notes: dict
    """How it was built: the command, the dedup rule, the counts."""


def load(path: Path | str = DATA) -> ReferenceSet:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return ReferenceSet(tuple(Entry.from_json(e) for e in doc["entries"]), tuple(doc.get("left_out", ())),
                        doc.get("notes", {}))

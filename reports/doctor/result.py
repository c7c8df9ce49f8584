"""doctor.json as a typed result: DoctorResult.from_json is the one place the file is
read (the doctor's table, the report, the emulation's fault check read it through it),
to_json gives back exactly what was read. The doctor run builds the document round by
round (benchmarks/doctor/doctor.py), so a failure keeps what was measured.
docs/doctor.md describes the fields."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Suspect:
    """A node, link, GPU or GPU link below the reference, ranked (1: most suspect)."""
    kind: str
    """node, link, gpu, gpu_link"""
    index: object
    measured_gbps: float | None
    expected_gbps: float | None
    interval_gbps: list
    confidence: float | None
    shortfall: float | None
    rank: int | None = None
    node: str | None = None
    nodes: list | None = None
    confirmation: dict | None = None
    within: str | None = None

    @property
    def label(self) -> str:
        """node3, node0-node3, node3:gpu5, node3:gpu1-node3:gpu5."""
        return self.node if self.kind in ("node", "gpu") else "-".join(self.nodes)

    @classmethod
    def from_json(cls, doc: dict) -> "Suspect":
        return cls(**{k: doc.get(k) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class NodeCapacity:
    """One node's capacity: the best rate it reached with any partner."""
    node: str
    index: int
    partners: int
    capacity_gbps: float | None
    median_gbps: float | None
    interval_gbps: list
    flagged: bool
    confidence: float | None
    suspect: bool = False

    @classmethod
    def from_json(cls, doc: dict) -> "NodeCapacity":
        return cls(**{k: doc.get(k, cls.__dataclass_fields__[k].default) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DoctorResult:
    """What a doctor's run found: the reference, every node, the suspects (most suspect
    first), the uncertain ones, the confirmation, and per node inside it (intra)."""
    reference_gbps: float | None
    spread_gbps: float | None
    nodes: tuple[NodeCapacity, ...]
    suspects: tuple[Suspect, ...]
    uncertain: tuple[Suspect, ...] = ()
    notes: tuple[str, ...] = ()
    method: dict = field(default_factory=dict)
    confirmation: dict | None = None
    intra: dict = field(default_factory=dict)
    """node name -> DoctorResult of its GPUs"""
    node_names: tuple[str, ...] = ()
    rounds: dict = field(default_factory=dict)
    passes: int | None = None
    size_bytes: int | None = None
    document: dict = field(default_factory=dict, repr=False, compare=False)
    """the file as read, every field (links, pairs, the run's own) for to_json"""

    @property
    def healthy(self) -> bool:
        return not self.suspects

    @classmethod
    def from_json(cls, doc: dict) -> "DoctorResult":
        return cls(reference_gbps=doc.get("reference_gbps"), spread_gbps=doc.get("spread_gbps"),
                   nodes=tuple(NodeCapacity.from_json(n) for n in doc.get("nodes", [])),
                   suspects=tuple(Suspect.from_json(s) for s in doc.get("suspects", [])),
                   uncertain=tuple(Suspect.from_json(s) for s in doc.get("uncertain", [])),
                   notes=tuple(doc.get("notes", [])), method=doc.get("method") or {},
                   confirmation=doc.get("confirmation"),
                   intra={k: cls.from_json(v) for k, v in (doc.get("intra") or {}).items()},
                   node_names=tuple(doc.get("node_names", [])), rounds=doc.get("rounds") or {},
                   passes=doc.get("passes"), size_bytes=doc.get("size_bytes"), document=doc)

    def to_json(self) -> dict:
        return self.document

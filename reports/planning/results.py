"""The crossover and the training plan as typed results: what crossover() and plan()
return, what crossover.json and plan.json hold (to_json, from_json: the one place each is
serialised), and what the tables, figures and sentences read. docs/model.md and
docs/plan.md describe the fields."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

MEASURED = "fit, measured range"
EXTRAPOLATED = "extrapolated"


def _plain(v):
    """numpy scalars as Python numbers (JSON has no numpy)."""
    return v.item() if hasattr(v, "item") else v


@dataclass(frozen=True)
class CrossoverRow:
    """One node count of the crossover table."""
    nnodes: int
    nranks: int
    fabric: str
    tier: str | None
    source: str
    """MEASURED or EXTRAPOLATED"""
    extrapolation: float
    model_error_pct: float | None
    compute_ms: float
    comm_ms: float
    comm_ms_ci: list
    comm_over_compute: float
    bytes_per_message: float
    messages: int
    workload_flops_per_byte: float | None
    needed_flops_per_byte: float | None

    @property
    def measured(self) -> bool:
        return self.source != EXTRAPOLATED


@dataclass(frozen=True)
class CrossoverResult:
    """Where communication overtakes compute (reports/planning/crossover.py)."""
    workload: dict
    collective: str
    model: str
    heldout_mape_pct: float | None
    heldout_note: str | None
    compute_tflops: float
    gpus_per_node: int
    overlap: float
    limit_nodes: int
    measured_nodes: int
    measured_ranks: int
    crossover_nodes: int | None
    crossover_nodes_ci: list
    hidden_crossover_nodes: int | None
    hidden_crossover_nodes_ci: list
    domain_size_nodes: int | None
    crossover_tier: str | None
    crossover_boundary: str | None
    rows: tuple[CrossoverRow, ...] = ()
    gpus_per_node_source: str = "--gpus-per-node"
    """where gpus_per_node came from: the flag, the runs' records, or assumed"""

    def to_json(self) -> dict:
        return _json(asdict(self))

    @classmethod
    def from_json(cls, doc: dict) -> "CrossoverResult":
        return cls(**{**doc, "rows": tuple(CrossoverRow(**r) for r in doc["rows"])})


@dataclass(frozen=True)
class KindCost:
    """One kind of communication (tp, ep, pp, dp) in a step."""
    comm_ms: float
    comm_ms_ci: list
    window_ms: float
    """the compute it can hide under"""
    overlap: float
    exposed_ms: float
    hidden_ms: float


_PLAN_ROW_HEAD = ("nnodes", "nranks", "dp", "microbatches", "extrapolation")
"""what every row has, the layout fitting or not"""


@dataclass(frozen=True)
class PlanRow:
    """One node count of the plan; `problem` set (and the step's figures None) where the
    layout does not fit that node count."""
    nnodes: int
    nranks: int
    dp: int
    microbatches: int
    extrapolation: float | None
    problem: str | None = None
    compute_ms: float | None = None
    bubble: float | None = None
    bubble_ms: float | None = None
    step_ms: float | None = None
    step_ms_ci: list | None = None
    tokens_per_s: float | None = None
    tokens_per_s_ci: list | None = None
    tflops_per_gpu: float | None = None
    mfu: float | None = None
    kinds: dict = field(default_factory=dict)
    """kind -> KindCost"""
    calls: tuple = ()
    """one dict per communication of the step: kind, collective, priced_as, size_bytes, count,
    group_ranks, group_nodes, ranks_per_node, tier, network_share, time_us, source"""

    @property
    def fits(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict:
        head = {k: _plain(getattr(self, k)) for k in _PLAN_ROW_HEAD}
        if self.problem is not None:
            return {**head, "problem": self.problem}
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in (*_PLAN_ROW_HEAD, "problem")}
        body["kinds"] = {k: asdict(v) for k, v in self.kinds.items()}
        body["calls"] = list(self.calls)
        return _json({**head, **body})

    @classmethod
    def from_json(cls, doc: dict) -> "PlanRow":
        kinds = {k: KindCost(**v) for k, v in doc.get("kinds", {}).items()}
        return cls(**{**doc, "kinds": kinds, "calls": tuple(doc.get("calls", ()))})


@dataclass(frozen=True)
class PlanResult:
    """A training step priced per node count (reports/planning/training_plan.py)."""
    workload: dict
    """the llm workload's fields (reports/planning/llm.py: LLM)"""
    params: dict
    step_flops: dict
    compute_tflops: float
    peak_tflops: float
    gpus_per_node: int
    rails: int
    measured_nodes: int
    models: dict
    """collective -> {model, priced_as, factor, measured_ranks_per_node}"""
    first: dict
    """kind -> {exceeds_window_nodes, exposed_nodes}"""
    rows: tuple[PlanRow, ...] = ()
    gpus_per_node_source: str = "--gpus-per-node"
    """where gpus_per_node came from: the flag, the runs' records, or assumed"""
    tp_across_nodes: bool = False
    """tp larger than a node, priced across nodes (--allow-tp-across-nodes)"""

    @property
    def fitting_rows(self) -> list[PlanRow]:
        return [r for r in self.rows if r.fits]

    def to_json(self) -> dict:
        head = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rows"}
        return _json({**head, "rows": [r.to_json() for r in self.rows]})

    @classmethod
    def from_json(cls, doc: dict) -> "PlanResult":
        return cls(**{**doc, "rows": tuple(PlanRow.from_json(r) for r in doc["rows"])})


def _json(v):
    """A result's fields as JSON-ready values: tuples as lists, numpy scalars as numbers."""
    if isinstance(v, dict):
        return {k: _json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json(x) for x in v]
    return _plain(v)

"""A training plan (reports/planning/training_plan.py) from runs' records and compute rates, written to plan.json."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from reports.model.fit import BOOTSTRAP

from ..errors import UsageError
from ..outdirs import write_json
from .crossover import compute_rate, top_nodes
from .fit import check_bootstrap, fit_records

PLAN_FILE = "plan.json"
DEFAULT_NODES = tuple(2 ** i for i in range(13))
"""1, 2, 4, ..., 4096."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanOptions:
    runs: tuple[str, ...]
    """Run directories: records (fitted here) and compute.jsonl."""
    workload: str
    """A training preset or a JSON/YAML file of kind llm (reports/planning/llm.py)."""
    sets: dict = field(default_factory=dict)
    """Workload fields over the preset's or the file's (reports/training.parse_sets)."""
    nodes: tuple[int, ...] = DEFAULT_NODES
    gpu_tflops: float | None = None
    """Compute rate per GPU; None: the best measured GEMM of the workload's dtype."""
    peak_tflops: float | None = None
    """The rate MFU is measured against; None: the compute rate."""
    gpus_per_node: int = 8
    rails: int | None = None
    """Network interfaces per node (None: one per GPU)."""
    backend: str | None = None
    bootstrap: int = BOOTSTRAP
    out: Path | None = None
    """Directory for plan.json; None: the first run."""

    def __post_init__(self):
        if self.gpus_per_node < 1 or not self.nodes or min(self.nodes) < 1 or (self.rails or 1) < 1:
            raise UsageError("--gpus-per-node, --rails and every --nodes count must be at least 1: "
                             "e.g. --nodes 1,2,4,8")
        for flag, v in (("--gpu-tflops", self.gpu_tflops), ("--peak-tflops", self.peak_tflops)):
            if v is not None and v <= 0:
                raise UsageError(f"{flag} {v} must be positive: use e.g. {flag} 400")
        check_bootstrap(self.bootstrap)


def parse_nodes(text: str) -> tuple[int, ...]:
    """--nodes 1,2,8 or 1-64 (powers of two from the first to the last) or a mix."""
    out = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise UsageError(f"--nodes {text!r}: use counts and ranges like 1,2,4 or 1-4096") from None
        if a < 1 or b < a:
            raise UsageError(f"--nodes {text!r}: counts must be at least 1 and ranges low-high")
        k = a
        while k <= b:
            out.add(k)
            k *= 2
        out.add(b)
    return tuple(sorted(out))


def measured_ranks_per_node(used) -> dict:
    """Collective -> the most ranks per node among its points across nodes (where known)."""
    across = used[(used["nnodes"] > 1) & used["ranks_per_node"].notna()]
    return {c: int(v) for c, v in across.groupby("collective")["ranks_per_node"].max().items()}


def run_plan(opts: PlanOptions, fitted=None):
    """Price, print and write the plan. `fitted`: (fits, hierarchical fits) if the caller has them."""
    from reports.planning.pricing import CrossoverError
    from reports.model.fit import usable
    from reports.planning.pricing import with_model_error
    from reports.planning.training_plan import needed_collectives, plan, pricing
    from reports.present.plan_text import format_plan
    from reports.planning.llm import TrainingError, load_training
    try:
        w = load_training(opts.workload, opts.sets)
    except TrainingError as exc:
        raise UsageError(str(exc)) from None
    rate = opts.gpu_tflops or compute_rate(opts.runs, w.dtype)
    df, fits, hier = fit_records(opts.runs, opts.bootstrap, fitted, places=[opts.out])
    wanted = needed_collectives(w, opts.nodes, opts.gpus_per_node)
    used = usable(df)
    try:
        priced = pricing(fits, hier, wanted, opts.backend, w.dtype, ranks_per_node=measured_ranks_per_node(used))
    except CrossoverError as exc:
        raise UsageError(str(exc)) from None
    for name, pr in priced.items():
        nodes = used.loc[used["collective"] == (pr.stand_in or name), "nnodes"].dropna().unique()
        priced[name] = replace(pr, model=with_model_error(pr.model, nodes))
    result = plan(w, priced, rate, opts.peak_tflops or rate, opts.gpus_per_node, opts.nodes,
                  top_nodes(used, opts.gpus_per_node), opts.rails)
    if not result.fitting_rows:
        raise UsageError(f"workload {w.name} fits none of --nodes {','.join(map(str, opts.nodes))} at "
                         f"{opts.gpus_per_node} GPUs per node ({result.rows[0].problem}): change --nodes, "
                         f"--gpus-per-node or the layout")
    path = write_json(opts.out or opts.runs[0], PLAN_FILE, result.to_json())
    print(format_plan(result))
    print(f"# plan: {path}")
    return result

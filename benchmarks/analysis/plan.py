"""A training plan (reports/planning/training_plan.py) from runs' records and compute rates, written to plan.json."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from reports.model.fit import BOOTSTRAP

from ..errors import UsageError
from ..outdirs import claim, say_written, write_json
from .crossover import compute_rate, gpus_per_node_of, say_gpus_per_node, top_nodes
from .fit import check_bootstrap, fit_records
from .records import load_records

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
    out: Path
    """Directory for plan.json (the CLI's default: a new commscale-runs/plan-<time>)."""
    gpu_tflops: float | None = None
    """Compute rate per GPU; None: the best measured GEMM of the workload's dtype."""
    peak_tflops: float | None = None
    """The rate MFU is measured against; None: the compute rate."""
    gpus_per_node: int | None = None
    """None: the runs' own ranks per node (analysis/crossover.py: gpus_per_node_of)."""
    allow_tp_across_nodes: bool = False
    """Price a tp larger than a node across nodes (with a warning) instead of refusing it."""
    rails: int | None = None
    """Network interfaces per node (None: one per GPU)."""
    backend: str | None = None
    bootstrap: int = BOOTSTRAP
    force: bool = False
    """Replace a plan.json already in `out`."""

    def __post_init__(self):
        counts = [1 if self.gpus_per_node is None else self.gpus_per_node, self.rails or 1, *self.nodes]
        if not self.nodes or min(counts) < 1:
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


def _not_a_crossover_preset(name: str) -> None:
    """One name set for both verbs: a preset of the crossover's is sent there."""
    from reports.planning.catalog import preset
    found = preset(name)
    if found is not None and found.verb != "plan":
        raise UsageError(f"workload {name} is one collective ({found.kind}: {found.collective}), priced by commscale "
                         f"crossover: run commscale crossover RUN --workload {name}, or give plan a training step "
                         f"('commscale workloads' lists them)")


def check_tp(w, gpus_per_node: int, source: str, allow: bool) -> bool:
    """Tensor parallelism stays inside a node: a tp larger than a node is refused, or with
    `allow` priced across nodes and said so. True where tp crosses nodes."""
    if w.tp <= gpus_per_node:
        return False
    if not allow:
        raise UsageError(f"workload {w.name}: tp {w.tp} is larger than a node ({gpus_per_node} GPUs per node, "
                         f"{source}), and tensor parallelism stays inside a node: lower it (--set tp="
                         f"{gpus_per_node}), or price it across nodes with --allow-tp-across-nodes")
    print(f"# warning: tp {w.tp} spans {-(-w.tp // gpus_per_node)} nodes of {gpus_per_node} GPUs: its "
          f"communication is priced across nodes, over the network (--allow-tp-across-nodes)", flush=True)
    return True


def run_plan(opts: PlanOptions, fitted=None):
    """Price, print and write the plan. `fitted`: (fits, hierarchical fits) if the caller has them."""
    from reports.model.fit import usable
    from reports.planning.llm import TrainingError, load_training
    from reports.present.plan_text import format_plan
    target = claim(Path(opts.out) / PLAN_FILE, opts.force)
    _not_a_crossover_preset(opts.workload)
    try:
        w = load_training(opts.workload, opts.sets)
    except TrainingError as exc:
        raise UsageError(str(exc)) from None
    df = load_records(opts.runs)
    gpus, source = gpus_per_node_of(usable(df), opts.gpus_per_node)
    across = check_tp(w, gpus, source, opts.allow_tp_across_nodes)
    rate = opts.gpu_tflops or compute_rate(opts.runs, w.dtype)
    result = _priced_plan(opts, w, gpus, rate, fitted, df)
    if not result.fitting_rows:
        raise UsageError(f"workload {w.name} fits none of --nodes {','.join(map(str, opts.nodes))} at "
                         f"{gpus} GPUs per node ({result.rows[0].problem}): change --nodes, "
                         f"--gpus-per-node or the layout")
    result = replace(result, gpus_per_node_source=source, tp_across_nodes=across)
    path = write_json(target.parent, target.name, result.to_json())
    say_gpus_per_node(gpus, source)
    print(format_plan(result))
    say_written(path)
    return result


def _priced_plan(opts: PlanOptions, w, gpus: int, rate: float, fitted, df):
    """The plan of `w` on `gpus` GPUs per node, each collective priced by its fit (of the
    runs' records `df`)."""
    from reports.model.fit import usable
    from reports.planning.pricing import CrossoverError, with_model_error
    from reports.planning.training_plan import needed_collectives, plan, pricing
    df, fits, hier = fit_records(opts.runs, opts.bootstrap, fitted, places=[opts.out], df=df)
    wanted = needed_collectives(w, opts.nodes, gpus)
    used = usable(df)
    try:
        priced = pricing(fits, hier, wanted, opts.backend, w.dtype, ranks_per_node=measured_ranks_per_node(used))
    except CrossoverError as exc:
        raise UsageError(str(exc)) from None
    for name, pr in priced.items():
        nodes = used.loc[used["collective"] == (pr.stand_in or name), "nnodes"].dropna().unique()
        priced[name] = replace(pr, model=with_model_error(pr.model, nodes))
    return plan(w, priced, rate, opts.peak_tflops or rate, gpus, opts.nodes, top_nodes(used, gpus), opts.rails)

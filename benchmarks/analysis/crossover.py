"""The node count where communication overtakes compute for a workload
(reports/planning/crossover.py), from runs' records and compute rates, written to crossover.json."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from reports.model.fit import BOOTSTRAP

from ..errors import UsageError
from ..outdirs import claim, say_written, write_json
from .fit import check_bootstrap, fit_records

CROSSOVER_FILE = "crossover.json"
WORKLOAD_FIELDS = ("params", "bytes_per_param", "global_tokens", "tokens", "hidden", "top_k", "bytes_per_element",
                   "layers", "flops_per_token", "scaling", "dtype", "overlap")
"""Workload fields a caller may set over the preset's or the file's (None: keep theirs)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossoverOptions:
    runs: tuple[str, ...]
    """Run directories: records (fitted here unless given) and compute.jsonl."""
    workload: str
    """A preset name, a kind, or a JSON/YAML file (reports/planning/workloads.py)."""
    overrides: dict = field(default_factory=dict)
    """WORKLOAD_FIELDS over the workload's own values (None values ignored)."""
    gpu_tflops: float | None = None
    """Compute rate per GPU; None: the best measured GEMM of the workload's dtype."""
    out: Path
    """Directory for crossover.json (the CLI's default: a new commscale-runs/crossover-<time>)."""
    gpus_per_node: int | None = None
    """None: the runs' own ranks per node (gpus_per_node_of)."""
    limit: int = 4096
    """Largest node count considered."""
    backend: str | None = None
    """Which backend's fit, if the runs have several."""
    bootstrap: int = BOOTSTRAP
    force: bool = False
    """Replace a crossover.json already in `out`."""

    def __post_init__(self):
        unknown = set(self.overrides) - set(WORKLOAD_FIELDS)
        if unknown:
            raise ValueError(f"not workload fields: {', '.join(sorted(unknown))}")
        if (self.gpus_per_node is not None and self.gpus_per_node < 1) or self.limit < 1:
            raise UsageError("--gpus-per-node and --limit must be at least 1: use e.g. --gpus-per-node 8 --limit 4096")
        if self.gpu_tflops is not None and self.gpu_tflops <= 0:
            raise UsageError(f"--gpu-tflops {self.gpu_tflops} must be positive: use e.g. --gpu-tflops 400")
        check_bootstrap(self.bootstrap)


def compute_rate(runs, dtype: str) -> float:
    """Best measured GEMM TFLOP/s of `dtype` in the runs' compute.jsonl."""
    from reports.runs.load import load_compute
    rates = [r["tflops"] for run in runs for r in load_compute(run) if r["kind"] == "gemm" and r["dtype"] == dtype]
    if not rates:
        raise UsageError(f"no GEMM rate for {dtype} in {', '.join(map(str, runs))}: run 'commscale compute -d {dtype} "
                         f"--out RUN' or pass --gpu-tflops")
    return max(rates)


ASSUMED_GPUS_PER_NODE = 8
"""GPUs per node where neither --gpus-per-node nor the runs say (an 8-GPU server)."""


def gpus_per_node_of(used, given: int | None) -> tuple[int, str]:
    """(GPUs per node, where that came from): --gpus-per-node, else the most ranks per
    node the runs measured (their records' ranks_per_node, or ranks over nodes), else
    ASSUMED_GPUS_PER_NODE, said to be assumed."""
    if given is not None:
        return given, "--gpus-per-node"
    known = used["ranks_per_node"].dropna()
    if len(known):
        return int(known.max()), "the runs' ranks per node"
    both = used.dropna(subset=["nnodes"])
    if len(both):
        return int((both["nranks"] // both["nnodes"]).max()), "the runs' ranks over their nodes"
    return ASSUMED_GPUS_PER_NODE, ("assumed: the runs do not say how many ranks a node ran; "
                                   "set --gpus-per-node")


def say_gpus_per_node(gpus: int, source: str) -> None:
    print(f"# GPUs per node: {gpus} ({source})", flush=True)


def top_nodes(used, gpus_per_node: int) -> int:
    """The largest measured scale in nodes; where no record knows its node count (an
    imported log that does not say), the ranks measured over --gpus-per-node, not a guessed 1."""
    top = used["nnodes"].max()
    return int(top) if pd.notna(top) else max(1, int(used["nranks"].max()) // gpus_per_node)


def run_crossover(opts: CrossoverOptions, fitted=None):
    """Find, print and write the crossover. `fitted`: (fits, hierarchical fits) of these
    runs when the caller has them already."""
    from reports.planning.crossover import crossover
    from reports.present.crossover_text import format_crossover
    from reports.planning.pricing import CrossoverError, choose_model, with_model_error
    from reports.model.fit import usable
    from reports.planning.workloads import WorkloadError, load_workload
    try:
        workload = load_workload(opts.workload, opts.overrides)
    except WorkloadError as exc:
        raise UsageError(str(exc)) from None
    target = claim(Path(opts.out) / CROSSOVER_FILE, opts.force)
    rate = opts.gpu_tflops or compute_rate(opts.runs, workload.dtype)
    df, fits, hier = fit_records(opts.runs, opts.bootstrap, fitted, places=[opts.out])
    try:
        model = choose_model(fits, hier, workload.collective, opts.backend, workload.dtype)
    except CrossoverError as exc:
        raise UsageError(str(exc)) from None
    used = usable(df)
    gpus, source = gpus_per_node_of(used, opts.gpus_per_node)
    used = used[used["collective"] == workload.collective]
    model = with_model_error(model, used["nnodes"].dropna().unique())
    result = crossover(workload, model, rate, gpus, opts.limit, top_nodes(used, gpus), int(used["nranks"].max()))
    result = replace(result, gpus_per_node_source=source)
    path = write_json(target.parent, target.name, result.to_json())
    say_gpus_per_node(gpus, source)
    print(format_crossover(result))
    say_written(path)
    return result

"""`commscale crossover RUN ... --workload NAME|FILE`: the node count where communication
overtakes compute (reports/crossover.py), written to crossover.json."""
from __future__ import annotations

import pandas as pd

import json

from .config import make_out_dir
from .errors import EXIT_OK, UsageError
from .fit_cmd import load_records

CROSSOVER_FILE = "crossover.json"


def add_parser(sub) -> None:
    from reports.workloads import PRESETS
    p = sub.add_parser("crossover", help="the node count where communication overtakes compute for a workload",
                       description="Predict compute and communication time per step from 1 node up to --limit "
                                   "and find where communication exceeds compute.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories: records (fitted here) and compute.jsonl")
    p.add_argument("--workload", required=True, help=f"a preset ({', '.join(PRESETS)}) or a JSON/YAML file")
    g = p.add_argument_group("workload fields (override the preset or file)")
    for flag in ("params", "bytes-per-param", "global-tokens", "tokens", "hidden", "top-k", "bytes-per-element",
                 "layers", "flops-per-token"):
        g.add_argument(f"--{flag}", type=float)
    g.add_argument("--scaling", choices=("strong", "weak"))
    g.add_argument("--dtype", help="GEMM dtype whose measured rate is used [the workload's, bfloat16]")
    g.add_argument("--overlap", type=float, help="fraction of compute that hides communication [per kind]")
    g = p.add_argument_group("machine")
    g.add_argument("--gpu-tflops", type=float, help="compute rate per GPU [best measured GEMM of the dtype]")
    g.add_argument("--gpus-per-node", type=int, default=8, help="GPUs (ranks) per node [8]")
    g.add_argument("--limit", type=int, default=4096, help="largest node count considered [4096]")
    g.add_argument("--backend", help="which backend's fit, if the runs have several")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap samples for the intervals [1000]")
    p.add_argument("--out", help="directory for crossover.json [the first RUN]")


def compute_rate(runs, dtype: str) -> float:
    """Best measured GEMM TFLOP/s of `dtype` in the runs' compute.jsonl."""
    from reports.load import load_compute
    rates = [r["tflops"] for run in runs for r in load_compute(run) if r["kind"] == "gemm" and r["dtype"] == dtype]
    if not rates:
        raise UsageError(f"no GEMM rate for {dtype} in {', '.join(map(str, runs))}: run 'commscale compute -d {dtype} "
                         f"--out RUN' or pass --gpu-tflops")
    return max(rates)


def run_crossover(args, fitted=None) -> dict:
    """`fitted`: (fits, hierarchical fits) of these runs when the caller has them already."""
    from reports.crossover import CrossoverError, choose_model, crossover, format_crossover
    from reports.fit import fit_frame, fit_hierarchical, usable
    from reports.workloads import WorkloadError, load_workload
    overrides = {k: getattr(args, k, None) for k in ("params", "bytes_per_param", "global_tokens", "tokens", "hidden",
                                                      "top_k", "bytes_per_element", "layers", "flops_per_token",
                                                      "scaling", "dtype", "overlap")}
    try:
        workload = load_workload(args.workload, overrides)
    except WorkloadError as exc:
        raise UsageError(str(exc)) from None
    if args.gpus_per_node < 1 or args.limit < 1:
        raise UsageError("--gpus-per-node and --limit must be at least 1: use e.g. --gpus-per-node 8 --limit 4096")
    if args.gpu_tflops is not None and args.gpu_tflops <= 0:
        raise UsageError(f"--gpu-tflops {args.gpu_tflops} must be positive: use e.g. --gpu-tflops 400")
    if args.bootstrap < 10:
        raise UsageError(f"--bootstrap {args.bootstrap} is too few for an interval: use 100 or more")
    rate = args.gpu_tflops or compute_rate(args.runs, workload.dtype)
    df = load_records(args.runs)
    fits, hier = fitted or (fit_frame(df, args.bootstrap), fit_hierarchical(df, args.bootstrap))
    try:
        model = choose_model(fits, hier, workload.collective, args.backend, workload.dtype)
    except CrossoverError as exc:
        raise UsageError(str(exc)) from None
    used = usable(df)
    used = used[used["collective"] == workload.collective]
    # the largest measured scale in nodes; where no record knows its node count (an imported
    # log that does not say), the ranks measured over --gpus-per-node, not a guessed 1
    top_nodes = used["nnodes"].max()
    top_nodes = int(top_nodes) if pd.notna(top_nodes) else max(1, int(used["nranks"].max()) // args.gpus_per_node)
    result = crossover(workload, model, rate, args.gpus_per_node, args.limit, top_nodes, int(used["nranks"].max()))
    out = make_out_dir(args.out or args.runs[0])
    try:
        (out / CROSSOVER_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r} ({exc.strerror}): choose another --out") from None
    print(format_crossover(result))
    print(f"# crossover: {out / CROSSOVER_FILE}")
    return result


def run(args) -> int:
    run_crossover(args)
    return EXIT_OK

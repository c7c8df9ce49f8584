"""`commscale plan RUN ... --workload NAME|FILE --nodes 1-4096`: a training step of an llm
workload (tensor, pipeline, data and expert parallelism) priced by the measured models at
each node count (benchmarks/analysis/plan.py), written to plan.json."""
from __future__ import annotations

from pathlib import Path

from ..analysis.fit import BOOTSTRAP
from ..analysis.plan import PlanOptions, parse_nodes
from ..errors import EXIT_OK, UsageError


def add_parser(sub):
    from reports.planning.llm import TRAINING_PRESETS
    p = sub.add_parser("plan", help="a training step's compute and each communication, per node count",
                       description="Price a training step (tp, pp, dp/ZeRO, ep) with the fitted models of the "
                                   "collectives it calls, from 1 node up: compute, each communication exposed "
                                   "and hidden, step time, tokens/s, MFU.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories: records (fitted here) and compute.jsonl")
    p.add_argument("--workload", required=True,
                   help=f"a training preset ({', '.join(TRAINING_PRESETS)}) or a JSON/YAML file with kind llm")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="a workload field over the preset's or file's (tp=4, zero=3, overlap.dp=0.5); repeatable")
    p.add_argument("--nodes", default="1-4096", help="node counts: 1,2,4 or 1-4096 (powers of two) [1-4096]")
    g = p.add_argument_group("machine")
    g.add_argument("--gpu-tflops", type=float, help="compute rate per GPU [best measured GEMM of the dtype]")
    g.add_argument("--peak-tflops", type=float, help="the rate MFU is taken against [the compute rate]")
    g.add_argument("--gpus-per-node", type=int, default=8, help="GPUs (ranks) per node [8]")
    g.add_argument("--rails", type=int, help="network interfaces per node: a group with fewer ranks per node than "
                                            "measured crosses nodes through fewer of them [one per GPU]")
    g.add_argument("--backend", help="which backend's fits, if the runs have several")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP,
                   help=f"bootstrap samples for the intervals [{BOOTSTRAP}]")
    p.add_argument("--out", help="directory for plan.json [the first RUN]")
    return p


def options(args) -> PlanOptions:
    from reports.planning.llm import TrainingError, parse_sets
    try:
        sets = parse_sets(args.sets)
    except TrainingError as exc:
        raise UsageError(str(exc)) from None
    return PlanOptions(runs=tuple(args.runs), workload=args.workload, sets=sets, nodes=parse_nodes(args.nodes),
                       gpu_tflops=args.gpu_tflops, peak_tflops=args.peak_tflops, gpus_per_node=args.gpus_per_node,
                       rails=args.rails, backend=args.backend, bootstrap=args.bootstrap,
                       out=Path(args.out) if args.out else None)


def run(args) -> int:
    from ..analysis.plan import run_plan
    run_plan(options(args))
    return EXIT_OK

"""`commscale plan RUN ... --workload NAME|FILE --nodes 1-4096`: a training step of an llm
workload (tensor, pipeline, data and expert parallelism) priced by the measured models at
each node count (benchmarks/analysis/plan.py), written to plan.json."""
from __future__ import annotations

from ..analysis.fit import BOOTSTRAP
from ..analysis.plan import PlanOptions, parse_nodes
from ..errors import EXIT_OK, UsageError
from ..outdirs import analysis_out


def add_parser(sub):
    from reports.planning.llm import TRAINING_PRESETS
    p = sub.add_parser("plan", help="a training step's compute and each communication, per node count",
                       description="Price a training step (tp, pp, dp/ZeRO, ep) with the fitted models of the "
                                   "collectives it calls, from 1 node up: compute, each communication exposed "
                                   "and hidden, step time, tokens/s, MFU.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories: records (fitted here) and compute.jsonl")
    p.add_argument("--workload", required=True,
                   help=f"a training preset ({', '.join(TRAINING_PRESETS)}; 'commscale workloads' lists them with "
                        f"their fields) or a JSON/YAML file with kind llm")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="a workload field over the preset's or file's (tp=4, zero=3, overlap.dp=0.5); repeatable")
    p.add_argument("--nodes", default="1-4096", help="node counts: 1,2,4 or 1-4096 (powers of two) [1-4096]")
    g = p.add_argument_group("machine")
    g.add_argument("--gpu-tflops", type=float, help="compute rate per GPU [best measured GEMM of the dtype]")
    g.add_argument("--peak-tflops", type=float, help="the rate MFU is taken against [the compute rate]")
    g.add_argument("--gpus-per-node", type=int,
                   help="GPUs (ranks) per node [the runs' ranks per node; 8 where they do not say]")
    g.add_argument("--rails", type=int, help="network interfaces per node: a group with fewer ranks per node than "
                                            "measured crosses nodes through fewer of them [one per GPU]")
    g.add_argument("--allow-tp-across-nodes", action="store_true",
                   help="price a tp larger than a node across nodes (with a warning) instead of refusing it")
    g.add_argument("--backend", help="which backend's fits, if the runs have several")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP,
                   help=f"bootstrap samples for the intervals [{BOOTSTRAP}]")
    p.add_argument("--out", help="directory for plan.json [a new commscale-runs/plan-<time>]")
    p.add_argument("--force", action="store_true", help="replace a plan.json already in --out")
    return p


def options(args) -> PlanOptions:
    from reports.planning.llm import TrainingError, parse_sets
    try:
        sets = parse_sets(args.sets)
    except TrainingError as exc:
        raise UsageError(str(exc)) from None
    return PlanOptions(runs=tuple(args.runs), workload=args.workload, sets=sets, nodes=parse_nodes(args.nodes),
                       gpu_tflops=args.gpu_tflops, peak_tflops=args.peak_tflops, gpus_per_node=args.gpus_per_node,
                       rails=args.rails, allow_tp_across_nodes=args.allow_tp_across_nodes, backend=args.backend,
                       bootstrap=args.bootstrap, out=analysis_out("plan", args.out), force=args.force)


def run(args) -> int:
    from ..analysis.plan import run_plan
    run_plan(options(args))
    return EXIT_OK

"""`commscale crossover RUN ... --workload NAME|FILE`: the node count where communication
overtakes compute (benchmarks/analysis/crossover.py), written to crossover.json."""
from __future__ import annotations

from ..analysis.crossover import WORKLOAD_FIELDS, CrossoverOptions, run_crossover
from ..analysis.fit import BOOTSTRAP
from ..errors import EXIT_OK
from ..outdirs import analysis_out


def add_parser(sub):
    from reports.planning.workloads import PRESETS
    p = sub.add_parser("crossover", help="the node count where communication overtakes compute for a workload",
                       description="Predict compute and communication time per step from 1 node up to --limit "
                                   "and find where communication exceeds compute.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories: records (fitted here) and compute.jsonl")
    p.add_argument("--workload", required=True,
                   help=f"a preset ({', '.join(PRESETS)}; 'commscale workloads' lists them with their fields) "
                        f"or a JSON/YAML file")
    g = p.add_argument_group("workload fields (override the preset or file)")
    for flag in ("params", "bytes-per-param", "global-tokens", "tokens", "hidden", "top-k", "bytes-per-element",
                 "layers", "flops-per-token"):
        g.add_argument(f"--{flag}", type=float)
    g.add_argument("--scaling", choices=("strong", "weak"))
    g.add_argument("--dtype", help="GEMM dtype whose measured rate is used [the workload's, bfloat16]")
    g.add_argument("--overlap", type=float, help="fraction of compute that hides communication [per kind]")
    g = p.add_argument_group("machine")
    g.add_argument("--gpu-tflops", type=float, help="compute rate per GPU [best measured GEMM of the dtype]")
    g.add_argument("--gpus-per-node", type=int,
                   help="GPUs (ranks) per node [the runs' ranks per node; 8 where they do not say]")
    g.add_argument("--limit", type=int, default=4096, help="largest node count considered [4096]")
    g.add_argument("--backend", help="which backend's fit, if the runs have several")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP,
                   help=f"bootstrap samples for the intervals [{BOOTSTRAP}]")
    p.add_argument("--out", help="directory for crossover.json [a new commscale-runs/crossover-<time>]")
    p.add_argument("--force", action="store_true", help="replace a crossover.json already in --out")
    return p


def options(args) -> CrossoverOptions:
    return CrossoverOptions(
        runs=tuple(args.runs), workload=args.workload,
        overrides={k: getattr(args, k) for k in WORKLOAD_FIELDS}, gpu_tflops=args.gpu_tflops,
        gpus_per_node=args.gpus_per_node, limit=args.limit, backend=args.backend, bootstrap=args.bootstrap,
        out=analysis_out("crossover", args.out), force=args.force)


def run(args) -> int:
    run_crossover(options(args))
    return EXIT_OK

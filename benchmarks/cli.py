"""The `commscale` command line: parse -> validate (config.py) -> run.

Bad input never shows a traceback: UsageError and argparse errors print one line,
`commscale: error: <problem>: <fix>`, and exit with status 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from .errors import EXIT_OK, EXIT_USAGE, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, no usage dump
        raise UsageError(f"{message}: see 'commscale {self.prog.split()[-1]} --help'")


def _env(name: str, default):
    """Flags fall back to COMMSCALE_<NAME> in the environment (like torchrun's PET_*).
    Defaults stay strings so argparse converts (and rejects) them like typed flags."""
    return os.environ.get(f"COMMSCALE_{name.upper()}", default)


def _add_run_options(p: argparse.ArgumentParser, min_bytes: str, max_bytes: str) -> None:
    g = p.add_argument_group("what to measure")
    g.add_argument("--backend", default=_env("backend", "auto"),
                   help="auto (nccl with GPUs, else gloo), gloo, nccl or mpi [auto]")
    g.add_argument("--device", default=_env("device", "auto"),
                   help="buffers for mpi: cpu, cuda, or auto (cuda if GPUs and CUDA-aware MPI) [auto]")
    g.add_argument("--collectives", "--collective", default=_env("collectives", "all"),
                   help="comma list or 'all': all_reduce,all_to_all,all_gather,reduce_scatter,broadcast,reduce,sendrecv")
    g.add_argument("-d", "--dtype", default=_env("dtype", "float32"),
                   help="comma list of float32,float64,float16,bfloat16,int32,int8 [float32]")
    g.add_argument("-o", "--op", default=_env("op", "sum"), help="reductions: comma list of sum,max,min [sum]")
    g.add_argument("--in-place", default=_env("in_place", "out"), help="out, in or both [out]")
    g = p.add_argument_group("sizes (nccl-tests semantics; 8, 64K, 1M, 1G)")
    g.add_argument("-b", "--min-bytes", default=_env("min_bytes", min_bytes), help=f"smallest size [{min_bytes}]")
    g.add_argument("-e", "--max-bytes", default=_env("max_bytes", max_bytes), help=f"largest size [{max_bytes}]")
    g.add_argument("-f", "--step-factor", default=_env("step_factor", "2"), help="multiply size by this [2]")
    g.add_argument("--sizes", default=_env("sizes", None), help="explicit comma list of sizes (overrides -b/-e/-f)")
    g = p.add_argument_group("groups within one launch")
    g.add_argument("--ranks", default=_env("ranks", None),
                   help="group sizes, e.g. 2,4,8 [powers of two up to the world, and the world]")
    g.add_argument("--nodes", default=_env("nodes", None), help="node counts, ranks grouped by host, e.g. 1,2,4")
    g = p.add_argument_group("timing")
    g.add_argument("-w", "--warmup", type=int, default=_env("warmup", "5"), help="warm-up calls per point [5]")
    g.add_argument("-n", "--iters", default=_env("iters", "20"),
                   help="timed calls per point, or 'auto' (median's 95%% CI within +-1%% or budget spent) [20]")
    g.add_argument("--iters-budget-s", type=float, default=_env("iters_budget_s", "1"),
                   help="time budget per point for --iters auto, seconds [1]")
    g.add_argument("--cuda-graph", action="store_true", help="time CUDA-graph replays (nccl)")
    g.add_argument("--timeout", type=float, default=_env("timeout", "300"),
                   help="seconds a collective may wait before the run fails [300]")
    p.add_argument("--out", default=_env("out", None), help="run directory for records.jsonl and meta.json")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="commscale", description="Measure GPU-cluster collectives (nccl-tests semantics).")
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="sweep collectives in a launch (torchrun, srun, mpiexec or standalone)",
                         description="Sweep collectives; run under torchrun, srun or mpiexec (or alone: 1 rank).")
    _add_run_options(run, "8", "128M")
    dry = sub.add_parser("dryrun", help="the whole pipeline on this machine with CPU ranks",
                         description="Spawn CPU ranks on this machine (gloo, or mpi through mpiexec) and sweep every collective.")
    dry.add_argument("--nproc", type=int, default=_env("nproc", "4"), help="CPU ranks to spawn [4]")
    _add_run_options(dry, "1K", "16M")
    for module in _verb_modules().values():
        module.add_parser(sub)
    return parser


def _verb_modules() -> dict:
    """Verbs that live in their own module: add_parser(sub) and run(args)."""
    from . import compare_cmd, compute, crossover_cmd, fit_cmd, import_cmd, report_cmd
    return {"compute": compute, "fit": fit_cmd, "crossover": crossover_cmd, "import": import_cmd,
            "compare": compare_cmd, "report": report_cmd}


def _cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def _cpu_ranks(args) -> None:
    """The dry run is CPU ranks, GPUs or not: auto means gloo and host buffers."""
    if args.backend.strip().lower() == "auto":
        args.backend = "gloo"
    if args.device.strip().lower() == "cuda":
        raise UsageError("dryrun runs CPU ranks: drop --device cuda (use 'commscale run' on GPU nodes)")
    if args.device.strip().lower() == "auto":
        args.device = "cpu"


def main(argv: list[str] | None = None) -> int:
    rank = next((os.environ[v] for v in ("RANK", "SLURM_PROCID", "PMI_RANK", "OMPI_COMM_WORLD_RANK")
                 if v in os.environ), "0")
    try:
        args = build_parser().parse_args(argv)
        verbs = _verb_modules()
        if args.verb in verbs:
            return verbs[args.verb].run(args)
        from .config import check_out_dir, config_from_args, default_out
        if args.out is None:
            args.out = default_out(args.verb)
        if args.verb == "dryrun":
            _cpu_ranks(args)
        cfg = config_from_args(args, _cuda_available)
        if args.verb == "dryrun":
            from .dryrun import dryrun
            if args.nproc < 1:
                raise UsageError(f"--nproc {args.nproc} must be at least 1: use e.g. --nproc 4")
            if cfg.backend not in ("gloo", "mpi"):
                raise UsageError(f"dryrun runs CPU ranks, not {cfg.backend}: use --backend gloo or mpi (or leave auto)")
            biggest = max(cfg.ranks or [1])
            if biggest > args.nproc:
                raise UsageError(f"--ranks asks for {biggest} ranks but --nproc is {args.nproc}: raise --nproc or lower --ranks")
            if cfg.nodes and max(cfg.nodes) > 1:
                raise UsageError("dryrun runs on one host: use --nodes 1 or --ranks")
            check_out_dir(cfg.out)
            return dryrun(cfg, args.nproc)
        from .launch import detect
        from .sweep import run_sweep
        return run_sweep(cfg, detect(os.environ))
    except UsageError as exc:
        if rank == "0":
            print(f"commscale: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into head or less that exited: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("commscale: interrupted; records measured so far are kept", file=sys.stderr)
        return 130

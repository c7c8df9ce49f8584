"""The `commscale` command line: parse -> validate (config.py) -> run.

Bad input never shows a traceback: UsageError and argparse errors print one line,
`commscale: error: <problem>: <fix>`, and exit with status 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from .errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, report_usage_error
from .options import add_run_options, env_default as _env

USAGE_ERROR_GRACE_S = 2.0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, no usage dump
        raise UsageError(f"{message}: see '{self.prog} --help'")


def version() -> str:
    """The installed distribution's version (setup.cfg), or 'unknown' run from a bare tree."""
    from importlib.metadata import PackageNotFoundError, version as dist_version
    try:
        return dist_version("commscale")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; a flag the verb does not know points at the verb's own help
    (argparse would blame the top-level parser)."""
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        raise UsageError(f"unrecognized arguments: {' '.join(extra)}: see 'commscale {args.verb} --help'")
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="commscale", description="Measure GPU-cluster collectives (nccl-tests semantics).")
    parser.add_argument("--version", action="version", version=f"commscale {version()}")
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="sweep collectives in a launch (torchrun, srun, mpiexec or standalone)",
                         description="Sweep collectives; run under torchrun, srun or mpiexec (or alone: 1 rank).")
    add_run_options(run)
    _add_resume(run)
    dry = sub.add_parser("dryrun", help="the whole pipeline on this machine with CPU ranks",
                         description="Spawn CPU ranks on this machine (gloo, or mpi through mpiexec) and sweep every collective.")
    dry.add_argument("--nproc", type=int, default=_env("nproc", "4"), help="CPU ranks to spawn [4]")
    add_run_options(dry, cpu_only=True, min_bytes="1K", max_bytes="16M")
    _add_resume(dry)
    from .emulate import add_emulate_options
    add_emulate_options(sub.add_parser(
        "emulate", help="sweep over an emulated multi-node network on this machine (root), fit, check the link",
        description="Build one network namespace per node joined by tbf-shaped veth links, run gloo ranks in "
                    "them, fit the model and compare its bandwidth with the link's."))
    for module in _verb_modules().values():
        module.add_parser(sub)
    return parser


def _add_resume(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", metavar="DIR", default=None,
                   help="finish the interrupted run in DIR: its sweep, only the points it lacks")


def _verb_modules() -> dict:
    """Verbs that live in their own module: add_parser(sub) and run(args)."""
    from . import compare_cmd, compute, crossover_cmd, fit_cmd, import_cmd, report_cmd, slurm_cmd
    return {"compute": compute, "fit": fit_cmd, "crossover": crossover_cmd, "import": import_cmd,
            "compare": compare_cmd, "report": report_cmd, "slurm": slurm_cmd}


def _cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def _cpu_ranks(args) -> None:
    """The dry run and the emulation are CPU ranks, GPUs or not: auto means gloo and host buffers."""
    if args.backend.strip().lower() == "auto":
        args.backend = "gloo"
    if args.device.strip().lower() == "cuda":
        raise UsageError(f"{args.verb} runs CPU ranks: drop --device cuda (use 'commscale run' on GPU nodes)")
    if args.device.strip().lower() == "auto":
        args.device = "cpu"


def _resume_out(args) -> None:
    """A resumed run writes where it was: --out may be left out, or name the same place."""
    if not args.resume:
        return
    if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
        raise UsageError(f"--out {args.out} and --resume {args.resume} differ: drop --out (a resumed run "
                         f"writes into the run it resumes)")
    args.out = args.resume


def _default_config(args):
    """The configuration this verb has with no flags: what --resume compares flags against."""
    from .config import config_from_args
    defaults = build_parser().parse_args([args.verb])
    defaults.out = args.out
    if args.verb in ("dryrun", "emulate"):
        _cpu_ranks(defaults)
    return config_from_args(defaults, _cuda_available)


def main(argv: list[str] | None = None) -> int:
    rank = next((os.environ[v] for v in ("RANK", "SLURM_PROCID", "PMI_RANK", "OMPI_COMM_WORLD_RANK")
                 if v in os.environ), "0")
    try:
        args = parse(argv)
        verbs = _verb_modules()
        if args.verb in verbs:
            return verbs[args.verb].run(args)
        from .config import check_out_dir, config_from_args, default_out
        _resume_out(args)
        if args.out is None:
            args.out = default_out(args.verb)
        if args.verb in ("dryrun", "emulate"):
            _cpu_ranks(args)
        cfg = config_from_args(args, _cuda_available)
        if args.resume:
            from .resume import resumed_config
            cfg = resumed_config(cfg, _default_config(args), args.resume)
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
            check_out_dir(cfg.out, cfg.resume)
            return dryrun(cfg, args.nproc)
        if args.verb == "emulate":
            from .emulate import emulate
            return emulate(cfg, args)
        from .launch import detect
        if cfg.fabric == "all":
            from .fabrics import run_each_fabric
            return run_each_fabric(cfg, detect(os.environ))
        from .sweep import run_sweep
        return run_sweep(cfg, detect(os.environ))
    except UsageError as exc:
        if rank == "0" and not exc.reported:
            report_usage_error(exc)
        elif rank != "0" and not exc.reported and "TORCHELASTIC_RUN_ID" in os.environ:
            # Found before the ranks could talk (e.g. MPI sees a world of one): rank 0
            # speaks for all, and torchrun ends every rank as soon as one exits.
            time.sleep(USAGE_ERROR_GRACE_S)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into head or less that exited: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("commscale: interrupted; records measured so far are kept", file=sys.stderr)
        return 130
    except Exception:  # a crash: its traceback once, and a status apart from a data check's 1
        traceback.print_exc()
        return EXIT_FAILED

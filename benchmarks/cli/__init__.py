"""The `commscale` command line: parse -> typed options -> run.

One module per verb in this package, each with `add_parser(sub)` (returns its parser) and
`run(args) -> exit status`, registered once in VERBS. A verb turns its arguments into a
frozen options object (RunConfig, DryrunOptions, EmulateOptions, ComputeOptions, FitOptions,
CrossoverOptions, ImportOptions, CompareOptions, ReportOptions, slurm.render.JobPlan)
before calling the layers below, which never see argparse.

Bad input never shows a traceback: UsageError and argparse errors print one line,
`commscale: error: <problem>: <fix>`, and exit with status 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, report_usage_error
from ..warnings_said import say_once
from . import (compare, compute, crossover, doctor, dryrun, emulate, export, fit, imports, normal, plan, predict,
               report, run, slurm, workloads)

USAGE_ERROR_GRACE_S = 2.0

VERBS = {"run": run, "dryrun": dryrun, "emulate": emulate, "doctor": doctor, "compute": compute, "fit": fit,
         "predict": predict, "export": export,
         "crossover": crossover, "plan": plan, "workloads": workloads, "import": imports, "normal": normal,
         "compare": compare,
         "report": report, "slurm": slurm}
"""Verb name -> its module, in the order --help lists them."""


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="commscale", description="Measure GPU-cluster collectives (nccl-tests semantics).")
    parser.add_argument("--version", action="version", version=f"commscale {version()}")
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    for module in VERBS.values():
        verb_parser = module.add_parser(sub)
        verb_parser.set_defaults(verb_parser=verb_parser)
    return parser


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; a flag the verb does not know points at the verb's own help
    (argparse would blame the top-level parser)."""
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        raise UsageError(f"unrecognized arguments: {' '.join(extra)}: see 'commscale {args.verb} --help'")
    return args


def main(argv: list[str] | None = None) -> int:
    rank = next((os.environ[v] for v in ("RANK", "SLURM_PROCID", "PMI_RANK", "OMPI_COMM_WORLD_RANK")
                 if v in os.environ), "0")
    try:
        args = parse(argv)
        with say_once():
            return VERBS[args.verb].run(args)
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

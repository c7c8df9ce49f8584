"""`commscale dryrun`: the whole pipeline on one machine with CPU ranks.

Starts `--nproc` ranks of `python -m benchmarks run` as torchrun would (or one `mpiexec
-n N` with `--backend mpi`), so they go through the same entry point as on a cluster
(benchmarks/launch/local.py); then measures CPU GEMMs, fits the sweep, finds the crossover
of a small workload and writes the report, all into the run directory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from collectives.records import COMPUTE_FILE

from ..analysis.after_run import fit_or_say_why, print_summary, step_output, write_report
from ..analysis.crossover import CrossoverOptions, run_crossover
from ..analysis.plan import PlanOptions, parse_nodes, run_plan
from ..compute.measure import compute_options, run_compute
from ..errors import UsageError
from ..launch.command import rank_argv
from ..launch.local import run_ranks
from ..launch.outcome import launch_failed, launch_stopped
from ..outdirs import check_out_dir
from ..sweep.config import RunConfig
from ..sweep.table import brief_wanted
from .options import add_resume, add_run_options, env_default, sweep_config

DRYRUN_WORKLOAD = "dryrun-small"
DRYRUN_TRAINING = "dryrun-llm"
"""The dry run's own workload: a small data-parallel model, CPU ranks standing for GPUs."""
DRYRUN_GEMMS = dict(device="cpu", dtype="float32", shapes="256,512", warmup=2, iters=5)
"""The dry run's compute side: two small float32 GEMMs (and the copy), quickly."""


@dataclass(frozen=True, slots=True)
class DryrunOptions:
    nproc: int
    """CPU ranks to start."""

    def check(self, cfg: RunConfig) -> None:
        if self.nproc < 1:
            raise UsageError(f"--nproc {self.nproc} must be at least 1: use e.g. --nproc 4")
        if cfg.backend not in ("gloo", "mpi"):
            raise UsageError(f"dryrun runs CPU ranks, not {cfg.backend}: use --backend gloo or mpi (or leave auto)")
        biggest = max(cfg.ranks or [1])
        if biggest > self.nproc:
            raise UsageError(f"--ranks asks for {biggest} ranks but --nproc is {self.nproc}: raise --nproc or "
                             f"lower --ranks")
        if cfg.nodes and max(cfg.nodes) > 1:
            raise UsageError("dryrun runs on one host: use --nodes 1 or --ranks")


def add_parser(sub):
    p = sub.add_parser("dryrun", help="the whole pipeline on this machine with CPU ranks",
                       description="Spawn CPU ranks on this machine (gloo, or mpi through mpiexec) and sweep every "
                                   "collective.")
    p.add_argument("--nproc", type=int, default=env_default("nproc", "4"), help="CPU ranks to spawn [4]")
    add_run_options(p, cpu_only=True, min_bytes="1K", max_bytes="16M")
    add_resume(p)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print every table (a row per point, the fit, crossover and plan tables); without it they "
                        "go to files in the run directory and the terminal gets a line per step")
    return p


def run(args) -> int:
    if not args.verbose:
        os.environ.setdefault("COMMSCALE_TABLE", "brief")  # the ranks inherit it
    cfg = sweep_config(args, cpu_only=True)
    opts = DryrunOptions(args.nproc)
    opts.check(cfg)
    check_out_dir(cfg.out, cfg.resume)
    return dryrun(cfg, opts)


def dryrun(cfg: RunConfig, opts: DryrunOptions) -> int:
    """The ranks' sweep, then the model. A stop signal (SIGTERM, SIGINT, SIGHUP) goes on to
    the ranks, which keep their records; the model is skipped and the resume line printed."""
    code, signum = run_ranks(rank_argv(cfg), opts.nproc, mpi=cfg.backend == "mpi")
    resume = f"commscale dryrun --backend {cfg.backend} --nproc {opts.nproc}"
    if signum:
        return launch_stopped(cfg.out, signum, resume)
    if code not in (0, 1, 2):
        return launch_failed(cfg.out, code, resume)
    if code != 2:
        from reports.runs.load import load_run
        print_summary(cfg.out, load_run(cfg.out))
        _model(cfg)
    return code


def _model(cfg: RunConfig) -> None:
    """CPU GEMMs, the fit, the crossover of a small workload and the report, all into the
    run directory. A run too small to fit says why; the report is written whatever the
    fit said. In brief (COMMSCALE_TABLE=brief: the dry run without -v) each step's tables
    go to OUT/<step>.txt and the terminal gets its verdict lines."""
    from reports.present.brief_text import brief_crossover, brief_plan
    brief = brief_wanted()
    print("#", flush=True)
    _compute(cfg, brief)
    crossover = CrossoverOptions(runs=(cfg.out,), workload=DRYRUN_WORKLOAD, out=cfg.out, force=True)
    plan = PlanOptions(runs=(cfg.out,), workload=DRYRUN_TRAINING, nodes=parse_nodes("1-64"), out=cfg.out,
                       force=True)

    def then(fitted):
        with step_output(cfg.out, "crossover", brief) as table:
            res = run_crossover(crossover, fitted)
        if table:
            print(f"{brief_crossover(res)}\n#   table: {table}", flush=True)
        print("#", flush=True)
        try:
            with step_output(cfg.out, "plan", brief) as table:
                res = run_plan(plan, fitted)
            if table:
                print(f"{brief_plan(res)}\n#   table: {table}", flush=True)
        except UsageError as exc:
            print(f"# no training plan: {exc}", flush=True)
    fits = fit_or_say_why(cfg.out, then=then, brief=brief)
    write_report(cfg.out, fits)


def _compute(cfg: RunConfig, brief: bool) -> None:
    """The dry run's GEMMs and copy, unless a first attempt measured them."""
    from reports.present.brief_text import brief_compute
    from reports.runs.load import load_compute
    if (cfg.out / COMPUTE_FILE).exists():  # resumed: measured by the first attempt
        print(f"# compute: kept from before in {cfg.out / COMPUTE_FILE}", flush=True)
    else:
        with step_output(cfg.out, "compute", brief) as table:
            run_compute(compute_options(cfg.out, **DRYRUN_GEMMS))
        if table:
            print(f"{brief_compute(load_compute(cfg.out))}\n#   table: {table}", flush=True)
    print("#", flush=True)

"""`commscale slurm`: render an sbatch script that sweeps node counts, and submit it.

    commscale slurm --nodes 1,2,4,8 --gpus-per-node 8 --partition P --time 1:00:00 --out DIR
        [--print | --submit [--wait]]

The run flags are validated here, on the login node, as `commscale run` would validate
them on the compute nodes (GPUs there if --gpus-per-node > 0), and written into the script
in full. The scripts go to DIR (with the Slurm logs, runs and report); --print also prints
them, --submit submits them, --wait waits and exits with the jobs' status.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from ..errors import EXIT_FAILED, EXIT_OK, UsageError
from ..launch.command import config_to_argv
from ..host.machine import probe
from ..sweep.config import config_from_flags, positive_ints
from .options import add_run_options, env_default, run_flags

_TIME_RE = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def add_parser(sub):
    p = sub.add_parser(
        "slurm", help="render (and submit) an sbatch script that sweeps node counts",
        description="Render an sbatch script that sweeps node counts (one job on the largest count measuring the "
                    "smaller ones through subgroups, or one job per count), fits and reports at the end.")
    g = p.add_argument_group("the allocation")
    g.add_argument("--gpus-per-node", type=int, default=env_default("gpus_per_node", "8"),
                   help="GPUs per node; 0 for CPU ranks [8]")
    g.add_argument("--ranks-per-node", type=int, default=env_default("ranks_per_node", None),
                   help="ranks per node [--gpus-per-node]")
    g.add_argument("--partition", default=env_default("partition", None), help="Slurm partition [the cluster's default]")
    g.add_argument("--time", default=env_default("time", None), help="time limit, e.g. 30, 1:00:00 or 1-00:00:00 (required)")
    g.add_argument("--account", default=env_default("account", None), help="Slurm account")
    g.add_argument("--constraint", default=env_default("constraint", None), help="node features, e.g. 'h100&ib'")
    g.add_argument("--exclusive", action="store_true", help="whole nodes (recommended for figures you quote)")
    g.add_argument("--job-name", default=env_default("job_name", "commscale"), help="job name [commscale]")
    g.add_argument("--signal", type=int, default=env_default("signal", "120"), metavar="SECONDS",
                   help="Slurm sends SIGUSR1 this long before the time limit; the sweep stops at a point boundary "
                        "and the run is marked incomplete; 0: off [120]")
    g = p.add_argument_group("how ranks start")
    g.add_argument("--launcher", default=env_default("launcher", "auto"),
                   help="tasks (one srun task per rank), torchrun (one per node), srun-mpi (srun --mpi=...), "
                        "mpiexec (inside the allocation); auto: srun-mpi for --backend mpi, else tasks [auto]")
    g.add_argument("--mpi", default=env_default("mpi", "pmi2"), help="Slurm PMI plugin for srun-mpi: pmi2 or pmix [pmi2]")
    g.add_argument("--mpiexec", default=env_default("mpiexec", "mpiexec"), help="mpiexec to use with --launcher mpiexec")
    g.add_argument("--port", type=int, default=env_default("port", "29500"), help="torchrun rendezvous port [29500]")
    g.add_argument("--python", default=env_default("python", sys.executable),
                   help="Python with commscale installed, as seen from the compute nodes [this one]")
    g.add_argument("--job-per-count", action="store_true",
                   help="one job per node count and a dependent fit-and-report job [one job on the largest count]")
    add_run_options(p)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--print", action="store_true", help="print the script(s) too")
    what.add_argument("--submit", action="store_true", help="submit with sbatch")
    p.add_argument("--wait", action="store_true", help="with --submit: wait for the jobs, exit with their status")
    return p


def time_limit_s(text: str) -> int:
    """Slurm's time formats (minutes; MM:SS; HH:MM:SS; D-HH; D-HH:MM; D-HH:MM:SS) in seconds."""
    m = _TIME_RE.match(text.strip())
    if m is None:
        raise UsageError(f"--time {text!r} is not a Slurm time limit: use e.g. --time 30 (minutes), "
                         f"--time 1:00:00 or --time 1-00:00:00")
    days, a, b, c = m.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        return int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    if c is not None:
        return int(a) * 3600 + int(b) * 60 + int(c)
    if b is not None:
        return int(a) * 60 + int(b)
    return int(a) * 60


def _run_args(args, gpus: bool) -> tuple[list[str], str]:
    """Validated `commscale run` flags for the compute nodes, without --nodes and --out, and
    the backend they resolve to there."""
    if args.ranks:
        raise UsageError("commscale slurm sweeps node counts: use --nodes, not --ranks")
    cfg = config_from_flags(run_flags(args), probe(cuda=gpus))
    if len(cfg.sizes) < 3:
        raise UsageError(f"the job fits a model at the end, which needs 3 or more sizes, and {len(cfg.sizes)} "
                         f"are asked for: widen -b/-e or list more --sizes")
    argv = config_to_argv(cfg)
    out_at = argv.index("--out")
    del argv[out_at:out_at + 2]
    if "--nodes" in argv:
        at = argv.index("--nodes")
        del argv[at:at + 2]
    return argv, cfg.backend


def build_plan(args):
    from slurm.render import LAUNCHERS, MPI_PLUGINS, JobPlan
    if not args.nodes:
        raise UsageError("--nodes is required: the node counts to sweep, e.g. --nodes 1,2,4,8")
    nodes = positive_ints(args.nodes, "--nodes")
    if args.out is None:
        raise UsageError("--out is required: a directory on a shared file system for the scripts, logs, runs and report")
    if args.time is None:
        raise UsageError("--time is required: the job's time limit, e.g. --time 1:00:00")
    limit_s = time_limit_s(args.time)
    if args.gpus_per_node < 0:
        raise UsageError(f"--gpus-per-node {args.gpus_per_node} is negative: use 0 for CPU ranks, or the GPU count")
    ranks_per_node = args.ranks_per_node if args.ranks_per_node is not None else args.gpus_per_node
    if ranks_per_node < 1:
        raise UsageError("--ranks-per-node must be at least 1 (with --gpus-per-node 0, say how many CPU ranks): "
                         "use e.g. --ranks-per-node 2")
    if args.signal < 0 or (args.signal and args.signal >= limit_s):
        raise UsageError(f"--signal {args.signal} must be 0 (off) or fewer seconds than the time limit "
                         f"({limit_s} s): use e.g. --signal 120")
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port: use e.g. --port 29500")
    if args.wait and not args.submit:
        raise UsageError("--wait goes with --submit: add --submit, or drop --wait")
    run_args, backend = _run_args(args, args.gpus_per_node > 0)
    launcher = args.launcher.strip().lower()
    if launcher == "auto":
        launcher = "srun-mpi" if backend == "mpi" else "tasks"
    if launcher not in LAUNCHERS:
        raise UsageError(f"unknown --launcher {launcher!r}: choose from auto, {', '.join(LAUNCHERS)}")
    if (backend == "mpi") != (launcher in ("srun-mpi", "mpiexec")):
        raise UsageError(f"--launcher {launcher} does not start --backend {backend} ranks: use srun-mpi or mpiexec "
                         f"with --backend mpi, tasks or torchrun with gloo or nccl")
    if args.mpi not in MPI_PLUGINS:
        raise UsageError(f"--mpi {args.mpi!r}: choose from {', '.join(MPI_PLUGINS)}")
    python = os.path.abspath(args.python)
    if not os.access(python, os.X_OK):
        raise UsageError(f"--python {args.python!r} is not an executable here: give the path of the Python that has "
                         f"commscale installed")
    out = os.path.abspath(args.out)
    if "%" in out:
        raise UsageError(f"--out {args.out!r} has a '%', which Slurm reads as a pattern in log names: choose another")
    return JobPlan(
        launcher=launcher, nodes=nodes, job_per_count=args.job_per_count, ranks_per_node=ranks_per_node,
        gpus_per_node=args.gpus_per_node, partition=args.partition, time=args.time, account=args.account,
        constraint=args.constraint, exclusive=args.exclusive, signal_s=args.signal, job_name=args.job_name,
        out=out, python=python, run_args=tuple(run_args), mpi=args.mpi, mpiexec=args.mpiexec, port=args.port,
    )


SUBMITTED_FILE = "submitted.json"
"""Written into --out when the scripts are submitted: the job ids, so a second submit is refused."""


def _write(out: Path, files: dict[str, str]) -> dict[str, Path]:
    """Write the scripts into `out`. Scripts already there with the same text are kept (look
    first with --print, then --submit with the same --out); other text, or a job already
    submitted from `out`, is refused."""
    if (out / SUBMITTED_FILE).exists() or (out / "run").exists():
        raise UsageError(f"{str(out)!r} already holds a submitted commscale Slurm job: choose a new --out directory")
    present = [name for name in files if (out / name).exists()]
    if any((out / name).read_text() != files[name] for name in present) or (present and len(present) < len(files)):
        raise UsageError(f"{str(out)!r} holds other commscale job scripts (other flags): choose a new --out "
                         f"directory, or delete its *.sbatch files")
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, text in files.items():
            paths[name] = out / name
            paths[name].write_text(text)
            paths[name].chmod(0o755)
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r} ({exc.strerror}): choose another --out") from None
    return paths


def _print_written(paths: dict[str, Path]) -> None:
    for path in paths.values():
        print(f"# wrote {path}")
    first = [p for n, p in paths.items() if n != "report.sbatch"]
    print("# submit with: " + "; ".join(f"sbatch {p}" for p in first)
          + ("; then sbatch --dependency=afterany:<their ids> " + str(paths["report.sbatch"])
             if "report.sbatch" in paths else ""))


def run(args) -> int:
    from slurm import jobs
    from slurm.render import render
    plan = build_plan(args)
    try:
        files = render(plan)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    paths = _write(Path(plan.out), files)
    if args.print:
        for name, text in files.items():
            if len(files) > 1:
                print(f"# ---- {paths[name]}")
            print(text, end="")
    if not args.submit:
        _print_written(paths)
        return EXIT_OK
    try:
        sweep_ids = {}
        for name, path in paths.items():
            if name != "report.sbatch":
                sweep_ids[jobs.submit(path)] = name
                (Path(plan.out) / SUBMITTED_FILE).write_text(json.dumps({"job_ids": list(sweep_ids)}) + "\n")
                print(f"# submitted job {list(sweep_ids)[-1]}: {path}", flush=True)
        ids = list(sweep_ids)
        if "report.sbatch" in paths:
            report_id = jobs.submit(paths["report.sbatch"], dependency=ids)
            print(f"# submitted job {report_id}: {paths['report.sbatch']} (after jobs {', '.join(ids)})", flush=True)
            ids.append(report_id)
        if not args.wait:
            return EXIT_OK
        ends = jobs.wait(ids, on_end=lambda e: print(f"# job {e.job_id} {e.state}, exit status {e.exit_status}",
                                                     flush=True))
    except jobs.JobError as exc:
        raise UsageError(str(exc)) from None
    failed = [e for e in ends if e.state != "COMPLETED"]
    if not failed:
        print(f"# report: {Path(plan.out) / 'report' / 'report.html'}")
        return EXIT_OK
    return failed[0].exit_status or EXIT_FAILED

"""`commscale dryrun`: the whole pipeline on one machine with CPU ranks.

Spawns `--nproc` processes of `python -m benchmarks run` with the variables torchrun would
set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so the ranks go through the
same entry point as on a cluster; with `--backend mpi`, one `mpiexec -n N` starts them
instead. If one rank fails the others are stopped (by PID).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from collectives.records import COMPUTE_FILE, now_utc, read_meta, write_meta

from .config import RunConfig, config_to_argv
from .errors import EXIT_FAILED, EXIT_LOST, EXIT_STOPPED, UsageError
from .launch import free_port

_GRACE_S = 5.0


#: Variables of an outer launch that would make the ranks misread who they are.
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                "TORCHELASTIC_RUN_ID", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "PMI_RANK", "PMI_SIZE",
                "PMIX_RANK", "OMPI_COMM_WORLD_RANK")


def find_mpiexec() -> str:
    """$COMMSCALE_MPIEXEC, else the mpiexec beside this Python (pip's mpich installs one
    into the virtual environment, matching the library mpi4py loads), else PATH's."""
    chosen = os.environ.get("COMMSCALE_MPIEXEC")
    if chosen:
        if not shutil.which(chosen):
            raise UsageError(f"COMMSCALE_MPIEXEC={chosen!r} is not an executable: point it at your MPI's mpiexec")
        return chosen
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if not found:
        raise UsageError("dryrun --backend mpi needs mpiexec and none was found: pip install mpich, "
                         "or put your MPI's bin directory on PATH (or set COMMSCALE_MPIEXEC)")
    return found


def spawn_mpi(cfg: RunConfig, nproc: int) -> int:
    """Run the sweep on `nproc` local ranks started by mpiexec; return its exit status."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    argv = [find_mpiexec(), "-n", str(nproc), sys.executable, "-m", "benchmarks", "run", *config_to_argv(cfg)]
    procs = [subprocess.Popen(argv, env=env)]
    try:
        return wait_ranks(procs)
    finally:
        stop_ranks(procs)


def start_local_ranks(argv, nproc: int, rank0_stdout=None, stderr=None, text=False) -> list[subprocess.Popen]:
    """Start `argv` as `nproc` ranks on this machine, joined by RANK, WORLD_SIZE and MASTER_*
    (a fresh port), as torchrun would; ranks other than 0 print nothing on stdout."""
    port = free_port()
    procs = []
    for rank in range(nproc):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen(argv, env=env, stdout=rank0_stdout if rank == 0 else subprocess.DEVNULL,
                                      stderr=stderr, text=text))
    return procs


def spawn_ranks(cfg: RunConfig, nproc: int) -> int:
    """Run the sweep on `nproc` local CPU ranks; return the worst exit status."""
    procs = start_local_ranks([sys.executable, "-m", "benchmarks", "run", *config_to_argv(cfg)], nproc)
    try:
        return wait_ranks(procs)
    finally:
        stop_ranks(procs)


def wait_ranks(procs) -> int:
    while True:
        codes = [p.poll() for p in procs]
        failed = [c for c in codes if c not in (None, 0)]
        if failed:
            return failed[0]
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.05)


def stop_ranks(procs) -> None:
    """Terminate ranks still running (only the ones this function started)."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_S
    for p in live:
        try:
            p.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def mark_abandoned(run_dir: Path, code: int) -> None:
    """After a launch that failed: a meta.json still 'running' means rank 0 was ended
    before it could say so (killed, or MPICH's mpiexec ended every rank when one died):
    the launcher, which outlives the ranks, marks the run incomplete."""
    meta = read_meta(run_dir)
    if meta and meta.get("status") == "running":
        write_meta(run_dir, {**meta, "status": "incomplete", "finished_at": now_utc(),
                             "failure": f"the ranks were ended with status {code} before rank 0 could record why "
                                        f"(a rank killed? see the launcher's output)"})


def launch_failed(out: Path, code: int, resume_command: str) -> int:
    """After ranks ended with a status other than 0, 1 or 2: mark the run if rank 0 could
    not, say where the records are (and, stopped or lost, the command that finishes the
    run), and return the status. A verdict rank 0 recorded (the watchdog's exit_status in
    meta.json) stands whatever the launcher reports after it: MPICH's mpiexec, ending the
    job on MPI_Abort, can report another rank's SIGKILL (status 9) instead of the abort's 5."""
    verdict = (read_meta(out) or {}).get("exit_status")
    if verdict in (EXIT_STOPPED, EXIT_LOST):
        code = verdict
    mark_abandoned(out, code)
    if code in (EXIT_STOPPED, EXIT_LOST):
        print(f"commscale: records measured so far are in {out}; finish with: {resume_command} --resume {out}",
              file=sys.stderr)
        return code
    print(f"commscale: error: a rank exited with status {code}; records measured so far are in {out}",
          file=sys.stderr)
    return EXIT_FAILED


def print_summary(out: Path, df) -> None:
    """The run at a glance (reports/summary.py), after its table."""
    from reports.summary import format_summary, summarize_run
    print(f"#\n# summary of {out}\n" + format_summary(summarize_run(df)), flush=True)


def print_report(made: dict) -> None:
    print(f"#\n# report: {made['html']} ({len(made['figures'])} figures), {made['md']}", flush=True)


def dryrun(cfg: RunConfig, nproc: int) -> int:
    code = (spawn_mpi if cfg.backend == "mpi" else spawn_ranks)(cfg, nproc)
    if code not in (0, 1, 2):
        return launch_failed(cfg.out, code, f"commscale dryrun --nproc {nproc}")
    if code != 2:
        from reports.load import load_run
        print_summary(cfg.out, load_run(cfg.out))
        _model(cfg, nproc)
    return code


#: The dry run's own workload: a small data-parallel model, CPU ranks standing for GPUs.
DRYRUN_WORKLOAD = "dryrun-small"


def _model(cfg: RunConfig, nproc: int) -> None:
    """Measure CPU GEMMs, fit the sweep, find the crossover of a small workload, and write
    the report, all into the run directory. A run too small to fit says why; the report
    is written whatever the fit said."""
    from types import SimpleNamespace

    from .compute import run_compute
    from .crossover_cmd import run_crossover
    from .fit_cmd import fit_runs
    print("#", flush=True)
    if (cfg.out / COMPUTE_FILE).exists():  # resumed: measured by the first attempt
        print(f"# compute: kept from before in {cfg.out / COMPUTE_FILE}", flush=True)
    else:
        run_compute(cfg.out, "cpu", "float32", "256,512", None, 2, 5)
    print("#", flush=True)
    fits = None
    try:
        fitted = fit_runs([cfg.out], cfg.out, 1000)
        fits = {cfg.out: fitted[0]}
        print("#", flush=True)
        run_crossover(SimpleNamespace(runs=[cfg.out], workload=DRYRUN_WORKLOAD, gpu_tflops=None,
                                      gpus_per_node=nproc, limit=4096, backend=None, bootstrap=1000, out=None),
                      fitted)
    except UsageError as exc:
        print(f"# no model: {exc}", flush=True)
    from reports.report import build_report
    print_report(build_report([cfg.out], cfg.out / "report", fits=fits))  # the fit above, not a second one

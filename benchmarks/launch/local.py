"""Starting ranks on this machine, as a launcher would: the dry run, the overhead and soak
benchmarks and the tests use it.

`start_local_ranks` starts N processes with the variables torchrun sets (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so they go through the same entry point
as on a cluster; `spawn_mpi` has one `mpiexec -n N` start them instead. If one rank fails
the others are stopped (only the processes started here, by PID).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import UsageError
from ..host.detect import free_port

_GRACE_S = 5.0

#: Variables of an outer launch that would make the ranks misread who they are.
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
               "TORCHELASTIC_RUN_ID", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "PMI_RANK", "PMI_SIZE",
               "PMIX_RANK", "OMPI_COMM_WORLD_RANK")


def clean_env() -> dict[str, str]:
    """This process's environment without an outer launch's variables."""
    return {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}


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


def run_ranks(argv, nproc: int, mpi: bool = False) -> int:
    """Run `argv` on `nproc` local ranks (started by mpiexec with `mpi`, else as torchrun
    would) and return the worst exit status; ranks still running when one fails are stopped."""
    if mpi:
        procs = [subprocess.Popen([find_mpiexec(), "-n", str(nproc), *argv], env=clean_env())]
    else:
        procs = start_local_ranks(argv, nproc)
    try:
        return wait_ranks(procs)
    finally:
        stop_ranks(procs)


def wait_ranks(procs) -> int:
    """The first status other than 0 as soon as a rank ends with one, else 0 once all have."""
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

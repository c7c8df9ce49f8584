"""Starting ranks on this machine, as a launcher would: the dry run, the overhead and soak
benchmarks and the tests use it.

`start_local_ranks` starts N processes with the variables torchrun sets (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so they go through the same entry point
as on a cluster; `run_ranks` with `mpi` has one `mpiexec -n N` start them instead. If one
rank fails the others are stopped (only the processes started here, by PID, and the
processes below them: mpiexec's proxies and ranks, which Hydra starts in sessions of their own).

A stop signal to the launcher (SIGTERM, SIGINT, SIGHUP: `Forward`) goes on to the ranks as
SIGTERM, so they stop at their next point boundary with their records and meta.json; what
is still running STOP_GRACE_S later, or at a second signal, is killed with everything below it.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

from ..errors import UsageError
from ..host.detect import free_port

_GRACE_S = 5.0
STOP_GRACE_S = 10.0
"""After a stop signal, the seconds the ranks have to reach a point boundary and end."""
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

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
    (a fresh port), as torchrun would; ranks other than 0 print nothing on stdout. Each rank
    has a process group of its own: a terminal's Ctrl-C reaches the launcher, which forwards it."""
    port = free_port()
    procs = []
    for rank in range(nproc):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen(argv, env=env, stdout=rank0_stdout if rank == 0 else subprocess.DEVNULL,
                                      stderr=stderr, text=text, process_group=0))
    return procs


class RanksEnded(NamedTuple):
    code: int
    """The first status other than 0, else 0."""
    signum: int
    """The stop signal the launcher received and forwarded (0: none)."""


def run_ranks(argv, nproc: int, mpi: bool = False) -> RanksEnded:
    """Run `argv` on `nproc` local ranks (started by mpiexec with `mpi`, else as torchrun
    would): the worst exit status and the stop signal forwarded, if one came; ranks still
    running when one fails are stopped."""
    with Forward() as forward:
        if mpi:
            forward.procs = [subprocess.Popen([find_mpiexec(), "-n", str(nproc), *argv], env=clean_env(),
                                              process_group=0)]
        else:
            forward.procs = start_local_ranks(argv, nproc)
        try:
            return RanksEnded(wait_ranks(forward.procs, forward), forward.signum)
        finally:
            stop_ranks(forward.procs)


def wait_ranks(procs, forward: "Forward | None" = None) -> int:
    """The first status other than 0 as soon as a rank ends with one, else 0 once all have.
    With `forward`: after a stop signal, what is left once its grace is over is killed."""
    while True:
        codes = [p.poll() for p in procs]
        failed = [c for c in codes if c not in (None, 0)]
        if failed:
            return failed[0]
        if all(c == 0 for c in codes):
            return 0
        if forward:
            forward.check()
        time.sleep(0.05)


def stop_ranks(procs) -> None:
    """Terminate ranks still running (only the ones this function started), then whatever
    was started below them and still runs (mpiexec's proxies and ranks)."""
    live = [p for p in procs if p.poll() is None]  # not reaped: their PIDs are still theirs
    below = [d for p in live for d in descendants(p.pid)]
    for p in live:
        p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_S
    for p in live:
        try:
            p.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    kill_processes(below, deadline)


class Forward:
    """While a launcher waits for the ranks it started (`procs`): SIGTERM, SIGINT or SIGHUP
    goes on to them as SIGTERM; `check` kills them and everything below them once
    STOP_GRACE_S has passed, and a second signal does at once. Handlers only on the main
    thread, restored on leaving."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        self.signum = 0
        self._deadline = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._note) for sig in FORWARDED_SIGNALS}
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _note(self, signum, frame):
        if self.signum:  # a second signal: no more waiting
            self._deadline = 0.0
            self.check()
            return
        self.signum, self._deadline = signum, time.monotonic() + STOP_GRACE_S
        print(f"commscale: {signal.Signals(signum).name}: stopping the ranks at their next point boundary "
              f"(killed in {STOP_GRACE_S:.0f} s if they have not ended; a second signal kills them now)",
              file=sys.stderr, flush=True)
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    def check(self) -> None:
        """Past the grace: kill every rank still running and every process below it."""
        if self._deadline is None or time.monotonic() < self._deadline:
            return
        live = [p for p in self.procs if p.poll() is None]
        below = [d for p in live for d in descendants(p.pid)]
        for p in live:
            p.kill()
        kill_processes(below, time.monotonic())


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent PID, start time in clock ticks) of a running process, from /proc; None if it
    is gone or a zombie (ended, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in "ZX" else (int(fields[1]), fields[19])


def descendants(pid: int) -> list[tuple[int, str]]:
    """Every process below `pid` (children, theirs, ...): (PID, start time), read from /proc."""
    parents = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit() and (st := _stat(entry)):
            parents[int(entry)] = st
    found, frontier = [], [pid]
    while frontier:
        kids = [(p, st[1]) for p, st in parents.items() if st[0] in frontier]
        found += kids
        frontier = [p for p, _ in kids]
    return found


def kill_processes(procs: list[tuple[int, str]], deadline: float) -> None:
    """SIGKILL each (PID, start time) still running after `deadline` (the start time tells
    a PID used again by another process apart)."""
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid, start in procs:
        if _alive((pid, start)):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _alive(proc: tuple[int, str]) -> bool:
    st = _stat(str(proc[0]))
    return st is not None and st[1] == proc[1]

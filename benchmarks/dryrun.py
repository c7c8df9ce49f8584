"""`commscale dryrun`: the whole pipeline on one machine with CPU ranks.

Spawns `--nproc` processes of `python -m benchmarks run` with the variables torchrun would
set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so the ranks go through the
same entry point as on a cluster. If one rank fails the others are stopped (by PID).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .config import RunConfig, config_to_argv
from .errors import EXIT_FAILED
from .launch import free_port

_GRACE_S = 5.0


def spawn_ranks(cfg: RunConfig, nproc: int) -> int:
    """Run the sweep on `nproc` local CPU ranks; return the worst exit status."""
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks", "run", *config_to_argv(cfg)]
    procs = []
    for rank in range(nproc):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen(argv, env=env, stdout=None if rank == 0 else subprocess.DEVNULL))
    try:
        return _wait(procs)
    finally:
        _stop(procs)


def _wait(procs) -> int:
    while True:
        codes = [p.poll() for p in procs]
        failed = [c for c in codes if c not in (None, 0)]
        if failed:
            return failed[0]
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.05)


def _stop(procs) -> None:
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


def dryrun(cfg: RunConfig, nproc: int) -> int:
    code = spawn_ranks(cfg, nproc)
    if code not in (0, 1, 2):
        print(f"commscale: error: a rank exited with status {code}; records measured so far are in {cfg.out}",
              file=sys.stderr)
        return EXIT_FAILED
    if code != 2:
        from reports.load import load_run
        from reports.summary import format_summary, summarize_run
        print(f"#\n# summary of {cfg.out}\n" + format_summary(summarize_run(load_run(cfg.out))), flush=True)
    return code

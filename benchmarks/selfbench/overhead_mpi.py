"""Benchmark: the harness's own overhead against a bare mpi4py Allreduce loop.

    python -m benchmarks.selfbench.overhead_mpi [--sizes 8,64K,16M] [--iters 30] [--rounds 61]

Starts 2 MPI ranks with mpiexec (the one `commscale dryrun --backend mpi` would use). The
bare loop is `comm.Allreduce(send, recv, MPI.SUM)` on float32 numpy arrays, out of place,
with `MPI.Wtime` read before and after each call, on page-aligned buffers as the backend's
(so the ratio is the harness's cost, not an allocation difference); the harness measures the same point on
the same communicator. How rounds are paired and what is printed: benchmarks/selfbench/overhead.py.
Goal: ratio <= 1.03 from 64 KiB, median difference <= +3 us at 8 B.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np

from . import overhead

GOAL_SMALL_US = 3.0


def _bare_us(size, comm, iters, warmup):
    """Per-call times (us) of a plain Allreduce loop on this rank."""
    from mpi4py import MPI

    from collectives.backends.mpi import page_aligned
    send = page_aligned(np.ones(max(size // 4, 1)), np.float32)  # as the backend's buffers
    recv = page_aligned(np.zeros(send.size), np.float32)
    for _ in range(warmup):
        comm.Allreduce(send, recv, MPI.SUM)
    times = np.empty(iters)
    wtime = MPI.Wtime
    for i in range(iters):
        t0 = wtime()
        comm.Allreduce(send, recv, MPI.SUM)
        times[i] = wtime() - t0
    return times * 1e6


def worker(args) -> int:
    backend = overhead.start_backend("mpi", device="cpu")
    library = backend.versions()["mpi_library"]
    title = f"a bare mpi4py Allreduce loop: {library}, 2 ranks, float32 sum, out of place"
    return overhead.run(backend, _bare_us, False, args, title, GOAL_SMALL_US)


def _launch(argv) -> int:
    from ..errors import UsageError
    from ..launch.local import find_mpiexec
    try:
        mpiexec = find_mpiexec()
    except UsageError as exc:
        print(f"overhead_mpi: error: {exc}", file=sys.stderr)
        return 2
    return subprocess.call([mpiexec, "-n", "2", sys.executable, "-m", "benchmarks.selfbench.overhead_mpi", "--worker",
                            *argv])


def main(argv=None) -> int:
    return overhead.main(__doc__, argv, worker, _launch)


if __name__ == "__main__":
    sys.exit(main())

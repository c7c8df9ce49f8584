"""mpi4py backend: the same collectives through MPI, on numpy buffers (host) or on torch
CUDA tensors (device buffers, passed through DLPack / the CUDA array interface) when the
MPI library is CUDA-aware.

Rank and world come from MPI itself (MPI_COMM_WORLD), whoever launched it: mpiexec, or
srun with a PMI plugin (`--mpi=pmi2` / `pmix`). Timing: `MPI.Wtime` around each blocking
call (MPI calls return when complete, on host and device buffers alike).

MPI's in-place forms are used where they are the nccl-tests operation: Allreduce and
Allgather with MPI_IN_PLACE, Reduce with MPI_IN_PLACE at the root. Bcast has one buffer
(always in place). MPI's in-place Reduce_scatter_block leaves the result at the *start*
of the buffer, not at the rank's slice as NCCL does, so reduce_scatter is measured out of
place only.
"""
from __future__ import annotations

import ctypes
import os
import sys
import time
import traceback

import mpi4py
import numpy as np

THREAD_LEVEL = "serialized"
"""The MPI thread level commscale asks for (mpi4py asks for MPI_THREAD_MULTIPLE by default).
Only the main thread makes MPI calls; the watchdog's MPI_Abort, when a peer is lost, is the
one exception, and it ends the job. With MULTIPLE, MPICH 5.0.2 takes a lock around every
call: a 64 KiB float Allreduce on 2 ranks took 15.0 us instead of 8.6 (the same C loop
initialised both ways, alternating launches), 8 B 1.5 us instead of 0.24. The user's
MPI4PY_RC_THREAD_LEVEL wins; meta.json records the level MPI granted (`mpi_thread_level`)."""
if "MPI4PY_RC_THREAD_LEVEL" not in os.environ and "mpi4py.MPI" not in sys.modules and hasattr(mpi4py, "rc"):
    mpi4py.rc.thread_level = THREAD_LEVEL

LOCAL_SIZE_VARS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE", "PMI_LOCAL_SIZE",
                   "LOCAL_WORLD_SIZE")
"""How many ranks a launcher started on this host, before MPI_Init: Hydra (MPICH's mpiexec),
Open MPI, MVAPICH, Cray PMI, torchrun. srun: SLURM_STEP_TASKS_PER_NODE and SLURM_NODEID."""
YIELD_CVARS = {"MPIR_CVAR_CH4_PROGRESS_THROTTLE": "1", "MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT": "16",
               **{f"MPIR_CVAR_{c}_POSIX_INTRA_ALGORITHM": "mpir" for c in ("ALLREDUCE", "BCAST", "REDUCE", "BARRIER")}}
"""MPICH's waits spin without yielding. With more ranks on a host than CPUs they may use, a
waiting rank holds a CPU the rank it waits for needs until its time slice ends: on 2 cores,
4 ranks took 0.3-1.3 s per 1 MiB all_reduce. The throttle makes a wait in the progress
engine sleep (usleep(1): the kernel runs another rank) after 16 polls that found nothing;
the shared-memory release/gather algorithms of all_reduce, broadcast, reduce and barrier
spin on flags outside the progress engine, so they give way to MPICH's point-to-point ones
(`mpir`): 1 MiB all_reduce 4-16 ms (docs/mpi.md). Set only when oversubscribed, never over
a value the user set; other MPIs ignore these names."""


def local_ranks(env) -> int | None:
    """Ranks the launcher started on this host, from its variables; None where none says."""
    for name in LOCAL_SIZE_VARS:
        if env.get(name, "").isdigit():
            return int(env[name])
    tasks, node = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE"), env.get("SLURM_NODEID")
    if tasks and node and node.isdigit():
        per_node = []
        for part in tasks.split(","):  # "2(x3),1": 2 tasks on each of 3 nodes, then 1
            count, _, times = part.partition("(x")
            per_node += [int(count)] * int(times.rstrip(")") or 1)
        return per_node[int(node)] if int(node) < len(per_node) else None
    return None


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity: taskset, a cgroup's cpuset, a launcher's binding)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def oversubscription(env) -> dict:
    """More ranks on this host than CPUs to run them: the facts, and whether MPICH was told
    to yield (`mpi_yield`: the variables in effect, the user's where set, else None)."""
    ranks, cpus = local_ranks(env), usable_cpus()
    over = ranks is not None and ranks > cpus
    set_ = {k: env[k] for k in YIELD_CVARS if k in env}
    return {"local_ranks": ranks, "usable_cpus": cpus, "mpi_oversubscribed": over,
            "mpi_yield": " ".join(f"{k}={v}" for k, v in set_.items()) or None}


def yield_when_oversubscribed(env) -> dict:
    """Before MPI_Init: where ranks outnumber CPUs, MPICH throttles its polling (YIELD_CVARS,
    each unless set already). The facts for meta.json (`oversubscription`)."""
    if oversubscription(env)["mpi_oversubscribed"] and "mpi4py.MPI" not in sys.modules:
        for name, value in YIELD_CVARS.items():
            env.setdefault(name, value)
    return oversubscription(env)


OVERSUBSCRIPTION = yield_when_oversubscribed(os.environ)
from mpi4py import MPI  # noqa: E402 - initialises MPI at the level chosen above

from ..clocks import time_host_calls
from ..launch import LaunchEnv
from ..status import EXIT_FAILED
from .base import BackendOptions, BackendSetupError, no_beat

_OPS = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
_HOST_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16,
                "int32": np.int32, "int8": np.int8}
ABORT_OUTPUT_GRACE_S = 0.5


PAGE_BYTES = 4096
_THREAD_NAMES = {0: "single", 1: "funneled", 2: "serialized", 3: "multiple"}


def page_aligned(values, dtype) -> np.ndarray:
    """`values` as `dtype` in memory that starts on a page boundary, as OSU's benchmarks
    allocate. With numpy's own allocation, MPICH's shared-memory Allreduce took 1 to 4%
    longer from 256 KiB to 2 MiB on the development machine (paired rounds in one run)."""
    values, dtype = np.asarray(values), np.dtype(dtype)
    raw = np.empty(values.size * dtype.itemsize + PAGE_BYTES, np.uint8)
    start = -raw.ctypes.data % PAGE_BYTES
    out = raw[start:start + values.size * dtype.itemsize].view(dtype)
    out[...] = values
    return out


def _owner(buffer):
    """The allocation a buffer belongs to (numpy's .base and torch's ._base name the owner)."""
    for name in ("_base", "base"):
        base = getattr(buffer, name, None)
        if base is not None:
            return base
    return buffer


def _is_view_of(view, whole) -> bool:
    """True when `view` is a slice of the same allocation as `whole`."""
    return view is not whole and _owner(view) is _owner(whole)


def _all_reduce(send, recv, comm, op, root):
    comm.Allreduce(MPI.IN_PLACE if send is recv else send, recv, _OPS[op])


def _all_gather(send, recv, comm, op, root):
    comm.Allgather(MPI.IN_PLACE if _is_view_of(send, recv) else send, recv)


def _reduce_scatter(send, recv, comm, op, root):
    comm.Reduce_scatter_block(send, recv, _OPS[op])


def _all_to_all(send, recv, comm, op, root):
    comm.Alltoall(send, recv)


def _broadcast(send, recv, comm, op, root):
    comm.Bcast(recv, root)


def _reduce(send, recv, comm, op, root):
    if comm.Get_rank() == root:
        comm.Reduce(MPI.IN_PLACE if send is recv else send, recv, _OPS[op], root)
    else:
        comm.Reduce(send, None, _OPS[op], root)


def _sendrecv(send, recv, comm, op, root):
    me, p = comm.Get_rank(), comm.Get_size()
    comm.Sendrecv(send, (me + 1) % p, 0, recv, (me - 1) % p, 0)


_CALLS = {
    "all_reduce": _all_reduce, "all_gather": _all_gather, "reduce_scatter": _reduce_scatter,
    "all_to_all": _all_to_all, "broadcast": _broadcast, "reduce": _reduce, "sendrecv": _sendrecv,
}


def cuda_aware() -> bool | None:
    """MPIX_Query_cuda_support() of the loaded MPI library (MPICH, Open MPI, MVAPICH...),
    None when the library does not have it (then we cannot tell, and do not guess)."""
    try:
        query = ctypes.CDLL(MPI.__file__).MPIX_Query_cuda_support
    except (OSError, AttributeError):
        return None
    return bool(query())


def cuda_problem(aware: bool | None) -> str | None:
    """Why device buffers cannot be handed to this MPI (None: they can)."""
    if aware:
        return None
    what = "not CUDA-aware" if aware is False else "of unknown CUDA-awareness (no MPIX_Query_cuda_support)"
    return f"MPI library {library_name()!r} is {what}: use --device cpu for host buffers, or an MPI built with CUDA"


class MpiBackend:
    """One process's view of an MPI launch."""

    name = "mpi"
    in_place_only = frozenset({"broadcast"})
    out_of_place_only = frozenset({"reduce_scatter"})

    def __init__(self, launch: LaunchEnv, options: BackendOptions):
        world = MPI.COMM_WORLD
        self.rank, self.world_size = world.Get_rank(), world.Get_size()
        self.options = options
        self.device = options.device or "auto"
        if self.device == "auto":  # GPU buffers only where MPI can take them
            self.device = "cuda" if cuda_aware() and _cuda_visible() else "cpu"
        self._world = world.Dup()  # commscale's traffic apart from COMM_WORLD's
        # Errors raise MPI.Exception (inherited by the groups split from it) instead of
        # aborting the job, so the sweep can name a lost peer (benchmarks/watchdog.py).
        self._world.Set_errhandler(MPI.ERRORS_RETURN)
        self._groups = [self._world]
        self._cuda_problem = None
        if self.device == "cuda":
            import torch
            node = world.Split_type(MPI.COMM_TYPE_SHARED)
            torch.cuda.set_device(node.Get_rank() % torch.cuda.device_count())
            node.Free()
            self._cuda_problem = cuda_problem(cuda_aware())

    # --- collectives -------------------------------------------------------------------
    def call_for(self, collective):
        return _CALLS.get(collective)

    def make_buffer(self, values, dtype):
        if dtype == "bfloat16":
            raise TypeError("MPI has no bfloat16 datatype")
        if self.device == "cpu":
            return page_aligned(values, _HOST_DTYPES[dtype])
        if self._cuda_problem:
            raise NotImplementedError(self._cuda_problem)
        import torch
        tensor = torch.from_numpy(np.asarray(values)).to(device="cuda", dtype=getattr(torch, dtype))
        torch.cuda.synchronize()  # MPI reads device memory on its own streams
        return tensor

    def to_numpy(self, buffer):
        if isinstance(buffer, np.ndarray):
            return buffer.astype(np.float64)
        import torch
        return buffer.detach().to("cpu", torch.float64).numpy()

    def new_group(self, ranks):
        """A communicator of `ranks` (in that order); COMM_NULL on ranks outside it.
        Collective over the world, like torch's new_group."""
        if list(ranks) == list(range(self.world_size)):
            return self._world
        member = self.rank in ranks
        comm = self._world.Split(0 if member else MPI.UNDEFINED, ranks.index(self.rank) if member else 0)
        if member:
            self._groups.append(comm)
        return comm

    # --- timing ------------------------------------------------------------------------
    def synchronize(self):
        if self.device == "cuda":
            import torch
            torch.cuda.synchronize()

    def time_calls(self, fn, iters, beat=no_beat):
        return time_host_calls(fn, iters, MPI.Wtime, 1e-6, beat)

    # --- agreement between ranks (outside timed regions) ------------------------------
    def max_over(self, values, group):
        return self._reduce_vector(values, group, MPI.MAX, np.float64)

    def sum_over(self, values, group):
        return self._reduce_vector(values, group, MPI.SUM, np.int64)

    def _reduce_vector(self, values, group, op, dtype):
        send = np.ascontiguousarray(values, dtype=dtype)
        recv = np.empty_like(send)
        (group or self._world).Allreduce(send, recv, op)
        return recv

    def barrier(self):
        self._world.Barrier()

    def all_gather_object(self, obj):
        return self._world.allgather(obj)

    def broadcast_object(self, obj):
        return self._world.bcast(obj, root=0)

    # --- description -------------------------------------------------------------------
    def fabric(self, nnodes):
        return "shm" if nnodes == 1 else "net"  # the MPI library picks the path within these

    def transport(self, nnodes):
        return None

    def versions(self):
        import torch
        major, minor = MPI.Get_version()
        return {"mpi4py": mpi4py.__version__, "mpi_library": library_name(),
                "mpi_library_version": MPI.Get_library_version().strip(), "mpi_standard": f"{major}.{minor}",
                "mpi_cuda_aware": cuda_aware(), "mpi_thread_level": _THREAD_NAMES.get(MPI.Query_thread()),
                "host_huge_pages": host_huge_pages(),
                "torch": torch.__version__}

    def host_load(self) -> dict:
        """Ranks against CPUs on rank 0's host, and whether MPICH yields (meta.json's `host_load`)."""
        return dict(OVERSUBSCRIPTION)

    def close(self):
        """Free the communicators (every rank, after the sweep)."""
        for comm in self._groups:
            comm.Free()
        self._groups = []

    def abandon(self):
        """After a failure: the other ranks may be blocked in a collective, and MPI has no
        timeout: print why, then abort the whole job (EXIT_FAILED), as `python -m mpi4py` does."""
        if sys.exc_info()[0] is not None:
            traceback.print_exc()
        self.abort(EXIT_FAILED)

    def abort(self, status: int):
        """MPI_Abort ends every rank of the job, a frozen one too."""
        sys.stderr.flush()
        # MPICH's mpiexec ends the job on Abort without forwarding what is still in the
        # ranks' output pipes: 1 crash in 6 lost its traceback. Give it a moment.
        time.sleep(ABORT_OUTPUT_GRACE_S)
        MPI.COMM_WORLD.Abort(status)
        os._exit(status)  # MPICH's Abort can return to the caller before the kill


def _cuda_visible() -> bool:
    import torch
    return torch.cuda.is_available()


THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled"


def host_huge_pages() -> str:
    """Whether large host buffers get transparent huge pages: numpy asks for them from 4 MiB
    (madvise; NUMPY_MADVISE_HUGEPAGE=0 turns it off) and the kernel's mode decides. OSU's
    buffers do not ask: its 16 MiB Alltoall on 2 ranks took 1.35-1.85 times as long here
    (benchmarks/mpi_reference.py), so say which one a figure had."""
    try:
        from numpy._core.multiarray import _get_madvise_hugepage
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _get_madvise_hugepage
    try:
        mode = open(THP_MODE, encoding="ascii").read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        mode = "unknown"
    return f"numpy madvise {'on' if _get_madvise_hugepage() else 'off'}, kernel THP {mode}"


def library_name() -> str:
    """First line of MPI_Get_library_version, whitespace collapsed: 'MPICH Version: 5.0.2'."""
    return " ".join(MPI.Get_library_version().strip().splitlines()[0].split())


def oversubscribed_line(facts: dict) -> str | None:
    """The one line rank 0 prints when its host has more ranks than CPUs (None otherwise)."""
    if not facts["mpi_oversubscribed"]:
        return None
    how = f"MPICH yields while it waits ({facts['mpi_yield']})" if facts["mpi_yield"] else \
        "nothing tells this MPI to yield: times measure the scheduler"
    return (f"# mpi: {facts['local_ranks']} ranks on {facts['usable_cpus']} usable CPUs of this host: "
            f"oversubscribed; {how}; figures are not those of a rank per core")


def create(name, launch: LaunchEnv, options):
    backend = MpiBackend(launch, options)
    line = oversubscribed_line(OVERSUBSCRIPTION)
    if line and backend.rank == 0:
        print(line, flush=True)
    if launch.world_size > 1 and launch.world_size != backend.world_size:
        raise BackendSetupError(f"the launch ({launch.launcher}) has {launch.world_size} processes but MPI sees a world "
                                f"of {backend.world_size}: launch --backend mpi with mpiexec, or srun --mpi=pmi2 (or pmix)")
    return backend

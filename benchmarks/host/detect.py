"""Who am I in this launch? One answer for torchrun, srun, mpiexec and a plain start.

Precedence: torchrun's variables (RANK, WORLD_SIZE; torchrun also sets them under srun),
then an srun step's (SLURM_PROCID with SLURM_STEP_NUM_TASKS), then an MPI launcher's
(PMI_RANK/PMI_SIZE from MPICH's hydra, OMPI_COMM_WORLD_* from Open MPI, PMIX_RANK with
PMIX_SIZE... as set), else a standalone single process.
"""
from __future__ import annotations

import re
import socket

from collectives.launch import LaunchEnv

from ..errors import UsageError
from .slurm_topology import expand_hostlist

DEFAULT_PORT = 29500


_REQUIRED = object()


def _int(environ, name, default=_REQUIRED):
    """`name` as an integer, or `default` when it is unset (without one it must be set)."""
    if default is not _REQUIRED and name not in environ:
        return default
    value = environ.get(name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"environment variable {name}={value!r} is not an integer: check how the job was launched") from None


def _first_int(text: str) -> int:
    """SLURM_STEP_TASKS_PER_NODE looks like '4(x2),3': the first node's count."""
    return int(re.match(r"\d+", text).group(0))


def node_name(environ) -> str:
    """Which node this rank is on, as ranks are grouped by --nodes: COMMSCALE_NODE_NAME if
    set (emulated nodes), else Slurm's name for the node (SLURMD_NODENAME: several slurmd
    on one host are several nodes), else the host name."""
    return environ.get("COMMSCALE_NODE_NAME") or environ.get("SLURMD_NODENAME") or socket.gethostname()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def detect(environ) -> LaunchEnv:
    """Read the launcher's variables from `environ` (a mapping such as os.environ)."""
    addr = environ.get("MASTER_ADDR")
    port = _int(environ, "MASTER_PORT", None)
    if "RANK" in environ and "WORLD_SIZE" in environ:
        rank, world = _int(environ, "RANK"), _int(environ, "WORLD_SIZE")
        local = _int(environ, "LOCAL_RANK", rank)
        local_world = _int(environ, "LOCAL_WORLD_SIZE", world)
        launcher = "torchrun" if "TORCHELASTIC_RUN_ID" in environ else "env"
        if addr is None or port is None:
            raise UsageError("RANK and WORLD_SIZE are set but MASTER_ADDR or MASTER_PORT is not: launch with torchrun or set both")
    elif "SLURM_PROCID" in environ and "SLURM_STEP_NUM_TASKS" in environ:
        launcher = "srun"
        rank, world = _int(environ, "SLURM_PROCID"), _int(environ, "SLURM_STEP_NUM_TASKS")
        local = _int(environ, "SLURM_LOCALID", 0)
        local_world = _first_int(environ.get("SLURM_STEP_TASKS_PER_NODE", "1"))
        if addr is None:
            nodelist = environ.get("SLURM_STEP_NODELIST") or environ.get("SLURM_JOB_NODELIST", "")
            try:
                hosts = expand_hostlist(nodelist)
            except ValueError:  # a list this parser cannot read: rank 0's address must then be given
                hosts = []
            addr = hosts[0] if hosts else "127.0.0.1"
        if port is None:
            job = environ.get("SLURM_JOB_ID", "0")
            port = 20000 + (int(job) % 20000 if job.isdigit() else 0)
    elif ("PMI_RANK" in environ and "PMI_SIZE" in environ) or "OMPI_COMM_WORLD_RANK" in environ \
            or ("PMIX_RANK" in environ and "PMIX_SIZE" in environ):
        launcher = "mpiexec"
        if "OMPI_COMM_WORLD_RANK" in environ:
            rank, world = _int(environ, "OMPI_COMM_WORLD_RANK"), _int(environ, "OMPI_COMM_WORLD_SIZE")
            local = _int(environ, "OMPI_COMM_WORLD_LOCAL_RANK", rank)
            local_world = _int(environ, "OMPI_COMM_WORLD_LOCAL_SIZE", world)
        else:
            prefix = "PMI" if "PMI_RANK" in environ else "PMIX"
            rank, world = _int(environ, f"{prefix}_RANK"), _int(environ, f"{prefix}_SIZE")
            local = _int(environ, "MPI_LOCALRANKID", rank)
            local_world = _int(environ, "MPI_LOCALNRANKS", world)
        addr = addr or "127.0.0.1"
        port = port or DEFAULT_PORT
    else:
        return LaunchEnv("standalone", 0, 1, 0, 1, addr or "127.0.0.1", port or free_port())
    if not 0 <= rank < world:
        raise UsageError(f"rank {rank} is outside world size {world}: check the launcher's variables")
    return LaunchEnv(launcher, rank, world, local, local_world, addr, port)

"""What this machine offers, probed once by the command line and handed to the config
(which itself reads nothing): visible CUDA GPUs, and whether mpi4py imports."""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Machine:
    cuda: bool
    """CUDA GPUs are visible to torch."""
    mpi4py: bool
    """mpi4py imports (its package does not start MPI; mpi4py.MPI would)."""


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def probe(cuda: bool | None = None) -> Machine:
    """This machine; `cuda` given: what another machine has (the compute nodes a Slurm
    script is written for, seen from the login node)."""
    if cuda is None:
        import torch
        cuda = torch.cuda.is_available()
    return Machine(cuda=cuda, mpi4py=_importable("mpi4py"))

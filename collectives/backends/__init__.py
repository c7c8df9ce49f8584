"""Backends behind one small interface (see base.py), created lazily by name.

Adding a backend: one module here with a `create(launch, options)` function, one line in
`_FACTORIES`. Nothing is imported until a backend is asked for, so the package imports
without MPI or CUDA.
"""
from __future__ import annotations

import importlib

from ..launch import LaunchEnv
from .base import BackendSetupError

_FACTORIES = {
    "gloo": "collectives.backends.torch_dist",
    "nccl": "collectives.backends.torch_dist",
    "mpi": "collectives.backends.mpi",
}

BACKENDS = tuple(_FACTORIES)


def create_backend(name: str, launch: LaunchEnv, options):
    """Initialise backend `name` for this process; unknown names raise KeyError."""
    if name not in _FACTORIES:
        raise KeyError(f"unknown backend {name!r}: choose from auto, {', '.join(_FACTORIES)}")
    try:
        module = importlib.import_module(_FACTORIES[name])
    except (ImportError, RuntimeError) as exc:  # e.g. mpi4py present but no MPI library
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackendSetupError(f"backend {name} cannot load here ({first}): install what it needs, "
                                f"see docs/mpi.md (which MPI)") from None
    return module.create(name, launch, options)

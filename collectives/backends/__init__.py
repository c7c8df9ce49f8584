"""Backends behind one small interface (see base.py), created lazily by name.

Adding a backend: one module here with a `create(launch, options)` function, one line in
`_FACTORIES`. Nothing is imported until a backend is asked for, so the package imports
without MPI or CUDA.
"""
from __future__ import annotations

import importlib

_FACTORIES = {
    "gloo": "collectives.backends.torch_dist",
    "nccl": "collectives.backends.torch_dist",
}

BACKENDS = tuple(_FACTORIES)


def create_backend(name: str, launch, options):
    """Initialise backend `name` for this process; unknown names raise KeyError."""
    if name not in _FACTORIES:
        raise KeyError(f"unknown backend {name!r}: choose from auto, {', '.join(_FACTORIES)}")
    module = importlib.import_module(_FACTORIES[name])
    return module.create(name, launch, options)

"""`commscale run`: sweep collectives in a launch (torchrun, srun, mpiexec, or alone)."""
from __future__ import annotations

import os

from ..host.detect import detect
from .options import add_resume, add_run_options, sweep_config


def add_parser(sub):
    p = sub.add_parser("run", help="sweep collectives in a launch (torchrun, srun, mpiexec or standalone)",
                       description="Sweep collectives; run under torchrun, srun or mpiexec (or alone: 1 rank).")
    add_run_options(p)
    add_resume(p)
    return p


def run(args) -> int:
    cfg = sweep_config(args)
    if cfg.fabric == "all":
        from ..launch.fabrics import run_each_fabric
        return run_each_fabric(cfg, detect(os.environ))
    from ..sweep.sweep import run_sweep
    return run_sweep(cfg, detect(os.environ))

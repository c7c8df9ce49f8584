"""`run --fabric all`: one launch per fabric, because NCCL reads its environment once per
process. Every rank runs the sweep of each fabric in turn as a child process with the
fabric's preset, into OUT/<fabric>, the children of one fabric meeting on a port of their
own (MASTER_PORT + 1 + index: a store left over from the previous fabric cannot be
joined by mistake). A fabric that fails or is stopped ends the series with its status.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess

from collectives.fabric import FABRICS
from collectives.launch import LaunchEnv

from ..errors import EXIT_OK, UsageError
from ..sweep.config import RunConfig
from .command import rank_argv


def fabric_runs(cfg: RunConfig) -> list[RunConfig]:
    """The per-fabric configurations of a `--fabric all` run."""
    if cfg.resume:
        raise UsageError("--resume with --fabric all: resume one fabric's run, e.g. --fabric net --resume OUT/net")
    return [dataclasses.replace(cfg, fabric=fabric, out=cfg.out / fabric) for fabric in FABRICS]


def run_each_fabric(cfg: RunConfig, launch: LaunchEnv) -> int:
    for index, one in enumerate(fabric_runs(cfg)):
        env = dict(os.environ, MASTER_ADDR=launch.master_addr, MASTER_PORT=str(launch.master_port + 1 + index))
        if launch.rank == 0:
            print(f"# fabric {one.fabric}: {one.out}", flush=True)
        code = subprocess.call(rank_argv(one), env=env)
        if code != EXIT_OK:
            return code
    return EXIT_OK

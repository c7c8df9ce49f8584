"""What a backend needs to know about the launch it runs in: its place in the world and
where rank 0 listens. benchmarks/host/detect.py reads it from the launcher's variables."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LaunchEnv:
    launcher: str
    """"torchrun", "env" (RANK/WORLD_SIZE set by hand or by dryrun), "srun", "mpiexec"
    or "standalone"."""
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    master_addr: str
    master_port: int

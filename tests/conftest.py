"""Shared helpers: run the real `commscale` command and read what it wrote."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def commscale(*args, env=None, timeout=300, cwd=None):
    """Run `python -m benchmarks ARGS` as a user would; returns CompletedProcess (text)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID",
                 "SLURM_STEP_NUM_TASKS", "PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK"):
        if not env or name not in env:
            full_env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "benchmarks", *map(str, args)], env=full_env,
                          capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO)


def read_records(run_dir) -> list[dict]:
    with open(Path(run_dir) / "records.jsonl") as f:
        return [json.loads(line) for line in f]


@pytest.fixture
def run_cli():
    return commscale


@pytest.fixture(scope="session")
def slurm():
    """A real Slurm (munged, slurmctld, 2 slurmd as nodes n1, n2 with 4 CPUs each) for the
    whole session, stopped by PID at the end; skipped where Slurm cannot run."""
    from slurm_cluster import SlurmCluster
    why = SlurmCluster.unavailable()
    if why:
        pytest.skip(why)
    with SlurmCluster(nodes=2, cpus_per_node=4) as cluster:
        yield cluster


def namespaces() -> set[str]:
    """The network namespaces on this machine (`ip netns list`)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def no_leftovers():
    """The namespaces present before the test are the only ones after it (the emulated
    network's tests)."""
    before = namespaces()
    yield
    assert namespaces() == before

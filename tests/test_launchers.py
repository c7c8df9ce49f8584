"""The one entry point under torchrun and under srun's variables, with real processes."""
import json
import os
import subprocess
import sys

import pytest

from benchmarks.host.detect import free_port
from conftest import REPO, read_records
from record_checks import check_record

pytestmark = pytest.mark.slow  # torchrun, ranks


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "PMI_", "OMPI_", "TORCHELASTIC_")) and k not in
           ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    return dict(env, PYTHONPATH=str(REPO), **extra)


ARGS = ["run", "--collectives", "all_reduce,sendrecv", "--sizes", "1K,64K", "-n", "3", "-w", "1"]


def test_under_torchrun(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-port", str(free_port()), "-m", "benchmarks", *ARGS, "--out", str(out)]
    result = subprocess.run(cmd, env=_clean_env(), capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["launcher"] == "torchrun" and meta["world_size"] == 2
    records = read_records(out)
    assert len(records) == 4 and {r["nranks"] for r in records} == {2}
    for rec in records:
        check_record(rec, [1024, 65536])


def test_under_srun_variables(tmp_path):
    """Two processes given exactly the variables an srun step sets (no Slurm here: see the
    Slurm issue for a real one); MASTER_ADDR comes from the step's node list."""
    out = tmp_path / "run"
    port = free_port()
    procs = []
    for rank in range(2):
        env = _clean_env(SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_STEP_NUM_TASKS="2",
                         SLURM_STEP_TASKS_PER_NODE="2", SLURM_STEP_NODELIST="localhost",
                         SLURM_JOB_ID="4242", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, "-m", "benchmarks", *ARGS, "--out", str(out)],
                                      env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert codes == [0, 0], procs[0].stderr.read()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["launcher"] == "srun" and meta["env"]["SLURM_JOB_ID"] == "4242"
    assert len(read_records(out)) == 4


def test_a_usage_error_found_after_launch_ends_every_rank_promptly(tmp_path):
    """--ranks above the world is only known once the ranks are up: all must exit, none hang."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-port", str(free_port()), "-m", "benchmarks", "run", "--ranks", "4",
           "--timeout", "600", "--out", str(tmp_path / "run")]
    result = subprocess.run(cmd, env=_clean_env(), capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode != 0
    assert "commscale: error: --ranks asks for 4 ranks but the launch has 2" in result.stderr
    assert result.stderr.count("commscale: error:") == 1  # rank 0 speaks for all
    assert not (tmp_path / "run" / "records.jsonl").exists()

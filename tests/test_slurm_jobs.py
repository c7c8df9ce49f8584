"""`commscale slurm --submit --wait` against a real Slurm (tests/slurm_cluster.py: nodes n1
and n2 on this host): a CPU/gloo sweep at 1 and 2 nodes with 2 ranks per node, its report,
a job per node count, a stop signal, and a failing step."""
import json
import re
import subprocess
import sys
import time

import pytest

from benchmarks.host.detect import free_port
from conftest import REPO, commscale, read_records
from record_checks import check_record

pytestmark = pytest.mark.slow  # a real Slurm

SIZES = [1024, 8192, 65536]
SWEEP = ["slurm", "--nodes", "1,2", "--gpus-per-node", "0", "--ranks-per-node", "2", "--time", "10",
         "--backend", "gloo", "--collectives", "all_reduce,all_to_all", "--sizes", "1K,8K,64K", "-n", "3", "-w", "1"]
# Emulated node names do not resolve: the rendezvous goes to this host.
ENV = {"MASTER_ADDR": "127.0.0.1"}


def _env(slurm):
    return {**ENV, "SLURM_CONF": str(slurm.conf)}


def _job_name(slurm, job_id):
    shown = slurm.run(["scontrol", "show", "job", "-o", job_id]).stdout
    return re.search(r"JobName=(.*?) UserId=", shown).group(1)


def test_one_job_sweeps_one_and_two_nodes_and_leaves_a_report(slurm, tmp_path):
    """Hostile strings stay strings: the job name and the output path hold ';' and '$(...)'."""
    marker = tmp_path / "injected"
    out = tmp_path / f"runs; $(touch {marker}) x"
    name = f"cs;$(touch {marker})`touch {marker}`"
    looked = commscale(*SWEEP, "--job-name", name, "--out", out, "--print")  # the README's look-then-submit
    assert looked.returncode == 0 and "# submit with: sbatch " in looked.stdout, looked.stderr
    result = commscale(*SWEEP, "--job-name", name, "--out", out, "--submit", "--wait", env=_env(slurm), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr + slurm.logs()
    job_id = re.search(r"# submitted job (\d+)", result.stdout).group(1)
    assert json.loads((out / "submitted.json").read_text()) == {"job_ids": [job_id]}
    again = commscale(*SWEEP, "--job-name", name, "--out", out, "--submit", env=_env(slurm))
    assert again.returncode == 2 and "already holds a submitted commscale Slurm job" in again.stderr
    assert f"# job {job_id} COMPLETED, exit status 0" in result.stdout
    assert _job_name(slurm, job_id) == name and not marker.exists()
    records = read_records(out / "run")
    for rec in records:
        check_record(rec, SIZES)
    assert {(r["nnodes"], r["nranks"], r["ranks_per_node"]) for r in records} == {(1, 2, 2), (2, 4, 2)}
    assert len(records) == 2 * 3 * 2
    meta = json.loads((out / "run" / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["launcher"] == "srun" and meta["hosts"] == ["n1", "n2"]
    model = json.loads((out / "run" / "model.json").read_text())
    assert model["fits"]
    html = (out / "report" / "report.html").read_text()
    assert "all_reduce" in html and "<img" in html
    log = (out / f"slurm-{job_id}.out").read_text()
    assert "node counts 1,2" in log


def test_a_job_per_node_count_and_a_dependent_report(slurm, tmp_path):
    out = tmp_path / "runs"
    result = commscale(*SWEEP, "--job-per-count", "--out", out, "--submit", "--wait", env=_env(slurm), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr + slurm.logs()
    assert len(re.findall(r"COMPLETED, exit status 0", result.stdout)) == 3
    assert "(after jobs" in result.stdout
    for k in (1, 2):
        records = read_records(out / f"n{k}")
        assert {(r["nnodes"], r["nranks"]) for r in records} == {(k, 2 * k)}
    assert json.loads((out / "fit" / "model.json").read_text())["fits"]
    assert (out / "report" / "report.html").exists()


@pytest.mark.parametrize("launcher", ["tasks", "torchrun"])
def test_a_stop_signal_marks_the_run_incomplete_fails_the_job_and_still_reports(slurm, tmp_path, launcher):
    """scancel --signal=USR1 does what #SBATCH --signal=USR1@S does near the time limit: it
    reaches every process of the step (torchrun ignores it; its ranks stop)."""
    out = tmp_path / "runs"
    argv = [a if a != "3" else "300" for a in SWEEP]  # long enough to be stopped midway
    argv += ["--launcher", launcher, "--port", str(free_port())]
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks", *argv, "--out", str(out), "--submit", "--wait"],
                            env={**slurm.env, "PYTHONPATH": str(REPO), **_env(slurm)}, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job_id = re.search(r"# submitted job (\d+)", proc.stdout.readline()).group(1)
        records = out / "run" / "records.jsonl"
        deadline = time.monotonic() + 120
        while not (records.exists() and records.read_text().count("\n") >= 2):
            assert time.monotonic() < deadline and proc.poll() is None, "the sweep did not start"
            time.sleep(0.1)
        slurm.run(["scancel", "--signal=USR1", job_id])
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 4, stdout + stderr + slurm.logs()
    assert f"# job {job_id} FAILED, exit status 4" in stdout
    meta = json.loads((out / "run" / "meta.json").read_text())
    assert meta["status"] == "incomplete" and meta["stopped_by"] == "SIGUSR1"
    assert 2 <= len(read_records(out / "run")) == meta["points_done"] < meta["points_planned"]
    assert (out / "report" / "report.html").exists()
    assert "stopped by a signal at a point boundary" in (out / f"slurm-{job_id}.out").read_text()


def test_a_failing_step_fails_the_job(slurm, tmp_path, monkeypatch):
    """The run directory is taken when the job starts: the sweep exits 2, so does the job."""
    from slurm.jobs import wait
    out = tmp_path / "runs"
    rendered = commscale(*SWEEP, "--out", out, env=_env(slurm))
    assert rendered.returncode == 0, rendered.stderr
    assert f"# submit with: sbatch {out / 'commscale.sbatch'}" in rendered.stdout
    (out / "run").mkdir()
    (out / "run" / "records.jsonl").write_text("")
    job_id = slurm.run(["sbatch", "--parsable", str(out / "commscale.sbatch")], env=ENV).stdout.strip()
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))  # for scontrol, as on a login node
    (end,) = wait([job_id], poll_s=0.5)
    # 2 from the ranks, or 143 when srun --kill-on-bad-exit ended a rank that was a moment
    # slower to exit: non-zero either way.
    assert end.state == "FAILED" and end.exit_status in (2, 143), end
    log = (out / f"slurm-{job_id}.out").read_text()
    assert log.count("commscale: error:") == 1 and "already holds a run" in log
    assert f"the sweep failed with status {end.exit_status}" in log
    assert not (out / "report").exists()


def test_a_submission_sbatch_refuses_is_one_line_and_status_2(slurm, tmp_path):
    result = commscale(*SWEEP, "--partition", "nosuch", "--out", tmp_path / "job", "--submit", env=_env(slurm))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("commscale: error: sbatch rejected "), result.stderr
    assert "invalid partition" in lines[0].lower()
    assert (tmp_path / "job" / "commscale.sbatch").exists()  # kept, to fix and submit by hand


@pytest.mark.parametrize("launcher", ["torchrun", "srun-mpi"])
def test_the_other_launch_templates_run_too(slurm, tmp_path, launcher):
    """torchrun per node (c10d rendezvous on MASTER_ADDR), and MPI ranks through srun --mpi=pmi2
    (with MPICH's OFI netmod: see test_slurm_mpi.py)."""
    if launcher == "srun-mpi":
        pytest.importorskip("mpi4py")
    backend = "mpi" if launcher == "srun-mpi" else "gloo"
    out = tmp_path / "runs"
    argv = [a if a != "gloo" else backend for a in SWEEP]
    result = commscale(*argv, "--launcher", launcher, "--port", str(free_port()), "--out", out, "--submit", "--wait",
                       env={**_env(slurm), "MPIR_CVAR_CH4_NETMOD": "ofi"}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr + slurm.logs()
    records = read_records(out / "run")
    assert {(r["nnodes"], r["nranks"], r["backend"]) for r in records} == {(1, 2, backend), (2, 4, backend)}
    meta = json.loads((out / "run" / "meta.json").read_text())
    assert meta["launcher"] == ("torchrun" if launcher == "torchrun" else "srun")
    assert (out / "report" / "report.html").exists()

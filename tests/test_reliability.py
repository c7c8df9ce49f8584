"""Reliability with real processes: a rank killed (SIGKILL) or frozen (SIGSTOP) mid-sweep
ends the run on every rank within --timeout, naming the point and the rank; records
written before stay intact; meta.json says incomplete. gloo ranks are started as torchrun
would (dryrun.start_local_ranks), MPI ranks by `commscale dryrun --backend mpi`."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.launch.local import start_local_ranks, stop_ranks
from benchmarks.launch.outcome import launch_failed
from benchmarks.errors import EXIT_LOST
from conftest import REPO, read_records
from record_checks import check_record

TIMEOUT_S = 8
SIZES = [1024, 65536, 1 << 20]
# all_reduce at 3 sizes x 2000 calls: long enough to be hit mid-sweep.
ARGS = ["--collectives", "all_reduce", "--sizes", "1K,64K,1M", "-n", "2000", "-w", "1", "--timeout", str(TIMEOUT_S)]


def _wait_for_records(out: Path, n: int, alive, timeout=120):
    deadline = time.monotonic() + timeout
    path = out / "records.jsonl"
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert alive(), "the run ended before it could be interrupted"
        time.sleep(0.05)
    pytest.fail(f"fewer than {n} records after {timeout} s")


def _check_intact(out: Path) -> list[dict]:
    text = (out / "records.jsonl").read_text()
    assert text.endswith("\n")
    records = read_records(out)
    for rec in records:
        check_record(rec, SIZES)
    return records


def _gloo_ranks(out: Path, world: int):
    argv = [sys.executable, "-m", "benchmarks", "run", *ARGS, "--ranks", str(world), "--out", str(out)]
    return start_local_ranks(argv, world, rank0_stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_all(procs, timeout):
    deadline = time.monotonic() + timeout
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(max(deadline - time.monotonic(), 0.1)))
        except subprocess.TimeoutExpired:
            codes.append(None)
    return codes


@pytest.mark.slow
def test_a_killed_gloo_rank_ends_the_run_on_every_rank_and_is_named(tmp_path):
    out = tmp_path / "run"
    procs = _gloo_ranks(out, 3)
    try:
        _wait_for_records(out, 1, lambda: all(p.poll() is None for p in procs))
        victim = procs[2].pid
        procs[2].kill()
        started = time.monotonic()
        codes = _wait_all(procs[:2], TIMEOUT_S + 30)
        took = time.monotonic() - started
    finally:
        stop_ranks(procs)
    stderr0 = procs[0].stderr.read()
    assert codes == [EXIT_LOST, EXIT_LOST], stderr0
    assert took < TIMEOUT_S + 20
    line = [x for x in stderr0.splitlines() if x.startswith("commscale: error:")]
    assert len(line) == 1, stderr0
    assert "all_reduce float32 sum in-place" in line[0] and "on 3 ranks (ranks 0-2" in line[0]
    assert "no sign of life from rank 2 (host" in line[0] and f"pid {victim})" in line[0]
    assert "Traceback" not in stderr0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "incomplete" and "rank 2" in meta["failure"]
    records = _check_intact(out)
    assert len(records) == meta["points_done"] >= 1


@pytest.mark.slow
def test_a_frozen_rank_times_out_and_a_sigterm_marks_the_run_at_once(tmp_path):
    """Rank 1 stopped (SIGSTOP): rank 0 blocks in the collective. A SIGTERM to rank 0 marks
    meta.json incomplete within seconds although its main thread is blocked; at --timeout
    the watchdog ends it, naming the frozen rank."""
    out = tmp_path / "run"
    procs = _gloo_ranks(out, 2)
    try:
        _wait_for_records(out, 1, lambda: all(p.poll() is None for p in procs))
        procs[1].send_signal(signal.SIGSTOP)
        time.sleep(1)
        procs[0].send_signal(signal.SIGTERM)
        time.sleep(3)
        meta = json.loads((out / "meta.json").read_text())
        assert procs[0].poll() is None
        assert meta["status"] == "incomplete" and meta["stopped_by"] == "SIGTERM"
        code = _wait_all(procs[:1], TIMEOUT_S + 30)[0]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()  # a stopped process dies of SIGKILL too
        stop_ranks(procs)
    stderr0 = procs[0].stderr.read()
    assert code == EXIT_LOST, stderr0
    assert f"did not finish within --timeout {TIMEOUT_S} s" in stderr0
    assert "no sign of life from rank 1 (host" in stderr0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "incomplete" and "rank 1" in meta["failure"]
    _check_intact(out)


def _rank_pid(out: Path, rank: int) -> int | None:
    """The pid of MPI rank `rank` of the run writing to `out` (from /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in cmd and str(out).encode() in cmd and f"PMI_RANK={rank}".encode() in env:
            return int(entry.name)
    return None


@pytest.mark.slow
def test_a_killed_mpi_rank_ends_the_job_and_the_run_is_marked_incomplete(tmp_path):
    """MPICH's mpiexec ends every rank the moment one dies (and names a PID); the dry run,
    which outlives the ranks, marks meta.json incomplete. Records stay intact."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    dry = subprocess.Popen([sys.executable, "-m", "benchmarks", "dryrun", "--backend", "mpi", "--nproc", "3",
                            *ARGS, "--ranks", "3", "--out", str(out)],
                           env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_records(out, 1, lambda: dry.poll() is None)
        pids = [_rank_pid(out, rank) for rank in range(3)]
        assert all(pids)
        os.kill(pids[2], signal.SIGKILL)
        started = time.monotonic()
        output, _ = dry.communicate(timeout=TIMEOUT_S + 30)
        took = time.monotonic() - started
    finally:
        if dry.poll() is None:
            dry.kill()
            dry.wait()
    assert dry.returncode != 0 and took < TIMEOUT_S + 20
    # mpiexec names the first rank it saw end badly: the victim, or one its clean-up killed.
    named = re.search(r"PID (\d+) RUNNING AT", output)
    assert named and int(named.group(1)) in pids and "Killed (signal 9)" in output, output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "incomplete" and "status 9" in meta["failure"]
    _check_intact(out)


@pytest.mark.slow
def test_a_frozen_mpi_rank_times_out_and_the_job_is_aborted(tmp_path):
    """MPI has no timeout of its own: the watchdog names the frozen rank at --timeout and
    MPI_Abort ends the whole job, the frozen rank too."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    dry = subprocess.Popen([sys.executable, "-m", "benchmarks", "dryrun", "--backend", "mpi", "--nproc", "3",
                            *ARGS, "--ranks", "3", "--out", str(out)],
                           env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = None
    try:
        _wait_for_records(out, 1, lambda: dry.poll() is None)
        victim = _rank_pid(out, 1)
        assert victim
        os.kill(victim, signal.SIGSTOP)
        output, _ = dry.communicate(timeout=TIMEOUT_S + 40)
    finally:
        if dry.poll() is None:
            dry.kill()
            dry.wait()
        if victim and _alive(victim):
            os.kill(victim, signal.SIGKILL)
    assert dry.returncode == EXIT_LOST, output
    assert f"did not finish within --timeout {TIMEOUT_S} s" in output
    assert "no sign of life from rank 1 (host" in output and f"pid {victim})" in output
    assert not _alive(victim)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "incomplete" and "rank 1" in meta["failure"] and meta["exit_status"] == EXIT_LOST
    _check_intact(out)


@pytest.mark.parametrize("launcher_status", [9, 137, 1, EXIT_LOST])
def test_the_watchdogs_recorded_verdict_stands_whatever_the_launcher_reports(tmp_path, capsys, launcher_status):
    """MPICH's mpiexec, ending the job on MPI_Abort(5), may report another rank's SIGKILL
    (9) instead: the status rank 0 recorded in meta.json is the run's."""
    (tmp_path / "meta.json").write_text(json.dumps({"status": "incomplete", "failure": "x: no sign of life",
                                                    "exit_status": EXIT_LOST}))
    assert launch_failed(tmp_path, launcher_status, "commscale dryrun") == EXIT_LOST
    err = capsys.readouterr().err
    assert "finish with: commscale dryrun --resume" in err and "exited with status" not in err


def test_without_a_recorded_verdict_the_launchers_status_is_a_crash(tmp_path, capsys):
    (tmp_path / "meta.json").write_text(json.dumps({"status": "running"}))
    assert launch_failed(tmp_path, 9, "commscale dryrun") == 3
    assert "a rank exited with status 9" in capsys.readouterr().err
    assert json.loads((tmp_path / "meta.json").read_text())["status"] == "incomplete"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"

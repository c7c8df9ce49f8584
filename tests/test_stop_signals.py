"""SIGUSR1 / SIGTERM (Slurm's --signal, time limit, preemption) stop a real 2-rank gloo
sweep at a point boundary: exit status 4, meta.json 'incomplete', every record kept. A
signal (SIGTERM, SIGINT, SIGHUP) to `dryrun` (gloo, mpi) or `emulate` goes on to the ranks
they started, which stop the same way, and nothing they started is left running; the
doctor's ranks stop after the round they are measuring."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from benchmarks.errors import EXIT_STOPPED
from benchmarks.launch.local import start_local_ranks
from conftest import read_records
from record_checks import check_record

pytestmark = pytest.mark.slow  # gloo ranks

SIZES = [1024, 4096, 16384, 65536]
# Long enough that a signal lands mid-sweep: 7 collectives x 4 sizes x 200 calls.
ARGS = ["run", "--sizes", "1K,4K,16K,64K", "-n", "200", "-w", "1"]


def _start_ranks(out, world=2):
    return start_local_ranks([sys.executable, "-m", "benchmarks", *ARGS, "--out", str(out)], world,
                             rank0_stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_records(out, n, procs, timeout=120):
    deadline = time.monotonic() + timeout
    path = out / "records.jsonl"
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert all(p.poll() is None for p in procs), "a rank ended before the signal"
        time.sleep(0.05)
    pytest.fail(f"fewer than {n} records after {timeout} s")


@pytest.mark.parametrize("sig, to_ranks", [(signal.SIGUSR1, (1,)), (signal.SIGTERM, (0, 1))])
def test_a_stop_signal_ends_the_sweep_at_a_point_boundary(tmp_path, sig, to_ranks):
    """SIGUSR1 to rank 1 alone: rank 0 learns of it at the next boundary and both stop."""
    out = tmp_path / "run"
    procs = _start_ranks(out)
    try:
        _wait_for_records(out, 3, procs)
        for rank in to_ranks:
            procs[rank].send_signal(sig)
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    stdout0, stderr0 = procs[0].communicate()
    assert codes == [EXIT_STOPPED, EXIT_STOPPED], stderr0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "incomplete" and meta["stopped_by"] == sig.name
    records = read_records(out)
    planned = 7 * len(SIZES)
    assert 3 <= len(records) == meta["points_done"] < planned == meta["points_planned"]
    for rec in records:
        check_record(rec, SIZES)
    assert f"stopped by {sig.name} after {len(records)} of {planned} points" in stdout0


# --- the launchers: dryrun (gloo, mpi), emulate; and the doctor's ranks -------------------

STOP_WITHIN_S = 30
"""A stopped command and everything it started are gone within this (the ranks' grace is
launch/local.py's STOP_GRACE_S, 10 s; a point at these sizes takes under a second)."""


def _launch(tmp_path, *args):
    """`commscale ARGS` in a new interpreter and a session of its own, as a user starts it."""
    from conftest import LAUNCH_VARIABLES, REPO
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARIABLES}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen([sys.executable, "-m", "benchmarks", *map(str, args)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _stop_and_check(proc, out, sig, records=3):
    """Once `records` are written: every process below `proc`, then `sig` to it; it ends
    with EXIT_STOPPED within STOP_WITHIN_S, and so does every one of them. Its output."""
    from benchmarks.launch.local import descendants
    try:
        _wait_for_records(out, records, [proc], timeout=240)
        below = descendants(proc.pid)
        assert below, "the launcher started no process"
        start = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=STOP_WITHIN_S)
        stdout, stderr = proc.communicate()
        left = [pid for pid, started in below if _running(pid, started)]
        while left and time.monotonic() - start < STOP_WITHIN_S:
            time.sleep(0.1)
            left = [pid for pid, started in below if _running(pid, started)]
        assert not left, f"still running {time.monotonic() - start:.1f} s after {sig.name}: {left}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert code == EXIT_STOPPED, stderr[-2000:]
    return stdout, stderr


def _running(pid, started) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in "ZX" and fields[19] == started


def _check_kept(out, sig, stderr, resume):
    meta = json.loads((out / "meta.json").read_text())  # the ranks had SIGTERM, the launcher `sig`
    assert meta["status"] == "incomplete" and meta["stopped_by"] == "SIGTERM" and meta["launcher_signal"] == sig.name
    records = read_records(out)
    assert len(records) >= 3 and all(r["status"] == "ok" for r in records)
    assert f"stopped by {sig.name}: records measured so far are in {out}; finish with: {resume} --resume {out}" \
        in stderr
    return records


DRYRUN = ["--collectives", "all_reduce,all_to_all", "--sizes", "1K,4K,16K,64K", "-n", "300", "-w", "1"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_a_gloo_dryrun_stops_its_ranks_and_keeps_the_records(tmp_path, sig):
    out = tmp_path / "run"
    proc = _launch(tmp_path, "dryrun", "--nproc", "2", *DRYRUN, "--out", out)
    stdout, stderr = _stop_and_check(proc, out, sig)
    records = _check_kept(out, sig, stderr, "commscale dryrun --backend gloo --nproc 2")
    assert f"stopped by SIGTERM after {len(records)} of " in stdout  # the ranks were sent SIGTERM
    assert "# compute" not in stdout and not (out / "report.md").exists()  # no model after a stop


def test_a_signal_to_an_mpi_dryrun_stops_mpiexec_and_its_ranks(tmp_path):
    """mpiexec's ranks run in sessions of their own (Hydra): the launcher finds them in /proc."""
    out = tmp_path / "run"
    proc = _launch(tmp_path, "dryrun", "--backend", "mpi", "--nproc", "4", *DRYRUN, "--out", out)
    _, stderr = _stop_and_check(proc, out, signal.SIGTERM)
    _check_kept(out, signal.SIGTERM, stderr, "commscale dryrun --backend mpi --nproc 4")


CAN_EMULATE = os.geteuid() == 0 and shutil.which("ip") and shutil.which("tc")


@pytest.mark.skipif(not CAN_EMULATE, reason="emulate needs root, ip and tc")
def test_a_signal_to_emulate_stops_its_ranks_and_removes_the_network(tmp_path, no_leftovers):
    out = tmp_path / "emu"
    proc = _launch(tmp_path, "emulate", "--emulated-nodes", "2", "--rate", "1gbit", "--collectives", "all_reduce",
                   "--sizes", "64K,256K,1M,4M", "--layout", "inter", "-n", "100", "-w", "1", "--out", out)
    _, stderr = _stop_and_check(proc, out, signal.SIGTERM, records=2)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "incomplete" and meta["stopped_by"] == "SIGTERM" and meta["emulated_network"]
    assert read_records(out) and "finish with: commscale emulate --emulated-nodes 2" in stderr


def test_a_signal_to_the_doctor_ends_it_after_the_round(tmp_path):
    """The doctor's ranks, as torchrun starts them (each a node) and forwards SIGTERM to them."""
    from benchmarks.host.detect import free_port
    from conftest import REPO
    out, port, procs = tmp_path / "doc", free_port(), []
    for rank in range(3):
        env = {**os.environ, "PYTHONPATH": str(REPO), "RANK": str(rank), "WORLD_SIZE": "3", "LOCAL_RANK": "0",
               "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "COMMSCALE_NODE_NAME": f"node{rank}"}
        procs.append(subprocess.Popen([sys.executable, "-m", "benchmarks", "doctor", "--size", "256K", "-w", "1",
                                       "-n", "20", "--passes", "50", "--out", str(out)], env=env, cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        _wait_for_records(out, 4, procs)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=STOP_WITHIN_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    stdout0 = procs[0].communicate()[0]
    assert codes == [EXIT_STOPPED] * 3, stdout0
    doc = json.loads((out / "doctor.json").read_text())
    meta = json.loads((out / "meta.json").read_text())
    assert doc["status"] == "incomplete" and meta["status"] == "incomplete" and meta["stopped_by"] == "SIGTERM"
    assert 4 <= len(read_records(out)) == len(doc["pairs"]) < 3 * 2 * 50
    assert "# stopped by SIGTERM after" in stdout0 and "run it again to finish" in stdout0


def test_stopping_a_launcher_also_ends_what_it_started_in_other_sessions():
    """Hydra starts its proxies and ranks with setsid: ending mpiexec alone would leave them.
    stop_ranks ends them too, found in /proc below the process it started."""
    from benchmarks.launch.local import descendants, stop_ranks
    child = ("import subprocess, sys, time\n"
             "for _ in range(2):\n"
             "    subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, "
             "signal.SIG_IGN); time.sleep(300)'], start_new_session=True)\n"
             "time.sleep(300)\n")
    launcher = subprocess.Popen([sys.executable, "-c", child])
    try:
        deadline = time.monotonic() + 30
        while len(below := descendants(launcher.pid)) < 2:
            assert time.monotonic() < deadline, "the launcher's children did not start"
            time.sleep(0.05)
        start = time.monotonic()
        stop_ranks([launcher])
        assert time.monotonic() - start < 15
        time.sleep(0.2)
        assert not [pid for pid, started in below if _running(pid, started)]  # SIGTERM ignored: killed
    finally:
        if launcher.poll() is None:
            launcher.kill()

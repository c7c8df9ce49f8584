"""SIGUSR1 / SIGTERM (Slurm's --signal, time limit, preemption) stop a real 2-rank gloo
sweep at a point boundary: exit status 4, meta.json 'incomplete', every record kept."""
import json
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

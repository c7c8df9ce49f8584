"""--resume with real runs: a 2-rank gloo sweep stopped by SIGTERM (and its records file
then cut mid-line, as a kill mid-write leaves it) is resumed, and ends with exactly the
points of an uninterrupted run of the same command: no duplicates, no gaps."""
import json
import signal
import subprocess
import sys
from collections import Counter

import pytest

from benchmarks.launch.local import start_local_ranks, stop_ranks
from benchmarks.errors import EXIT_OK, EXIT_STOPPED
from benchmarks.sweep.resume import record_key
from conftest import commscale_here, read_records
from record_checks import check_record
from test_reliability import _wait_for_records

pytestmark = pytest.mark.slow  # gloo ranks

SIZES = [1024, 4096, 16384, 65536]
ARGS = ["--sizes", "1K,4K,16K,64K", "-n", "100", "-w", "1", "--in-place", "both"]


def _run(out, *extra, world=2):
    argv = [sys.executable, "-m", "benchmarks", "run", *ARGS, "--out", str(out), *extra]
    return start_local_ranks(argv, world, rank0_stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(procs, timeout=300):
    try:
        codes = [p.wait(timeout=timeout) for p in procs]
        outputs = procs[0].communicate()
    finally:
        stop_ranks(procs)
    return codes, outputs


def test_an_interrupted_then_resumed_run_has_exactly_the_points_of_an_uninterrupted_one(tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    codes, _ = _finish(_run(whole))
    assert codes == [EXIT_OK, EXIT_OK]

    procs = _run(part)
    try:
        _wait_for_records(part, 5, lambda: all(p.poll() is None for p in procs))
        for p in procs:
            p.send_signal(signal.SIGTERM)
    finally:
        codes, _ = _finish(procs)
    assert codes == [EXIT_STOPPED, EXIT_STOPPED]
    before = read_records(part)
    with open(part / "records.jsonl", "a") as f:  # a kill mid-write leaves half a line
        f.write('{"schema_version":1,"run_id":"x","timest')

    codes, (stdout, stderr) = _finish(_run(part, "--resume", str(part)))
    assert codes == [EXIT_OK, EXIT_OK], stderr
    assert "dropping a last line cut short" in stderr
    assert f"resuming: {len(before)} of " in stdout
    after = read_records(part)
    assert after[:len(before)] == before  # nothing measured before is touched
    keys = Counter(record_key(r) for r in after)
    assert keys == Counter(record_key(r) for r in read_records(whole))
    assert max(keys.values()) == 1 and len(after) == len(read_records(whole))
    assert {r["run_id"] for r in after} == {before[0]["run_id"]}
    for rec in after:
        check_record(rec, SIZES)
    meta = json.loads((part / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["points_done"] == meta["points_planned"] == len(after)
    assert meta["resumed"][0]["points_before"] == len(before)


def test_resuming_a_complete_run_measures_nothing(tmp_path):
    out = tmp_path / "run"
    codes, _ = _finish(_run(out, "--collectives", "broadcast"))
    assert codes == [EXIT_OK, EXIT_OK]
    first = (out / "records.jsonl").read_text()
    # No sweep flags: the sweep comes from meta.json.
    argv = [sys.executable, "-m", "benchmarks", "run", "--resume", str(out)]
    procs = start_local_ranks(argv, 2, rank0_stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    codes, (stdout, stderr) = _finish(procs)
    assert codes == [EXIT_OK, EXIT_OK], stderr
    assert f"resuming: {len(SIZES)} of {len(SIZES)} points already measured" in stdout
    assert (out / "records.jsonl").read_text() == first
    assert json.loads((out / "meta.json").read_text())["status"] == "complete"


def test_resume_refuses_a_different_sweep_or_launch(tmp_path):
    out = tmp_path / "run"
    codes, _ = _finish(_run(out, "--collectives", "broadcast"))
    assert codes == [EXIT_OK, EXIT_OK]
    for argv, message in [
        (["run", "--resume", out, "--sizes", "1M"], "measures that run's sweep (sizes"),
        (["run", "--resume", out, "--collectives", "all_reduce"], "measures that run's sweep (collectives"),
        (["run", "--resume", out, "--out", tmp_path / "other"], "differ: drop --out"),
        (["run", "--resume", out], "that run had 2 ranks on 1 host(s), this launch has 1 on 1"),
        (["run", "--resume", tmp_path / "nothing"], "no meta.json there"),
    ]:
        result = commscale_here(*argv)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, (argv, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr

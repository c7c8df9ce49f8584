"""Out of memory at a size: that point is recorded as skipped with the reason and the sweep
goes on. The ranks run with an address-space limit (64 GiB), so a 1 TiB point cannot be
allocated on any machine, whatever its memory or overcommit policy."""
import os
import resource
import subprocess
import sys

import pytest

from conftest import REPO, read_records

pytestmark = pytest.mark.slow  # processes under an address-space limit

LIMIT_BYTES = 64 << 30


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=_limited, timeout=120)


def test_the_allocators_real_errors_are_recognised_as_out_of_memory():
    result = _python(
        "import numpy, torch\n"
        "from benchmarks.sweep.harness import is_out_of_memory\n"
        "for make in (lambda: numpy.empty(1 << 40), lambda: torch.empty(1 << 40, dtype=torch.uint8)):\n"
        "    try:\n"
        "        make()\n"
        "    except Exception as exc:\n"
        "        print(type(exc).__name__, is_out_of_memory(exc))\n"
        "print('other', is_out_of_memory(RuntimeError('Connection reset by peer')))\n")
    assert result.stdout.split("\n")[:3] == ["MemoryError True", "RuntimeError True", "other False"], result.stderr


def test_a_size_that_cannot_be_allocated_is_skipped_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--collectives", "all_reduce,all_gather", "--sizes", "4K,1T",
         "-n", "3", "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=_limited, timeout=300)
    assert result.returncode == 0, result.stderr
    records = {(r["collective"], r["size_bytes"]): r for r in read_records(out)}
    assert len(records) == 4
    for name in ("all_reduce", "all_gather"):
        assert records[(name, 4096)]["status"] == "ok"
        big = records[(name, 1 << 40)]
        assert big["status"] == "skipped" and big["reason"].startswith("out of memory at this size: ")
        assert "the sweep goes on" in big["reason"] and big["time_us_mean"] is None

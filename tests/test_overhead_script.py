"""The overhead benchmarks run and print their tables (their figures are for people, not asserted)."""
import re
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.parametrize("module", ["benchmarks.overhead_torch", "benchmarks.overhead_mpi"])
def test_overhead_benchmark_prints_a_row_per_size_and_the_call_path_line(module):
    result = subprocess.run([sys.executable, "-m", module, "--sizes", "8,64K", "--rounds", "3", "--iters", "5"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode in (0, 1), result.stderr  # 1 only if a goal was clearly missed
    rows = [line for line in result.stdout.splitlines() if re.match(r"^\s+(8 B|64 KiB)\s", line)]
    assert len(rows) == 2
    assert re.search(r"call path without a network .*: bare [\d.]+ us, harness [+-][\d.]+ us", result.stdout)
    assert re.search(r"# goals: \d met, \d unresolved, \d missed, of 2", result.stdout)

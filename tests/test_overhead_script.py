"""The overhead benchmarks run and print their tables (their figures are for people, not asserted;
the exit status must agree with the verdicts they print)."""
import re
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow  # the benchmarks' own ranks, mpiexec, gcc


@pytest.mark.parametrize("module", ["benchmarks.selfbench.overhead_torch", "benchmarks.selfbench.overhead_mpi"])
def test_overhead_benchmark_prints_a_row_per_size_and_the_call_path_line(module):
    result = subprocess.run([sys.executable, "-m", module, "--sizes", "8,64K", "--rounds", "3", "--iters", "5"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    rows = [line for line in result.stdout.splitlines() if re.match(r"^\s+(8 B|64 KiB)\s", line)]
    assert len(rows) == 2, result.stderr
    assert re.search(r"call path without a network .*: bare [\d.]+ us, harness [+-][\d.]+ us", result.stdout)
    goals = re.search(r"# goals: (\d) met, (\d) unresolved, (\d) missed, of 2", result.stdout)
    assert goals, result.stdout
    verdicts = [line.rsplit(": ", 1)[1] for line in rows]
    assert [int(n) for n in goals.groups()] == [verdicts.count(v) for v in ("met", "unresolved", "MISSED")]
    # exit status 1 exactly when a goal was clearly missed, 0 otherwise (2 or 3 would be an error)
    assert result.returncode == (1 if "MISSED" in verdicts else 0), result.stderr


def test_soak_benchmark_prints_rss_of_both_runs_side_by_side(tmp_path):
    result = subprocess.run([sys.executable, "-m", "benchmarks.selfbench.soak", "--calls", "800", "--longer", "2",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr
    runs = re.findall(r"# (shorter|longer) run: 2 gloo ranks, (\d+) points x \(2 warm-up \+ (\d+) timed\) = (\d+) "
                      r"collective calls", result.stdout)
    assert [r[0] for r in runs] == ["shorter", "longer"]
    (_, points_a, iters_a, calls_a), (_, points_b, iters_b, calls_b) = runs
    assert points_a == points_b and int(calls_b) > int(calls_a) >= 800
    rows = re.findall(r"^\s+[01]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+[+-][\d.]+\s+[+-][\d.]+$",
                      result.stdout, re.M)
    assert len(rows) == 4 and all(float(v) > 10 for row in rows for v in row)  # MiB of a live Python rank
    assert len(re.findall(r"# rank [01]: end RSS [\d.]+ MiB after \d+ calls, [\d.]+ MiB after \d+ calls", result.stdout)) == 2


def test_gloo_reference_pairs_launches_and_prints_a_row_per_size():
    result = subprocess.run([sys.executable, "-m", "benchmarks.gloo_reference", "--sizes", "8,64K", "--rounds", "2",
                             "--iters", "5", "--warmup", "1", "--port", "29561"],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^\| (8 B|64 KiB) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \(([\d.]+)-([\d.]+)\) \|", result.stdout, re.M)
    assert [r[0] for r in rows] == ["8 B", "64 KiB"]
    for _, bare, ours, ratio, lo, hi in rows:
        assert float(bare) > 0 and float(ours) > 0 and float(lo) <= float(ratio) <= float(hi)

"""compare on real runs of this machine (slow: each starts gloo ranks): identical code passes
the gate, and the same records with a 20% slowdown injected into one collective fail it
(exit 1). The false-alarm rate and the power behind the defaults:
benchmarks/selfbench/compare_noise.py, docs/compare.md."""
import json

import pytest
from conftest import commscale_here, local_run

pytestmark = pytest.mark.slow

SWEEP = ("--backend", "gloo", "--collectives", "all_reduce,broadcast", "-b", "1K", "-e", "128K")


def _slowed(run, out, collective, factor):
    """A copy of a run's records.jsonl, `collective`'s time fields x factor, bandwidths / factor."""
    out.mkdir(parents=True)
    lines = []
    for line in (run / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["collective"] == collective and rec["status"] == "ok":
            for field in ("time_us_mean", "time_us_median", "time_us_min", "time_us_max", "time_us_p99"):
                rec[field] *= factor
            rec["algbw_gbps"] /= factor
            rec["busbw_gbps"] /= factor
        lines.append(json.dumps(rec))
    (out / "records.jsonl").write_text("\n".join(lines) + "\n")
    return out


def test_identical_code_passes_and_an_injected_slowdown_fails(tmp_path):
    runs = []
    for name in ("a", "b", "c"):
        result = local_run(2, *SWEEP, "--out", tmp_path / name)
        assert result.returncode == 0, result.stderr
        runs.append(tmp_path / name)
    same = commscale_here("compare", runs[0], runs[1], "--fail-on", "time_us:+5%")
    assert same.returncode == 0, same.stdout
    assert same.stdout.splitlines()[-1].startswith("PASS: 0 of 2 collectives regressed")
    pooled = [x for r in runs for x in ("--base", r)]
    slow = [x for i, r in enumerate(runs) for x in ("--new", _slowed(r, tmp_path / f"slow{i}", "broadcast", 1.2))]
    caught = commscale_here("compare", *pooled, *slow, "--fail-on", "time_us:+5%")
    assert caught.returncode == 1, caught.stdout
    verdict = next(line for line in caught.stdout.splitlines() if line.startswith("  broadcast"))
    assert verdict.split()[2] == "+20.0" and "regressed (time_us:+5%)" in verdict
    assert caught.stdout.splitlines()[-1].startswith("FAIL: 1 of 2 collectives regressed")

"""compare on real runs of this machine (slow: each starts gloo ranks): identical code passes
the gate with the defaults; a 20% slowdown injected into one collective of a run's own
records is shown, and fails the gate (exit 1) under a floor below 20%, as a quieter
machine's calibration gives; 4x fails it with this machine's defaults. The false-alarm rate
and the power behind the defaults: benchmarks/selfbench/compare_noise.py, docs/compare.md."""
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
    for name in ("a", "b"):
        result = local_run(2, *SWEEP, "--out", tmp_path / name)
        assert result.returncode == 0, result.stderr
    a, b = tmp_path / "a", tmp_path / "b"
    same = commscale_here("compare", a, b, "--fail-on", "time_us:+5%")
    assert same.returncode == 0, same.stdout
    assert same.stdout.splitlines()[-1].startswith("PASS: 0 of 2 collectives regressed")
    # b's own records, broadcast 20% slower: past the measured one-run-a-side floor (19%): caught
    slow = _slowed(b, tmp_path / "slow", "broadcast", 1.2)
    caught = commscale_here("compare", b, slow, "--fail-on", "time_us:+5%")
    assert caught.returncode == 1, caught.stdout
    verdict = next(line for line in caught.stdout.splitlines() if line.startswith("  broadcast"))
    assert verdict.split()[2] == "+20.0" and "regressed (time_us:+5%)" in verdict
    assert caught.stdout.splitlines()[-1].startswith("FAIL: 1 of 2 collectives regressed")
    # 5% slower: reported (its change is on the verdict line) but inside the floor, so not a failure
    small = commscale_here("compare", b, _slowed(b, tmp_path / "small", "broadcast", 1.05), "--fail-on", "time_us:+5%")
    verdict = next(line for line in small.stdout.splitlines() if line.startswith("  broadcast"))
    assert small.returncode == 0 and verdict.split()[2] == "+5.0" and verdict.split()[-1] == "same"
    # a machine with a wider floor (the loaded VM needed 238%) lets the 20% through: the floor is the user's to set
    loose = commscale_here("compare", b, slow, "--fail-on", "time_us:+5%", "--collective-floor-pct", "238")
    assert loose.returncode == 0, loose.stdout

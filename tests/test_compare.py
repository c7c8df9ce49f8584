"""compare: aligned ratios, differences flagged only beyond noise (per point and per
collective), and --fail-on exit codes (1: a collective regressed; 2: bad input). More:
test_compare_gate.py."""
from conftest import commscale_here
from synthetic import write_run


def _run(path, factor, spread_pct=None):
    """all_reduce at 2 and 4 ranks, 3 sizes; times x factor; a median CI of spread_pct."""
    points = [(1, p, p, "loopback", n, (10 + n / 1e3) * factor) for p in (2, 4) for n in (1024, 65536, 1 << 20)]
    run = write_run(path, points)
    if spread_pct is not None:
        lines = run.joinpath("records.jsonl").read_text().replace('"median_ci95_rel_pct":null',
                                                                  f'"median_ci95_rel_pct":{spread_pct}')
        run.joinpath("records.jsonl").write_text(lines)
    return run


def test_a_regression_beyond_noise_fails_and_one_within_does_not(tmp_path):
    base = _run(tmp_path / "base", 1.0, spread_pct=1.0)
    slow = _run(tmp_path / "slow", 1.25, spread_pct=1.0)        # busbw -20%, points' own noise ~1.4%
    result = commscale_here("compare", base, slow, "--fail-on", "busbw_gbps:-5%", "--noise-floor-pct", "2",
                            "--collective-floor-pct", "10")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "6 points aligned" in result.stdout and "# points beyond noise: 6 of 6" in result.stdout
    assert result.stdout.count("  slower") == 6
    verdict = next(line for line in result.stdout.splitlines() if line.startswith("  all_reduce ") and "[" in line)
    assert verdict.split()[1:3] == ["6", "+25.0"] and verdict.split()[-3:] == ["-20.0", "regressed",
                                                                                "(busbw_gbps:-5%)"]
    assert result.stdout.splitlines()[-1].startswith("FAIL: 1 of 1 collectives regressed, 6 of 6 points beyond noise")
    # the same slowdown does not fail a looser threshold: slower, not regressed
    looser = commscale_here("compare", base, slow, "--fail-on", "busbw_gbps:-25%", "--collective-floor-pct", "10")
    assert looser.returncode == 0 and " slower\n" in looser.stdout and looser.stdout.splitlines()[-1].startswith("PASS")
    # a time rule in the other direction catches it too
    assert commscale_here("compare", base, slow, "--fail-on", "time_us:+10%",
                          "--collective-floor-pct", "10").returncode == 1


def test_differences_inside_the_noise_are_not_flagged(tmp_path):
    base = _run(tmp_path / "base", 1.0, spread_pct=15.0)
    new = _run(tmp_path / "new", 1.10, spread_pct=15.0)         # 10% slower, points' own noise ~21%
    result = commscale_here("compare", base, new, "--fail-on", "busbw_gbps:-5%", "--noise-floor-pct", "2",
                            "--collective-floor-pct", "12")
    assert result.returncode == 0, result.stdout
    assert "# points beyond noise: 0 of 6" in result.stdout and "[-1.8, +23.2]" in result.stdout
    # six points all 10% slower are beyond a collective floor of 5%: the collective regressed
    tighter = commscale_here("compare", base, new, "--fail-on", "busbw_gbps:-5%", "--collective-floor-pct", "5")
    assert tighter.returncode == 1 and "regressed (busbw_gbps:-5%)" in tighter.stdout


def test_identical_runs_and_bad_rules(tmp_path):
    base = _run(tmp_path / "base", 1.0)
    result = commscale_here("compare", base, base, "--fail-on", "busbw_gbps:-1%", "--out", tmp_path / "cmp")
    assert result.returncode == 0 and "# points beyond noise: 0 of 6" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("PASS: 0 of 1 collectives regressed")
    assert (tmp_path / "cmp" / "compare-base.csv").read_text().count("\n") == 19  # 6 points x 3 metrics
    for rule, message in (("busbw:-5%", "metric 'busbw' is unknown"), ("busbw_gbps", "is not METRIC:THRESHOLD%"),
                          ("time_us:0%", "a threshold of 0% fails on noise"),
                          ("time_us:-5%", "would fail on an improvement: use time_us:+5%"),
                          ("busbw_gbps:+5%", "would fail on an improvement: use busbw_gbps:-5%")):
        result = commscale_here("compare", base, base, "--fail-on", rule)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    other = write_run(tmp_path / "other", [(1, 8, 8, "net", 64, 5.0), (1, 8, 8, "net", 128, 6.0)])
    result = commscale_here("compare", base, other)
    assert result.returncode == 2 and "no point of the new run matches the base" in result.stderr


def test_points_on_one_side_only_are_counted_and_listed(tmp_path):
    base = _run(tmp_path / "base", 1.0, spread_pct=1.0)  # all_reduce at 2 and 4 ranks, 3 sizes
    write_run(base, [(1, p, p, "loopback", n, 20.0) for p in (2, 4) for n in (1024, 65536)], collective="broadcast")
    new = write_run(tmp_path / "new", [(1, 2, 2, "loopback", n, 10 + n / 1e3) for n in (1024, 65536, 1 << 20)]
                    + [(1, 8, 8, "loopback", 1024, 12.0)])
    result = commscale_here("compare", base, new)
    assert result.returncode == 0, result.stderr
    assert ("# not compared: 7 points (all_reduce 3, broadcast 4) only in BASE, 1 points (all_reduce 1) only in NEW"
            in result.stdout)
    listed = commscale_here("compare", base, new, "--all").stdout
    assert listed.count("  only in BASE: ") == 7 and listed.count("  only in NEW: ") == 1
    assert "only in NEW: collective=all_reduce, backend=gloo, fabric=loopback, dtype=float32, size_bytes=1024, " \
           "nranks=8" in listed
    same = commscale_here("compare", base, base)
    assert "not compared" not in same.stdout

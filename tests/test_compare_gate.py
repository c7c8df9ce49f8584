"""compare as a CI gate: one statistic for time and bandwidth, a verdict per collective,
several runs a side widening the noise, and bad input (exit 2, one line). Records are
written with the real RecordWriter; the real-run checks are in test_compare_real.py."""
import csv

from conftest import commscale_here
from synthetic import write_run

from collectives.records import RecordWriter, make_record


def _write(run_dir, points):
    """points: (collective, size_bytes, time_us_median, time_us_mean, time_us_min); busbw from the
    mean (factor 1), as commscale records it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with RecordWriter(run_dir) as writer:
        for collective, n, median, mean, low in points:
            writer.write(make_record(
                run_id="handmade", status="ok", collective=collective, backend="gloo", device="cpu",
                fabric="loopback", dtype="float32", size_bytes=n, count=n // 4, nranks=2, nnodes=1, ranks_per_node=2,
                warmup=5, iters=20, time_us_mean=mean, time_us_median=median, time_us_min=low, time_us_max=2 * mean,
                time_us_p99=2 * mean, median_ci95_rel_pct=1.0, n_wrong=0, algbw_gbps=n / mean * 1e-3,
                busbw_gbps=n / mean * 1e-3))
    return run_dir


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_time_and_bandwidth_come_from_one_statistic(tmp_path):
    # the median 20% slower, the mean 55% faster: before, time (median) said slower, busbw (mean) faster
    base = _write(tmp_path / "base", [("all_reduce", n, 100.0, 200.0, 80.0) for n in (1024, 4096, 16384)])
    new = _write(tmp_path / "new", [("all_reduce", n, 120.0, 90.0, 70.0) for n in (1024, 4096, 16384)])
    for statistic, time_change in (("median", 20.0), ("mean", -55.0), ("min", -12.5)):
        out = tmp_path / statistic
        result = commscale_here("compare", base, new, "--statistic", statistic, "--noise-floor-pct", "2",
                                "--out", out)
        assert result.returncode == 0, result.stderr
        assert f"# statistic: the {statistic} time of each point's timed calls (time_us_{statistic})" in result.stdout
        rows = _rows(out / "compare-new.csv")
        assert len(rows) == 9
        for row in rows:
            ratio = float(row["ratio"])
            time_ratio = 1 + time_change / 100
            if row["metric"] == "time_us":
                assert abs(ratio - time_ratio) < 1e-9 and abs(float(row["change_pct"]) - time_change) < 1e-9
            else:  # bw_new / bw_base = time_base / time_new: the same sign of change, always
                assert abs(ratio * time_ratio - 1) < 1e-9
            assert row["verdict"] == ("worse" if time_change > 0 else "better")


def test_a_verdict_per_collective(tmp_path):
    sizes = [1 << k for k in range(10, 20)]
    base = _write(tmp_path / "base", [(c, n, 100.0 + n / 1e3, 110.0 + n / 1e3, 90.0 + n / 1e3)
                                      for c in ("all_reduce", "broadcast", "reduce") for n in sizes])
    speed = {"all_reduce": 1.3, "broadcast": 1.0, "reduce": 0.6}
    new = _write(tmp_path / "new", [(c, n, (100.0 + n / 1e3) * f, (110.0 + n / 1e3) * f, (90.0 + n / 1e3) * f)
                                    for c, f in speed.items() for n in sizes])
    floor = ("--collective-floor-pct", "10")  # a quiet machine's; this one's defaults: docs/compare.md
    result = commscale_here("compare", base, new, "--fail-on", "time_us:+5%", *floor)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith("  ")
             and "[" in line}
    assert lines["all_reduce"][1:3] == ["10", "+30.0"] and lines["all_reduce"][-2:] == ["regressed", "(time_us:+5%)"]
    assert lines["broadcast"][1:3] == ["10", "+0.0"] and lines["broadcast"][-1] == "same"
    assert lines["reduce"][1:3] == ["10", "-40.0"] and lines["reduce"][-1] == "faster"
    assert lines["reduce"][-2] == "+66.7"  # busbw change: 1 / 0.6 - 1
    assert result.stdout.splitlines()[-1].startswith("FAIL: 1 of 3 collectives regressed") \
        and result.stdout.splitlines()[-1].endswith(": all_reduce")
    # without a rule compare reports and passes; a slowdown short of the threshold is only `slower`
    assert commscale_here("compare", base, new).returncode == 0
    looser = commscale_here("compare", base, new, "--fail-on", "busbw_gbps:-40%", *floor)
    assert looser.returncode == 0 and looser.stdout.splitlines()[-1].startswith("PASS: 0 of 3 collectives regressed")


def _level(path, factor):
    """all_reduce at 2 ranks, 8 sizes; times x factor."""
    return write_run(path, [(1, 2, 2, "loopback", 1 << k, (10 + (1 << k) / 1e3) * factor) for k in range(10, 18)])


def test_several_runs_a_side_widen_the_noise(tmp_path):
    a, b = _level(tmp_path / "a", 1.0), _level(tmp_path / "b", 1.3)  # b: the same code, a run 30% slower throughout
    c, d = _level(tmp_path / "c", 1.15), _level(tmp_path / "d", 1.15 * 1.3)
    floors = ("--noise-floor-pct", "2", "--collective-floor-pct", "5")
    one = commscale_here("compare", a, c, "--fail-on", "time_us:+5%", *floors, "--out", tmp_path / "one")
    assert one.returncode == 1 and "(runs: 1 base, 1 new)" in one.stdout
    pooled = commscale_here("compare", "--base", a, "--base", b, "--new", c, "--new", d, "--fail-on", "time_us:+5%",
                            *floors, "--out", tmp_path / "pooled")
    assert pooled.returncode == 0, pooled.stdout
    assert "(runs: 2 base, 2 new)" in pooled.stdout and "the runs' spread (t interval)" in pooled.stdout
    verdict = next(line for line in pooled.stdout.splitlines() if line.startswith("  all_reduce"))
    assert verdict.split()[2] == "+15.0" and verdict.split()[-1] == "same"
    noise_one = {float(r["noise_pct"]) for r in _rows(tmp_path / "one" / "compare-c.csv")}
    noise_pooled = {float(r["noise_pct"]) for r in _rows(tmp_path / "pooled" / "compare-c.csv")}
    assert max(noise_one) < 3 and min(noise_pooled) > 100  # 2% floor each side; t (2 df) x the runs' spread


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    run = write_run(tmp_path / "run", [(1, 2, 2, "loopback", n, 10.0) for n in (1024, 2048)])
    cases = (((run,), "compare needs a BASE run and a NEW run"),
             ((run, run, "--base", run), "give runs either as BASE NEW [NEW ...] or as --base"),
             (("--base", run), "give runs either as BASE NEW [NEW ...] or as --base"),
             ((run, run, "--statistic", "mode"), "--statistic 'mode' is unknown: choose from min, median, mean"),
             ((run, run, "--collective-floor-pct", "-1"), "--collective-floor-pct must be 0 or more"),
             ((run, tmp_path / "missing"), "holds no records.jsonl"))
    for args, message in cases:
        result = commscale_here("compare", *args)
        assert result.returncode == 2, (args, result.stdout)
        assert message in result.stderr and result.stderr.count("\n") == 1, (args, result.stderr)

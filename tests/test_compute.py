"""`commscale compute` on the CPU: GEMM and copy records whose figures follow from their times."""
import json

import pytest

from conftest import commscale_here


def test_gemm_and_copy_records(tmp_path):
    out = tmp_path / "run"
    result = commscale_here("compute", "--out", out, "--device", "cpu", "-d", "float32,bfloat16",
                            "--shapes", "64,96x64x32", "--copy-bytes", "1M", "-n", "3", "-w", "1")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "compute.jsonl").read_text().splitlines()]
    gemms = [r for r in records if r["kind"] == "gemm"]
    # m, n, k as given on the command line (MxNxK; N alone is N x N x N), in its order
    assert [(r["dtype"], r["m"], r["n"], r["k"]) for r in gemms] == [
        ("float32", 64, 64, 64), ("float32", 96, 64, 32), ("bfloat16", 64, 64, 64), ("bfloat16", 96, 64, 32)]
    # 2 M N K floating-point operations, written out: 2 x 64 x 64 x 64 and 2 x 96 x 64 x 32
    for r, flops in zip(gemms, [524_288, 393_216, 524_288, 393_216]):
        # TFLOP/s x us = 1e12 x 1e-6 operations
        assert r["tflops"] * r["time_us_median"] * 1e6 == pytest.approx(flops, rel=1e-6)
        assert r["iters"] == 3 and 0 < r["time_us_min"] <= r["time_us_median"] <= r["time_us_max"]
    (copy,) = [r for r in records if r["kind"] == "copy"]
    assert copy["size_bytes"] == 1_048_576  # 1 MiB
    assert copy["bandwidth_gbps"] * copy["time_us_median"] * 1e3 == pytest.approx(1_048_576, rel=1e-6)  # GB/s x us
    again = commscale_here("compute", "--out", out, "-n", "1")
    assert again.returncode == 2 and "already holds cpu GEMM rates for float32" in again.stderr
    # the table: GEMM rows have TFLOP/s and no GB/s, the copy row the other way round
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert [row[0] for row in rows] == ["gemm"] * 4 + ["copy"]
    assert all(row[-1] == "-" and float(row[-2]) >= 0 for row in rows[:4])  # 0.000 where a loaded CPU took ms
    assert rows[4][-2] == "-" and float(rows[4][-1]) > 0


def _fake_cache(root, caches):
    """A hand-made stand-in for /sys/devices/system/cpu/cpu0/cache (level, type, size)."""
    for i, (level, kind, size) in enumerate(caches):
        d = root / f"index{i}"
        d.mkdir(parents=True)
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return root


def test_the_cpu_copy_is_sized_past_the_last_level_cache(tmp_path):
    from benchmarks.compute.measure import cpu_copy_bytes, last_level_cache_bytes
    epyc = _fake_cache(tmp_path / "a", [(1, "Data", "48K"), (1, "Instruction", "32K"), (2, "Unified", "1024K"),
                                        (3, "Unified", "32768K")])
    assert last_level_cache_bytes(epyc) == 32 << 20
    assert cpu_copy_bytes(32 << 20) == 128 << 20  # 4 x the cache, a power of two
    assert cpu_copy_bytes(260 << 20) == 2 << 30  # 1040 MiB rounds up to 2 GiB
    assert cpu_copy_bytes(None) == cpu_copy_bytes(1 << 20) == 64 << 20
    big_icache = _fake_cache(tmp_path / "b", [(1, "Instruction", "64M"), (2, "Unified", "2M")])
    assert last_level_cache_bytes(big_icache) == 2 << 20
    assert last_level_cache_bytes(tmp_path / "none") is None


@pytest.mark.slow  # copies 4 x the last-level cache: 2 GiB, 3 s on the 2-core VM
def test_the_default_cpu_copy_is_past_this_machines_cache(tmp_path):
    from benchmarks.compute.measure import last_level_cache_bytes
    out = tmp_path / "run"
    result = commscale_here("compute", "--out", out, "--device", "cpu", "--shapes", "32", "-n", "2", "-w", "0")
    assert result.returncode == 0, result.stderr
    (copy,) = [json.loads(line) for line in (out / "compute.jsonl").read_text().splitlines()
               if json.loads(line)["kind"] == "copy"]
    llc = last_level_cache_bytes()
    assert copy["llc_bytes"] == llc
    assert copy["size_bytes"] >= max(4 * (llc or 0), 64 << 20)
    assert "last-level cache" in result.stdout

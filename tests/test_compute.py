"""`commscale compute` on the CPU: GEMM and copy records whose figures follow from their times."""
import json

from conftest import commscale


def test_gemm_and_copy_records(tmp_path):
    out = tmp_path / "run"
    result = commscale("compute", "--out", out, "--device", "cpu", "-d", "float32,bfloat16",
                       "--shapes", "64,128x64x32", "--copy-bytes", "1M", "-n", "3", "-w", "1")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "compute.jsonl").read_text().splitlines()]
    gemms = [r for r in records if r["kind"] == "gemm"]
    assert [(r["dtype"], r["m"], r["n"], r["k"]) for r in gemms] == [
        ("float32", 64, 64, 64), ("float32", 128, 64, 32), ("bfloat16", 64, 64, 64), ("bfloat16", 128, 64, 32)]
    for r in gemms:
        assert abs(r["tflops"] - 2 * r["m"] * r["n"] * r["k"] / (r["time_us_median"] * 1e-6) / 1e12) < 1e-9
        assert r["iters"] == 3 and 0 < r["time_us_min"] <= r["time_us_median"] <= r["time_us_max"]
    (copy,) = [r for r in records if r["kind"] == "copy"]
    assert copy["size_bytes"] == 1 << 20
    assert abs(copy["bandwidth_gbps"] - (1 << 20) / (copy["time_us_median"] * 1e-6) / 1e9) < 1e-9
    again = commscale("compute", "--out", out, "-n", "1")
    assert again.returncode == 2 and "already holds compute.jsonl" in again.stderr

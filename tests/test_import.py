"""Import of hand-written fixtures in each documented format."""
import json
from pathlib import Path

from conftest import commscale, read_records

FIX = Path(__file__).parent / "fixtures"


def _import(tmp_path, name, *extra):
    out = tmp_path / name
    result = commscale("import", FIX / name, "--out", out, *extra)
    assert result.returncode == 0, result.stderr
    return read_records(out), json.loads((out / "meta.json").read_text())


def test_nccl_tests_current_layout(tmp_path):
    recs, meta = _import(tmp_path, "nccl_tests_current.txt", "--format", "nccl-tests")
    assert len(recs) == 8  # 4 sizes x out-of-place and in-place
    assert {(r["collective"], r["backend"], r["dtype"], r["reduce_op"], r["nranks"], r["nnodes"], r["ranks_per_node"])
            for r in recs} == {("all_reduce", "nccl", "float32", "sum", 4, 2, 2)}
    big_oop = next(r for r in recs if r["size_bytes"] == 134217728 and not r["in_place"])
    assert (big_oop["time_us_mean"], big_oop["algbw_gbps"], big_oop["busbw_gbps"]) == (2905.1, 46.2, 69.3)
    assert big_oop["n_wrong"] == 3 and big_oop["status"] == "failed"
    small_ip = next(r for r in recs if r["size_bytes"] == 8 and r["in_place"])
    assert small_ip["time_us_mean"] == 19.87 and small_ip["status"] == "ok" and small_ip["count"] == 2
    assert meta["tool_version"] == "2.17.1" and meta["hosts"] == ["node017", "node018"]
    assert "average over ranks" in meta["timing"]


def test_nccl_tests_old_layout_needs_the_collective(tmp_path):
    result = commscale("import", FIX / "nccl_tests_old.txt", "--format", "nccl-tests", "--out", tmp_path / "x")
    assert result.returncode == 2 and "pass --collective NAME" in result.stderr
    recs, _ = _import(tmp_path, "nccl_tests_old.txt", "--format", "nccl-tests", "--collective", "all_reduce")
    assert len(recs) == 6 and {r["nranks"] for r in recs} == {2} and {r["nnodes"] for r in recs} == {1}
    bad = next(r for r in recs if r["size_bytes"] == 1048576 and not r["in_place"])
    assert bad["status"] == "failed" and bad["reason"] == "nccl-tests error column 2"  # error is a deviation
    assert next(r for r in recs if r["size_bytes"] == 65536 and r["in_place"])["time_us_mean"] == 25.11


def test_nccl_tests_json(tmp_path):
    recs, meta = _import(tmp_path, "nccl_tests.json", "--format", "nccl-tests")
    assert [(r["size_bytes"], r["in_place"], r["time_us_mean"]) for r in recs] == \
        [(1024, False, 30.5), (1024, True, 30.1), (1048576, False, 95.0)]
    assert {(r["collective"], r["dtype"], r["reduce_op"], r["nranks"], r["nnodes"]) for r in recs} == \
        {("all_to_all", "float16", None, 2, 2)}
    assert recs[2]["n_wrong"] is None and recs[2]["busbw_gbps"] == 5.52
    assert meta["nccl_version"] == 22703


def test_osu_with_full_columns_and_old_allgather(tmp_path):
    result = commscale("import", FIX / "osu_allreduce.txt", "--format", "osu", "--out", tmp_path / "x")
    assert result.returncode == 2 and "pass --nranks N" in result.stderr
    recs, meta = _import(tmp_path, "osu_allreduce.txt", "--format", "osu", "--nranks", "8")
    assert [(r["size_bytes"], r["count"], r["time_us_mean"], r["time_us_min"], r["time_us_max"], r["iters"])
            for r in recs][1] == (1024, 256, 5.02, 4.80, 5.31, 1000)
    assert {(r["collective"], r["dtype"], r["backend"]) for r in recs} == {("all_reduce", "float32", "mpi")}
    r = recs[2]
    assert abs(r["busbw_gbps"] - 1048576 / 410.77 * 1e-3 * 2 * 7 / 8) < 1e-9
    assert meta["tool_version"] == "7.4"
    recs, _ = _import(tmp_path, "osu_allgather_v5.txt", "--format", "osu", "--nranks", "4")
    # OSU's size is one rank's chunk; the nccl-tests size is the gathered array
    assert [(r["size_bytes"], r["dtype"]) for r in recs] == [(4, "int8"), (4096, "int8"), (262144, "int8")]


def test_imported_runs_work_with_fit_report_and_compare(tmp_path):
    _import(tmp_path, "nccl_tests_current.txt", "--format", "nccl-tests")
    run = tmp_path / "nccl_tests_current.txt"
    assert commscale("fit", run, "--bootstrap", "50").returncode == 0
    assert commscale("report", run, "--out", tmp_path / "rep").returncode == 0
    assert commscale("compare", run, run, "--fail-on", "busbw_gbps:-5%").returncode == 0

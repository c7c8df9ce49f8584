"""Import through the CLI: hand-made fixtures (tests/fixtures/handmade_*, written for this
test: the layouts no published log covers) and the command's own behaviour: several files,
several runs in a file, flags, warnings, errors. Real logs: test_import_real.py."""
import json
from pathlib import Path

from conftest import commscale_here, read_records

FIX = Path(__file__).parent / "fixtures"
REAL = FIX / "real"


def _import(tmp_path, name, *extra, fmt="nccl-tests"):
    out = tmp_path / name
    result = commscale_here("import", FIX / name, "--format", fmt, "--out", out, *extra)
    assert result.returncode == 0, result.stderr
    return read_records(out), json.loads((out / "meta.json").read_text()), result


def test_nccl_tests_current_layout(tmp_path):
    recs, meta, _ = _import(tmp_path, "handmade_nccl-tests_current.txt")
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


def test_old_layouts_infer_the_collective_and_judge_the_error_column_as_nccl_tests_does(tmp_path):
    recs, _, _ = _import(tmp_path, "handmade_nccl-tests_old.txt")  # no binary named: redop sum, busbw = algbw, 2 ranks
    assert {(r["collective"], r["nranks"], r["nnodes"]) for r in recs} == {("all_reduce", 2, 1)}
    bad = next(r for r in recs if r["size_bytes"] == 1048576 and not r["in_place"])
    assert bad["status"] == "failed" and "error 2e+00" in bad["reason"]
    # the pass mark is DeltaMaxValue(float) 1e-5 x (4 ranks - 1): 4e-05 fails, 3e-05 and 1e-05 pass
    recs, _, _ = _import(tmp_path, "handmade_nccl-tests_old-error-column_over-pass-mark.txt")
    assert [(r["size_bytes"], r["in_place"]) for r in recs if r["status"] == "failed"] == [(32768, False)]
    assert all(r["n_wrong"] == 0 for r in recs if r["status"] == "ok")
    # 2017: bytes/N/op/res, times in milliseconds
    recs, meta, _ = _import(tmp_path, "handmade_nccl-tests_2017-layout-ms.txt")
    assert {(r["collective"], r["nranks"], r["nnodes"]) for r in recs} == {("all_reduce", 4, 1)}
    assert [r["time_us_mean"] for r in recs][:2] == [123.0, 121.0] and meta["gpu"] == "Tesla P100-SXM2-16GB"


def test_wrapped_logs_crlf_fences_timestamps_and_an_in_place_failure(tmp_path):
    recs, meta, _ = _import(tmp_path, "handmade_nccl-tests_kubectl-timestamps_crlf_fenced_inplace-wrong.md")
    assert {(r["collective"], r["nranks"], r["nnodes"]) for r in recs} == {("all_gather", 4, 2)}
    assert [(r["size_bytes"], r["in_place"]) for r in recs if r["status"] == "failed"] == [(1048576, True)]
    assert meta["nccl_version"] == "2.21.5+cuda12.4"
    recs, meta, _ = _import(tmp_path, "handmade_nccl-tests_per-iteration_cputime_timestamps.txt")
    assert {(r["collective"], r["nranks"], r["nnodes"], r["reduce_op"]) for r in recs} == {("broadcast", 2, 1, None)}
    assert [r["time_us_mean"] for r in recs if not r["in_place"]] == [21.4, 52.8, 171.6]
    assert meta["nccl_version"] == "2.28.7" and meta["nccl_tests_version"] == "2.19.6"


def test_nccl_tests_json(tmp_path):
    recs, meta, _ = _import(tmp_path, "handmade_nccl-tests_alltoall.json")
    assert [(r["size_bytes"], r["in_place"], r["time_us_mean"]) for r in recs] == \
        [(1024, False, 30.5), (1024, True, 30.1), (1048576, False, 95.0)]
    assert {(r["collective"], r["dtype"], r["reduce_op"], r["nranks"], r["nnodes"]) for r in recs} == \
        {("all_to_all", "float16", None, 2, 2)}
    assert recs[2]["n_wrong"] is None and abs(recs[2]["busbw_gbps"] - 1048576 / 95e-6 / 1e9 / 2) < 1e-9
    assert meta["nccl_version"] == "2.27.3" and meta["nccl_env"] == {"NCCL_DEBUG": "WARN", "NCCL_IB_HCA": "mlx5_0"}


def test_osu_needs_the_rank_count_it_never_prints(tmp_path):
    result = commscale_here("import", FIX / "handmade_osu_allreduce.txt", "--format", "osu", "--out", tmp_path / "x")
    assert result.returncode == 0
    assert "warning" in result.stderr and "pass --nranks N --nnodes N" in result.stderr
    assert {(r["nranks"], r["busbw_gbps"]) for r in read_records(tmp_path / "x")} == {(None, None)}
    assert commscale_here("report", tmp_path / "x", "--out", tmp_path / "xr").returncode == 0
    md = (tmp_path / "xr" / "report.md").read_text()
    assert "Not in the figures or the fit: 3 without a size or busbw" in md
    assert "standing in for GPUs" not in md  # an imported log comes from a real cluster
    recs, meta, _ = _import(tmp_path, "handmade_osu_allreduce.txt", "--nranks", "8", fmt="osu")
    assert [(r["size_bytes"], r["count"], r["time_us_mean"], r["time_us_min"], r["time_us_max"], r["iters"])
            for r in recs][1] == (1024, 256, 5.02, 4.80, 5.31, 1000)
    assert {(r["collective"], r["dtype"], r["backend"]) for r in recs} == {("all_reduce", "float32", "mpi")}
    assert abs(recs[2]["busbw_gbps"] - 1048576 / 410.77 * 1e-3 * 2 * 7 / 8) < 1e-9
    assert meta["tool_version"] == "7.4"
    recs, _, _ = _import(tmp_path, "handmade_osu_allgather_v5.txt", "--nranks", "4", fmt="osu")
    # OSU's size is one rank's chunk; the nccl-tests size is the gathered array
    assert [(r["size_bytes"], r["dtype"]) for r in recs] == [(4, "int8"), (4096, "int8"), (262144, "int8")]


def test_two_osu_tests_behind_srun_l_become_two_runs(tmp_path):
    out = tmp_path / "osu"
    result = commscale_here("import", FIX / "handmade_osu_reduce-scatter+bcast_srun-l_two-tests.txt", "--format", "osu",
                            "--out", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["broadcast", "reduce_scatter"]
    rs, bc = read_records(out / "reduce_scatter"), read_records(out / "broadcast")
    assert {(r["nranks"], r["nnodes"], r["dtype"]) for r in rs} == {(8, 2, "float32")}  # from the srun line
    assert [r["status"] for r in bc] == ["ok", "ok", "failed"] and bc[2]["reason"] == "OSU validation failed"
    assert rs[2]["time_us_min"] == 609.75 and rs[2]["iters"] == 1000


def test_several_files_are_a_node_count_series_that_fit_and_report_take_together(tmp_path):
    files = [REAL / "all_reduce_8xGH200_2nodes_indented-4sp-srun-cmdline__eth-cscs-cscs-docs.txt",
             REAL / "nccl-tests_all_reduce_2xGH200_2nodes_slingshot_v2.18-header__eth-cscs-cscs-docs.txt"]
    out = tmp_path / "series"
    result = commscale_here("import", *files, "--format", "nccl-tests", "--out", out)
    assert result.returncode == 0, result.stderr
    runs = sorted(out.iterdir())
    assert [p.name for p in runs] == sorted(f.stem for f in files)
    assert sorted(read_records(r)[0]["nranks"] for r in runs) == [2, 8]
    fit = commscale_here("fit", *runs, "--out", tmp_path / "model", "--bootstrap", "50")
    assert fit.returncode == 0, fit.stderr
    model = json.loads((tmp_path / "model" / "model.json").read_text())
    assert model  # both rank counts in one model
    assert commscale_here("report", *runs, "--out", tmp_path / "rep").returncode == 0


def test_one_file_with_two_runs_becomes_two_run_directories(tmp_path):
    out = tmp_path / "two"
    result = commscale_here("import", REAL / "nccl-tests_alltoall+sendrecv_4xH100_2nodes_two-runs__xxrjun-nccl-tests-cluster.txt",
                            "--format", "nccl-tests", "--out", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["all_to_all", "sendrecv"]
    assert {r["nranks"] for r in read_records(out / "sendrecv")} == {4}  # not 8: each run's own Rank lines
    meta = json.loads((out / "sendrecv" / "meta.json").read_text())
    assert meta["runs_in_file"] == 2 and meta["lines"][0] > 20


def test_flags_fill_what_the_log_lacks_and_errors_name_the_problem(tmp_path):
    log = REAL / "nccl-tests_all_reduce_72xGB200_1rack-nvl72_graphics-device-name__coreweave-nccl-tests.txt"
    result = commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "a")
    assert result.returncode == 0
    assert result.stderr.count("warning") == 1 and "pass --nnodes N" in result.stderr
    assert {(r["nranks"], r["nnodes"], r["ranks_per_node"]) for r in read_records(tmp_path / "a")} == {(72, None, None)}
    result = commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "b", "--nnodes", "18")
    assert result.returncode == 0 and "warning" not in result.stderr
    assert {(r["nnodes"], r["ranks_per_node"]) for r in read_records(tmp_path / "b")} == {(18, 4)}
    gh200 = REAL / "nccl-tests_all_reduce_2xGH200_2nodes_slingshot_v2.18-header__eth-cscs-cscs-docs.txt"
    result = commscale_here("import", log, gh200, "--format", "nccl-tests", "--out", tmp_path / "s", "--nnodes", "18,")
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    assert sorted(read_records(p)[0]["nnodes"] for p in (tmp_path / "s").iterdir()) == [2, 18]
    for args, words in ((["--nranks", "64"], "--nranks 64 contradicts the log"),
                        (["--nnodes", "1,2"], "--nnodes 1,2: give one value, or one per file (1)"),
                        (["--collective", "scatter"], "--collective scatter contradicts the log")):
        bad = commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "c", *args)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    bad = commscale_here("import", FIX / "handmade_osu_allreduce.txt", "--format", "nccl-tests", "--out", tmp_path / "d")
    assert bad.returncode == 2 and "pass --format osu" in bad.stderr


def test_zero_byte_rows_are_kept_but_not_fitted_or_plotted(tmp_path):
    log = REAL / "nccl-tests_all_reduce_16xH100_2nodes_p5-efa_tag-output_indented_elided__aws-samples-awsome-distributed-training.txt"
    run = tmp_path / "p5"
    assert commscale_here("import", log, "--format", "nccl-tests", "--out", run, "--nnodes", "2").returncode == 0
    assert [r["size_bytes"] for r in read_records(run)][:2] == [0, 0]
    assert commscale_here("fit", run, "--out", run, "--bootstrap", "50").returncode == 0
    report = commscale_here("report", run, "--out", tmp_path / "rep")
    assert report.returncode == 0, report.stderr
    assert "Not in the figures or the fit: 2 at 0 bytes" in (tmp_path / "rep" / "report.md").read_text()
    fits = json.loads((run / "model.json").read_text())["fits"]
    assert min(f["size_bytes_min"] for f in fits) == 67108864  # the smallest size above 0 bytes in the log


def test_imported_runs_work_with_fit_report_and_compare(tmp_path):
    _import(tmp_path, "handmade_nccl-tests_current.txt")
    run = tmp_path / "handmade_nccl-tests_current.txt"
    assert commscale_here("fit", run, "--out", run, "--bootstrap", "50").returncode == 0
    assert commscale_here("report", run, "--out", tmp_path / "rep").returncode == 0
    assert commscale_here("compare", run, run, "--fail-on", "busbw_gbps:-5%").returncode == 0


def test_rank_lines_trimmed_by_whoever_posted_the_log_yield_to_the_table(tmp_path):
    """Hand-made: one Rank line left of eight, no '...': the ratio 2(p-1)/p = 1.75 settles 8 ranks."""
    log = tmp_path / "trimmed.txt"
    log.write_text("#  Rank  0 Group  0 Pid   1234 on   node-a device  0 [0000:18:00] NVIDIA A100-SXM4-80GB\n"
                   "#       size         count      type   redop    root     time   algbw   busbw #wrong     time"
                   "   algbw   busbw #wrong\n"
                   "   134217728      33554432     float     sum      -1   1100.0  122.02  213.53      0   1099.0"
                   "  122.13  213.72      0\n")
    result = commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    assert "nodes unknown (1 of 8 Rank lines shown)" in result.stderr
    assert {(r["collective"], r["nranks"], r["nnodes"]) for r in read_records(tmp_path / "r")} == {("all_reduce", 8, None)}


def test_a_log_that_contradicts_itself_is_settled_by_a_flag_naming_one_side(tmp_path):
    """Hand-made after coreweave's '2 Racks' block: a Rank line says 144 ranks where every
    busbw/algbw says 128 (2 x 127/128); import stops, and a flag picking one side settles it."""
    log = tmp_path / "edited.txt"
    log.write_text("#  Rank 143 Group  0 Pid  14840 on slurm-gb200-207-171 device  3 [0x01] NVIDIA Graphics Device\n"
                   "#       size         count      type   redop    root     time   algbw   busbw #wrong     time"
                   "   algbw   busbw #wrong\n"
                   "  1073741824     268435456     float     sum      -1   3574.4  300.40  596.10      0   3565.5"
                   "  301.15  597.59      0\n")
    bad = commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "a")
    assert bad.returncode == 2 and "busbw/algbw = 2(p-1)/p says 128" in bad.stderr and "says 144" in bad.stderr
    assert commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "b", "--nranks", "100").returncode == 2
    ok = commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "c", "--nranks", "128")
    assert ok.returncode == 0, ok.stderr
    assert {r["nranks"] for r in read_records(tmp_path / "c")} == {128}
    assert "contradicts itself" in json.loads((tmp_path / "c" / "meta.json").read_text())["nranks_from"]


def test_tables_pasted_back_to_back_are_separate_runs(tmp_path):
    """Hand-made after a grep of a 1/2-node series: sizes start again, so a new run begins."""
    log = tmp_path / "series.txt"
    log.write_text("====== 1-node ======\n"
                   "  4294967296    1073741824     float     sum      -1    23719  181.07  316.88      0    23774"
                   "  180.66  316.16      0\n"
                   "  8589934592    2147483648     float     sum      -1    47217  181.93  318.37      0    47268"
                   "  181.73  318.03      0\n"
                   "====== 2-node ======\n"
                   "  4294967296    1073741824     float     sum      -1    23192  185.19  347.23      0    23209"
                   "  185.06  346.99      0\n"
                   "  8589934592    2147483648     float     sum      -1    46123  186.24  349.20      0    46145"
                   "  186.15  349.03      0\n")
    result = commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "s")
    assert result.returncode == 0, result.stderr
    runs = sorted((tmp_path / "s").iterdir())
    assert [p.name for p in runs] == ["all_reduce-1", "all_reduce-2"]
    assert [{r["nranks"] for r in read_records(p)} for p in runs] == [{8}, {16}]


def test_point_to_point_tests_in_an_osu_bundle_do_not_join_the_collective_before_them(tmp_path):
    """Hand-made after converged-computing's bundles: osu_latency right after osu_allreduce."""
    log = tmp_path / "bundle.out"
    log.write_text("# OSU MPI Allreduce Latency Test v5.8\n# Size       Avg Latency(us)\n4                       4.79\n"
                   "8                       4.72\n# OSU MPI Latency Test v5.8\n# Size          Latency (us)\n"
                   "0                       1.16\n1                       1.13\n# OSU MPI Bandwidth Test v5.8\n"
                   "# Size      Bandwidth (MB/s)\n1                       2.95\n")
    result = commscale_here("import", log, "--format", "osu", "--out", tmp_path / "b", "--nranks", "16")
    assert result.returncode == 0, result.stderr
    assert "skipped 2 OSU tests that are not blocking sized collectives: MPI Latency Test, MPI Bandwidth Test" \
        in result.stdout
    assert [r["time_us_mean"] for r in read_records(tmp_path / "b")] == [4.79, 4.72]
    log.write_text("# OSU MPI Bandwidth Test v7.1\n# Size      Bandwidth (MB/s)\n1                       2.95\n")
    bad = commscale_here("import", log, "--format", "osu", "--out", tmp_path / "c")
    assert bad.returncode == 2 and "(only MPI Bandwidth Test, not sized blocking collectives)" in bad.stderr

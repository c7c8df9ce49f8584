"""`commscale import --format imb`: real IMB-MPI1 logs others published
(tests/fixtures/real/imb, sources in its SOURCES.md), each imported with the collective, the
rank count, the node count where the file's command line says it, and t_avg, t_min, t_max
and #repetitions of its largest size as the file prints them (read here by hand from each
file, not by the importer's code). Real files, the real command line (in process)."""
from __future__ import annotations

import json

import pytest

from conftest import REPO, commscale_here, read_records

IMB = REPO / "tests" / "fixtures" / "real" / "imb"

# file prefix -> [(collective, ranks, nodes, IMB's #bytes at the largest size, t_avg, t_min, t_max, #repetitions)]
# one tuple per table, in the file's order
LOGS = {
    "imb_allreduce_1408ranks_32nodes_tail-only-3rows": [("all_reduce", 1408, None, 16, 27.28, 26.13, 29.28, 10000)],
    "imb_allreduce_1408ranks_32nodes_tail-only-trailing-ws": [("all_reduce", 1408, None, 16, 19.43, 18.52, 20.74, 10000)],
    "imb_allreduce_144ranks_4nodes_v2021.2": [("all_reduce", 144, 4, 268435456, 205992.71, 205579.37, 206503.46, 1)],
    "imb_allreduce_144ranks_4nodes_v2021.7": [("all_reduce", 144, 4, 268435456, 319229.75, 307115.36, 326712.51, 1)],
    "imb_allreduce_1rank_1node": [("all_reduce", 1, 1, 4194304, 291.86, 291.86, 291.86, 10)],
    "imb_alltoall_2+4ranks": [("all_to_all", 2, None, 4194304, 1005.36, 1002.88, 1007.84, 10),
                              ("all_to_all", 4, None, 4194304, 1688.05, 1588.80, 1787.67, 10)],
    "imb_alltoall_256ranks_1node": [("all_to_all", 256, None, 1048576, 492384.98, 491764.64, 492944.55, 39)],
    "imb_alltoall_36ranks_1node": [("all_to_all", 36, None, 33554432, 373427.99, 368774.69, 377145.91, 1)],
    "imb_bcast_42ranks_32nodes": [("broadcast", 42, None, 4194304, 13687.10, 6275.51, 20791.20, 10)],
}
PER_RANK = {"all_to_all", "all_gather"}
"""IMB's #bytes is one rank's part: the record's size_bytes (nccl-tests') is #bytes x ranks"""


def _file(prefix):
    (path,) = [p for p in IMB.glob(f"{prefix}*.txt")]
    return path


def _runs(out):
    return [out] if (out / "records.jsonl").exists() else sorted(p for p in out.iterdir() if p.is_dir())


@pytest.mark.parametrize("prefix", LOGS)
def test_every_real_imb_log_imports_as_the_file_says(prefix, tmp_path):
    path = _file(prefix)
    assert path.name in (IMB / "SOURCES.md").read_text(), "every fixture has its source"
    result = commscale_here("import", path, "--format", "imb", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    runs = _runs(tmp_path / "run")
    assert len(runs) == len(LOGS[prefix])
    for run, (coll, ranks, nodes, x, t_avg, t_min, t_max, reps) in zip(runs, LOGS[prefix]):
        records = read_records(run)
        assert {(r["collective"], r["nranks"], r["nnodes"], r["backend"], r["timing"]) for r in records} == \
            {(coll, ranks, nodes, "mpi", "batch")}
        top = max(records, key=lambda r: r["size_bytes"])
        assert top["size_bytes"] == x * (ranks if coll in PER_RANK else 1)
        assert top["iters"] == reps and top["status"] == "ok"
        if t_avg is not None:
            assert (top["time_us_mean"], top["time_us_min"], top["time_us_max"]) == (t_avg, t_min, t_max)
        meta = json.loads((run / "meta.json").read_text())
        assert meta["format"] == "imb" and meta["nranks_from"].startswith("IMB's '#processes")


def test_the_trailing_spaces_file_reads_its_last_row():
    """The waagent-stopped re-run: its last row ends in spaces (kept as published)."""
    text = _file("imb_allreduce_1408ranks_32nodes_tail-only-trailing-ws").read_text()
    last = [line for line in text.splitlines() if line.strip()][-1]
    assert last != last.rstrip()
    from reports.importers import imb
    (run,) = imb.parse(text).runs
    assert run.rows[-1][1] == int(last.split()[0]) and run.rows[-1][2]["t_avg[usec]"] == last.split()[-1]


def test_a_file_with_no_collective_table_is_one_line_naming_what_it_holds(tmp_path):
    result = commscale_here("import", _file("imb_pingpong-only"), "--format", "imb", "--out", tmp_path / "r")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "only PingPong, not collectives commscale records" in result.stderr


def test_rows_without_times_are_kept_as_skipped_and_benchmarks_not_recorded_are_named(tmp_path):
    """Hand-made (said so): an IMB 2021 layout with a row where IMB printed words instead of
    times, then a PingPong table; the format follows the real logs above."""
    log = tmp_path / "handmade_imb.txt"
    log.write_text("#----------------------------------------------------------------\n"
                   "# Benchmarking Allgather \n# #processes = 8 \n"
                   "#----------------------------------------------------------------\n"
                   "       #bytes #repetitions  t_min[usec]  t_max[usec]  t_avg[usec]\n"
                   "            0         1000         0.05         0.06         0.05\n"
                   "         1024         1000        10.00        12.00        11.00\n"
                   "      4194304   out of memory\n\n"
                   "#---------------------------------------------------\n# Benchmarking PingPong \n"
                   "# #processes = 2 \n#---------------------------------------------------\n"
                   "       #bytes #repetitions      t[usec]   Mbytes/sec\n            0         1000         1.00"
                   "         0.00\n")
    result = commscale_here("import", log, "--format", "imb", "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    records = read_records(tmp_path / "r")
    assert [(r["size_bytes"], r["status"]) for r in records] == [(0, "ok"), (8192, "ok"), (33554432, "skipped")]
    assert records[-1]["reason"] == "IMB: out of memory" and records[1]["busbw_gbps"] == pytest.approx(
        8192 / 11.0 * 1e-3 * 7 / 8)
    assert "skipped 1 IMB benchmarks that are not collectives commscale records: PingPong" in \
        result.stdout + result.stderr + (tmp_path / "r" / "meta.json").read_text()

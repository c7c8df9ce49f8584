"""`--timing call|batch`: each call timed alone, or batches of calls between two
synchronisations (as nccl-tests times); recorded in each record's `timing`, kept apart by
the fit, compared by the report. Real ranks: gloo under dryrun, MPI under mpiexec."""
import json

import pytest

from benchmarks.sweep.harness import BATCH_CALLS
from collectives.records import FIELDS, normalize
from conftest import commscale, commscale_here, read_records
from reports.importers import parse

REAL = __import__("pathlib").Path(__file__).parent / "fixtures" / "real"


@pytest.mark.slow
def test_gloo_batch_timing_is_recorded_and_reported_beside_per_call(tmp_path):
    runs = {}
    for mode in ("call", "batch"):
        runs[mode] = tmp_path / mode
        result = commscale("dryrun", "--nproc", "2", "--collectives", "all_reduce", "--sizes", "1K,64K,1M,4M",
                           "-n", "30", "-w", "2", "--timing", mode, "--out", runs[mode])
        assert result.returncode == 0, result.stderr
        records = [r for r in read_records(runs[mode]) if r["status"] == "ok"]
        assert records and {r["timing"] for r in records} == {mode}
        assert {r["iters"] for r in records} == {30}  # calls, in batches of 10 (3 samples) or one by one
        assert json.loads((runs[mode] / "meta.json").read_text())["config"]["timing"] == mode
    fits = json.loads((runs["batch"] / "model.json").read_text())["fits"]
    assert {f["timing"] for f in fits} == {"batch"}
    assert commscale_here("report", runs["call"], runs["batch"], "--out", tmp_path / "rep").returncode == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    table = text.split("## Per-call vs batch timing")[1].split("\n## ")[0]
    assert "| all_reduce | gloo |" in table and "4 MiB" in table


@pytest.mark.slow
def test_mpi_batch_timing_under_mpiexec(tmp_path):
    pytest.importorskip("mpi4py")
    from test_mpi import mpiexec
    out = tmp_path / "run"
    result = mpiexec(2, "run", "--backend", "mpi", "--collectives", "all_reduce,all_to_all", "--sizes", "1K,64K",
                     "--ranks", "2", "-n", "25", "-w", "2", "--timing", "batch", "--out", out)
    assert result.returncode == 0, result.stderr
    records = read_records(out)
    assert {(r["collective"], r["timing"], r["iters"], r["status"]) for r in records} == {
        ("all_reduce", "batch", 20, "ok"), ("all_to_all", "batch", 20, "ok")}  # 25 calls: 2 batches of 10


def test_a_record_written_before_the_field_reads_as_per_call():
    old = {name: None for name in FIELDS if name != "timing"}
    old.update(schema_version=1, status="ok")
    assert normalize(old)["timing"] == "call"
    assert normalize({**old, "timing": "batch"})["timing"] == "batch"


def test_imports_say_how_the_tool_timed():
    nccl = parse(REAL / "all_reduce_32xA100_4nodes_no-rank-lines-no-header__NVIDIA-deepops.txt", "nccl-tests",
                 {"nnodes": 4})
    osu = parse(REAL / "osu_allreduce_heldout-02_flux-N2__converged-computing-usernetes-azure.txt", "osu", {})
    assert {p["timing"] for run in nccl for p in run["points"]} == {"batch"}
    assert {p["timing"] for run in osu for p in run["points"]} == {"call"}


def test_an_unknown_timing_is_one_line_and_status_2(tmp_path):
    result = commscale_here("run", "--timing", "sometimes", "--out", tmp_path / "x")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--timing 'sometimes' is unknown: use call or batch" in result.stderr


def test_batch_calls_constant_is_what_the_help_says():
    help_text = commscale_here("run", "--help").stdout
    assert f"batches of {BATCH_CALLS}" in " ".join(help_text.split())

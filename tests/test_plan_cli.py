"""`commscale plan` end to end: on a real dry run (gloo ranks), on real nccl-tests logs
others published (tests/fixtures/real), in the report, and its one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import commscale, commscale_here

REAL = Path(__file__).resolve().parent / "fixtures" / "real" / "series"


@pytest.fixture(scope="module")
def dry(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan") / "run"
    result = commscale("dryrun", "--nproc", "4", "--out", out, "--collectives", "all_reduce,sendrecv",
                       "--sizes", "4K,64K,1M", "-n", "3", "-w", "1")
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow  # the dry run's ranks
def test_plan_on_a_dry_run_prices_every_kind_and_lands_in_the_report(dry):
    result = commscale_here("plan", dry, "--workload", "dryrun-llm", "--gpus-per-node", "4", "--nodes", "1-8",
                            "--set", "zero=1", "--bootstrap", "100", "--out", dry, "--force")
    assert result.returncode == 0, result.stderr
    res = json.loads((dry / "plan.json").read_text())
    assert res["workload"]["zero"] == 1 and [r["nnodes"] for r in res["rows"]] == [1, 2, 4, 8]
    # all_reduce and sendrecv were measured; the reduce-scatter and all-gather of ZeRO are priced as half an all_reduce
    assert res["models"]["sendrecv"]["priced_as"] is None
    assert res["models"]["reduce_scatter"]["priced_as"] == "all_reduce"
    two = res["rows"][1]
    assert set(two["kinds"]) == {"tp", "pp", "dp"} and two["dp"] == 2
    for k in two["kinds"].values():
        lo, hi = k["comm_ms_ci"]
        assert lo <= k["comm_ms"] * 1.5 and hi >= k["comm_ms"] / 1.5 and lo < hi
    assert two["step_ms_ci"][0] < two["step_ms_ci"][1]
    assert two["step_ms"] >= two["compute_ms"] and 0 < two["mfu"] <= 1
    assert "# tp: longer than the compute it can hide under" in result.stdout
    # the dry run itself planned dryrun-llm too; the report shows the plan's figure and table
    rep = commscale_here("report", dry, "--out", dry / "rep")
    assert rep.returncode == 0, rep.stderr
    md = (dry / "rep" / "report.md").read_text()
    assert "## Training plan: run" in md and "figures/plan_run.png" in md
    assert (dry / "rep" / "figures" / "plan_run.png").stat().st_size > 10_000


def test_plan_on_real_nccl_tests_logs(tmp_path):
    """H100 nodes of 8 GPUs, NCCL 2.29.2 (xxrjun's published logs): all_reduce and all_to_all
    at 1 and 10 nodes. Mixtral's experts all-to-all is priced by the measured all_to_all."""
    logs = [REAL / f"nccl-xxrjun-h100-{c}" / f"n{n}.txt" for c in ("allreduce", "alltoall") for n in ("01", "10")]
    imp = commscale_here("import", *logs, "--format", "nccl-tests", "--out", tmp_path / "runs")
    assert imp.returncode == 0, imp.stderr
    runs = sorted((tmp_path / "runs").iterdir())
    result = commscale_here("plan", *runs, "--workload", "mixtral-8x7b", "--gpu-tflops", "600", "--peak-tflops", "989",
                            "--nodes", "1-64", "--bootstrap", "100", "--out", runs[0])
    assert result.returncode == 0, result.stderr
    res = json.loads((runs[0] / "plan.json").read_text())  # into the first run, where the report finds it
    assert res["measured_nodes"] == 10
    assert res["models"]["all_to_all"]["priced_as"] is None and "hierarchical" in res["models"]["all_to_all"]["model"]
    assert res["models"]["all_gather"]["priced_as"] == "all_reduce"
    assert "not a multiple of ep 8" in res["rows"][0]["problem"]  # 1 node: dp 4
    rows = {r["nnodes"]: r for r in res["rows"] if "problem" not in r}
    ep = {n: r["kinds"]["ep"]["comm_ms"] for n, r in rows.items()}
    assert ep[4] > 0 and ep[8] < ep[4]  # strong scaling: fewer micro-batches per GPU
    calls = [c for c in rows[8]["calls"] if c["kind"] == "ep"]
    assert calls[0]["group_nodes"] == 2 and calls[0]["ranks_per_node"] == 4  # ep 8 beside tp 2
    assert calls[0]["source"] == "fit, measured range"
    assert all(r["tflops_per_gpu"] <= 600 for r in rows.values())
    rep = commscale_here("report", *runs, "--out", tmp_path / "rep")
    assert rep.returncode == 0, rep.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert f"## Training plan: {runs[0].name}" in md and f"figures/plan_{runs[0].name}.png" in md
    assert "**Training plan** mixtral-8x7b:" in md and "training plan mixtral" not in md


@pytest.mark.parametrize("args, words", [
    (["--workload", "nope"], "neither a training preset"),
    (["--workload", "dryrun-llm", "--set", "tp"], "not KEY=VALUE"),
    (["--workload", "dryrun-llm", "--set", "recompute=some"], "recompute 'some'"),
    (["--workload", "dryrun-llm", "--nodes", "4-2"], "ranges low-high"),
    (["--workload", "dryrun-llm", "--nodes", "1", "--gpus-per-node", "3"], "fits none of --nodes 1"),
    (["--workload", "dryrun-llm", "--gpu-tflops", "-1"], "must be positive"),
])
@pytest.mark.slow  # the dry run's ranks
def test_plan_errors_are_one_line(dry, args, words):
    result = commscale_here("plan", dry, *args, "--out", dry / "bad")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.stderr


@pytest.mark.slow  # the dry run's ranks
def test_crossover_sends_a_training_workload_to_plan(dry):
    result = commscale_here("crossover", dry, "--workload", "llama3-70b")
    assert result.returncode == 2 and "commscale plan RUN --workload llama3-70b" in result.stderr

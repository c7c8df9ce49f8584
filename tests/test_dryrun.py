"""Real multi-process runs on CPU: gloo process groups of 2 and 4 ranks. The quick start's
dry run, checked record by record; then sweeps on 2 to 4 local ranks started as the dry run
starts them (conftest.local_run), whose records are what the tests read."""
import json
from collections import Counter

import pytest

from conftest import commscale, local_run, read_records
from record_checks import check_record
from reports.runs.load import load_run

COLLECTIVES = {"all_reduce", "all_to_all", "all_gather", "reduce_scatter", "broadcast", "reduce", "sendrecv"}

pytestmark = pytest.mark.slow  # dry runs: gloo ranks


def test_default_dryrun_covers_every_collective_at_2_and_4_ranks(default_dryrun):
    out, result = default_dryrun
    assert result.returncode == 0, result.stderr
    records = read_records(out)
    requested = [1024 << i for i in range(15)]  # 1 KiB .. 16 MiB
    seen = Counter()
    for rec in records:
        check_record(rec, requested)
        seen[(rec["collective"], rec["nranks"])] += 1
    assert set(seen) == {(c, p) for c in COLLECTIVES for p in (2, 4)}
    assert min(seen.values()) >= 10
    assert {r["backend"] for r in records} == {"gloo"} and {r["nnodes"] for r in records} == {1}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["world_size"] == 4 and meta["versions"]["torch"]
    assert len(load_run(out)) == len(records)
    assert "busbw_gbps" in result.stdout and "ETA" in result.stdout
    # brief on the terminal: a line per block, the summary, a few lines per step; the tables in files
    assert len(result.stdout.splitlines()) < 80, len(result.stdout.splitlines())
    rows = [line for line in (out / "sweep.txt").read_text().splitlines() if line.endswith(" ok")]
    assert len(rows) == len(records) and not any(line.endswith(" ok") for line in result.stdout.splitlines())
    assert result.stdout.count(" points ok, peak busbw ") == 14
    for step in ("compute", "fit", "crossover", "plan"):
        assert f"{out / step}.txt" in result.stdout and (out / f"{step}.txt").stat().st_size > 200, step
    summary = result.stdout.split("# summary of")[1].split("\n#\n")[0].splitlines()
    assert len(summary) == 2 + 14  # path line, header, 7 collectives x 2 group sizes
    # ... then the compute side, the fit and the crossover of the dry run's workload
    model = json.loads((out / "model.json").read_text())
    assert {f["collective"] for f in model["fits"]} == COLLECTIVES
    assert all(f["heldout_nranks"] == 4 for f in model["fits"])
    assert (out / "compute.jsonl").exists()
    crossing = json.loads((out / "crossover.json").read_text())
    assert crossing["workload"]["name"] == "dryrun-small" and crossing["gpus_per_node"] == 4
    assert "crossover_nodes" in crossing and "communication exceeds compute" in result.stdout
    report = out / "report" / "report.html"
    assert report.exists() and f"# report: {report}" in result.stdout
    plan = json.loads((out / "plan.json").read_text())  # and the training plan of dryrun-llm
    assert plan["workload"]["name"] == "dryrun-llm" and plan["gpus_per_node"] == 4 and "# plan: " in result.stdout
    assert (out / "report" / "figures" / "plan_run.png").exists()
    assert len(list((out / "report" / "figures").glob("*.png"))) == 7 * 3 + 3  # busbw, latency, scale; crossover; plan


def test_every_dtype_op_and_placement_checks_out(tmp_path):
    out = tmp_path / "run"
    result = local_run(2, "--backend", "gloo", "--out", out, "-d", "float32,float64,float16,bfloat16,int32,int8",
                       "-o", "sum,max,min", "--in-place", "both", "--sizes", "1K,256K", "-n", "2", "-w", "1")
    assert result.returncode == 0, result.stderr
    records = read_records(out)
    for rec in records:
        check_record(rec, [1024, 256 << 10])
    combos = {(r["collective"], r["dtype"], r["reduce_op"], r["in_place"]) for r in records}
    assert len(combos) == 6 * (3 * 1 + 3 * 1 + 3 * 2 + 2 + 1 + 1 + 1)  # see below
    # all_reduce, reduce: 3 ops, in place only (torch API); reduce_scatter: 3 ops x 2
    # placements; all_gather: 2 placements; all_to_all, sendrecv: out only; broadcast: in only.
    assert {r["in_place"] for r in records if r["collective"] == "all_reduce"} == {True}
    assert {r["in_place"] for r in records if r["collective"] == "all_to_all"} == {False}


def test_auto_iterations_reach_the_target_or_the_budget(tmp_path):
    out = tmp_path / "run"
    result = local_run(2, "--backend", "gloo", "--out", out, "--collectives", "all_reduce",
                       "--sizes", "64K", "-n", "auto", "--iters-budget-s", "0.5")
    assert result.returncode == 0, result.stderr
    (rec,) = read_records(out)
    spent_s = rec["iters"] * rec["time_us_mean"] * 1e-6
    assert rec["iters"] >= 10
    assert rec["median_ci95_rel_pct"] <= 1.0 or spent_s >= 0.5


def test_group_sizes_in_one_launch(tmp_path):
    out = tmp_path / "run"
    result = local_run(3, "--backend", "gloo", "--ranks", "1,3", "--out", out,
                       "--collectives", "all_gather,all_reduce", "--sizes", "4K", "-n", "2")
    assert result.returncode == 0, result.stderr
    assert sorted((r["collective"], r["nranks"]) for r in read_records(out)) == \
        [("all_gather", 1), ("all_gather", 3), ("all_reduce", 1), ("all_reduce", 3)]


def test_too_small_points_are_skipped_with_a_reason(tmp_path):
    out = tmp_path / "run"
    result = local_run(4, "--backend", "gloo", "--ranks", "4", "--out", out,
                       "--collectives", "all_to_all", "--sizes", "8,1K", "-n", "2")
    assert result.returncode == 0, result.stderr
    small, big = read_records(out)
    assert small["status"] == "skipped" and "holds no float32 element per rank at 4 ranks" in small["reason"]
    assert big["status"] == "ok"


def test_verbose_dry_run_prints_every_table(tmp_path):
    out = tmp_path / "run"
    result = commscale("dryrun", "--nproc", "2", "--out", out, "--collectives", "all_reduce", "-b", "1K", "-e", "64K",
                       "-n", "2", "-w", "1", "-v")
    assert result.returncode == 0, result.stderr
    assert "# all_reduce  nranks 2  nnodes 1" in result.stdout and "# commscale compute on cpu" in result.stdout
    assert "# scaling model of" in result.stdout and not (out / "fit.txt").exists()
    assert result.stdout.count("\n       4 KiB") == 1 and (out / "sweep.txt").read_text().count("\n       4 KiB") == 1

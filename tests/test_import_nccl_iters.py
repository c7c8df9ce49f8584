"""nccl-tests `-J` JSON with `-I 1` per-iteration times: the samples in the records, the
statistics from them, the straggler finding, a JSON without them, and malformed ones.

The fixtures are reconstructed, not published (none with per-iteration data was found):
tests/fixtures/reconstructed/SOURCES.md says how each was made, from which nccl-tests
source and which real log, and what was invented."""
import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import commscale_here, read_records
from reports.importers import stragglers
from reports.importers.nccl_iters import PerIter
from reports.present.straggler_text import sentences
from reports.runs.load import load_run

FIX = Path(__file__).parent / "fixtures"
RECON = FIX / "reconstructed"
STRAGGLER = RECON / "nccl-tests-2.19-J-I_all_reduce_8xGH200_straggler-process5__reconstructed.json"
RANDOM = RECON / "nccl-tests-2.19-J-I-K1_all_reduce_8xGH200_random-slowest__reconstructed.json"
PLACEMENTS = ("out_of_place", "in_place")


def _import(path, out, ok=True):
    result = commscale_here("import", path, "--format", "nccl-tests", "--out", out)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def _file_blocks(doc):
    """(result, placement, its _per_iter object) in the records' order."""
    return [(r, key, r[f"{key}_per_iter"]) for r in doc["results"] for key in PLACEMENTS if r.get(key)]


def test_samples_are_the_files_per_iteration_times_and_the_statistics_come_from_them(tmp_path):
    _import(STRAGGLER, tmp_path / "s")
    doc = json.loads(STRAGGLER.read_text())
    recs = read_records(tmp_path / "s")
    blocks = _file_blocks(doc)
    assert len(recs) == len(blocks) == 50
    for rec, (r, key, block) in zip(recs, blocks):
        assert (rec["size_bytes"], rec["in_place"]) == (r["size"], key == "in_place")
        assert len(rec["samples_us"]) == r["actual_iterations"] == doc["config"]["iterations"] == 20
        assert rec["samples_us"] == block["times_us"] and rec["samples_skipped"] == 0
        assert rec["process_samples_us"] == block["per_process_max_times_us"] and len(rec["process_samples_us"]) == 8
        x = np.array(block["times_us"])
        assert rec["time_us_median"] == pytest.approx(np.median(x), abs=1e-9)
        assert (rec["time_us_min"], rec["time_us_max"]) == (x.min(), x.max())
        assert rec["time_us_p99"] == pytest.approx(np.percentile(x, 99), abs=1e-9)
        assert rec["time_us_mean"] == r[key]["time"]  # what nccl-tests printed, not the samples' mean
        assert rec["busbw_gbps"] == pytest.approx(r[key]["bus_bw"], rel=1e-5)
    df = load_run(tmp_path / "s")  # the list fields load into pandas as object columns
    assert len(df) == 50 and df["samples_us"].map(len).eq(20).all()
    assert pd.DataFrame(recs)["samples_skipped"].eq(0).all()


def test_skipped_leading_iterations_stay_in_the_samples_and_out_of_the_statistics(tmp_path):
    _import(RANDOM, tmp_path / "k")
    doc = json.loads(RANDOM.read_text())
    assert doc["config"]["per_iter_skip"] == 1
    for rec, (_, _, block) in zip(read_records(tmp_path / "k"), _file_blocks(doc)):
        assert rec["samples_us"] == block["times_us"] and rec["samples_skipped"] == 1 == block["skipped_iterations"]
        kept = np.array(block["times_us"][1:])
        assert (rec["time_us_min"], rec["time_us_max"]) == (kept.min(), kept.max()) == (block["min_us"],
                                                                                        block["max_us"])
        assert rec["time_us_median"] == pytest.approx(np.median(kept), abs=1e-9)


def test_the_straggler_is_named_with_its_evidence_printed_once_and_kept_in_meta(tmp_path):
    result = _import(STRAGGLER, tmp_path / "s")
    lines = [line for line in result.stdout.splitlines() if "straggler:" in line]
    assert len(lines) == 1
    assert "process 5 (rank 5 on nid005487, CUDA device 1, NVIDIA GH200 120GB)" in lines[0]
    assert "in 34 of 50 sized points" in lines[0] and "above the other processes'" in lines[0]
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    (found,) = meta["stragglers"]
    assert {k: found[k] for k in ("process", "ranks", "host", "device", "gpu", "processes", "points_judged")} == \
        {"process": 5, "ranks": [5, 5], "host": "nid005487", "device": 1, "gpu": "NVIDIA GH200 120GB",
         "processes": 8, "points_judged": 50}
    assert found["points_slowest"] == 34 and found["p_value"] < 1e-15 and 10 < found["median_excess_pct"] < 13
    assert meta["straggler_check"]["found"] is True
    (sentence,) = sentences({"run": meta})
    assert sentence.startswith("Straggler: process 5 (rank 5 on nid005487") and "34 of 50" in sentence


def test_no_straggler_where_the_slowest_process_changes_from_point_to_point(tmp_path):
    result = _import(RANDOM, tmp_path / "r")
    assert "straggler:" not in result.stdout
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert meta["stragglers"] == [] and sentences({"r": meta}) == []
    check = meta["straggler_check"]
    # each point has a process 6% slower, drawn at random: the most often slowest is so in
    # 13 of 50 points (binomial p = 0.007 on its own), not a majority, and its median excess is ~0
    assert (check["found"], check["points_judged"], check["processes"], check["points_slowest"]) == \
        (False, 50, 8, 13)
    assert abs(check["median_excess_pct"]) < 1


def _synthetic(rng, nprocs, npoints, slow=None, factor=1.0, noise=0.03):
    points = []
    for _ in range(npoints):
        rows = 100.0 * (1 + noise * rng.standard_normal((nprocs, 20)))
        rows[rng.integers(nprocs)] *= 1.04  # some process is slowest in every point
        if slow is not None:
            rows[slow] *= factor
        rows = rows.tolist()
        points.append((1 << 20, PerIter([max(c) for c in zip(*rows)], 0, rows)))
    return points


@pytest.mark.parametrize("nprocs", [2, 4, 8, 16])
def test_the_rule_does_not_fire_on_chance_and_fires_on_a_process_slower_everywhere(nprocs):
    rng = np.random.default_rng(nprocs)
    fired = sum(stragglers.check(_synthetic(rng, nprocs, n))["found"] for n in (4, 10, 30) for _ in range(40))
    assert fired == 0
    for n in (10, 30):  # 2 processes: 7 points at least before chance alone says p <= 0.01
        result = stragglers.check(_synthetic(rng, nprocs, n, slow=nprocs - 1, factor=1.10))
        assert result["found"] and result["most_often_slowest"] == nprocs - 1


def test_a_json_without_per_iteration_data_imports_as_before(tmp_path):
    _import(FIX / "handmade_nccl-tests_alltoall.json", tmp_path / "a")
    recs = read_records(tmp_path / "a")
    assert [(r["time_us_mean"], r["time_us_median"], r["samples_us"], r["process_samples_us"]) for r in recs] == \
        [(30.5, None, None, None), (30.1, None, None, None), (95.0, None, None, None)]
    assert "stragglers" not in json.loads((tmp_path / "a" / "meta.json").read_text())
    doc = json.loads(STRAGGLER.read_text())  # the same file with its -I objects deleted
    for r in doc["results"]:
        for key in PLACEMENTS:
            r.pop(f"{key}_per_iter")
    (tmp_path / "plain.json").write_text(json.dumps(doc))
    _import(tmp_path / "plain.json", tmp_path / "p")
    _import(STRAGGLER, tmp_path / "s")
    stat = ("time_us_median", "time_us_min", "time_us_max", "time_us_p99", "median_ci95_rel_pct", "samples_us",
            "samples_skipped", "process_samples_us")
    for plain, full in zip(read_records(tmp_path / "p"), read_records(tmp_path / "s")):
        assert all(plain[k] is None for k in stat)
        assert {k: v for k, v in plain.items() if k not in stat + ("timestamp", "run_id")} == \
            {k: v for k, v in full.items() if k not in stat + ("timestamp", "run_id")}
    meta = json.loads((tmp_path / "p" / "meta.json").read_text())
    assert "straggler_check" not in meta and meta["hosts"] == ["nid005471", "nid005487"]


def test_two_gpus_per_process_one_devices_entry_and_one_row_each(tmp_path):
    """-g 2: nccl-tests writes one devices entry per process (its first GPU) and one row per
    process (the max over its GPUs); ranks 2p and 2p+1 are process p's."""
    doc = json.loads(STRAGGLER.read_text())
    doc["config"]["ngpus"] = 2
    doc["config"]["devices"] = doc["config"]["devices"][0::2]  # ranks 0, 2, 4, 6
    for _, _, block in _file_blocks(doc):
        block["per_process_max_times_us"] = _pairs(block["per_process_max_times_us"])
    (tmp_path / "g2.json").write_text(json.dumps(doc))
    result = _import(tmp_path / "g2.json", tmp_path / "g2")
    assert "process 2 (ranks 4-5 on nid005487, CUDA device 0 (its first), NVIDIA GH200 120GB)" in result.stdout
    meta = json.loads((tmp_path / "g2" / "meta.json").read_text())
    assert (meta["nranks"], meta["nnodes"], meta["stragglers"][0]["processes"]) == (8, 2, 4)


def _pairs(rows):
    """Process rows merged two by two (the max), as a run of half the processes would write them."""
    return [list(map(max, rows[p], rows[p + 1])) for p in range(0, len(rows), 2)]


def _broken(doc, how):
    r = doc["results"][3]
    block = r["out_of_place_per_iter"]
    {"short": lambda: block["times_us"].pop(),
     "nan": lambda: block["times_us"].__setitem__(7, "nan"),
     "not-max": lambda: block["times_us"].__setitem__(2, block["times_us"][2] + 1.0),
     "skip": lambda: block.__setitem__("skipped_iterations", 20),
     "row": lambda: block["per_process_max_times_us"][4].pop(),
     "one-row": lambda: block.__setitem__("per_process_max_times_us", block["per_process_max_times_us"][:1]),
     "not-object": lambda: r.__setitem__("in_place_per_iter", [1.0, 2.0]),
     "process-count": lambda: [b.__setitem__("per_process_max_times_us", _pairs(b["per_process_max_times_us"]))
                               for _, _, b in _file_blocks(doc)[20:]]}[how]()
    return doc


@pytest.mark.parametrize("how, says", [
    ("short", "times_us holds 19 times for actual_iterations 20"),
    ("nan", "times_us[7] is 'nan', not a time in microseconds"),
    ("not-max", "iteration 2's max over the process rows is"),
    ("skip", "skipped_iterations 20 is not a count below the 20 iterations"),
    ("row", "per_process_max_times_us[4] holds 19 times where times_us holds 20"),
    ("one-row", "is not a list of two or more process rows"),
    ("not-object", "in_place_per_iter is not an object"),
    ("process-count", "results[10] has 4 process rows in per_process_max_times_us where results[0] has 8"),
])
def test_malformed_per_iteration_data_is_one_line_naming_the_problem_and_the_fix(tmp_path, how, says):
    doc = _broken(copy.deepcopy(json.loads(STRAGGLER.read_text())), how)
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    result = _import(tmp_path / "bad.json", tmp_path / "out", ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("commscale: error: ") and says in line, line
    assert "give the unedited -J file, or delete the '*_per_iter' objects" in line
    assert not (tmp_path / "out").exists()


def test_the_report_says_the_straggler_among_its_findings(tmp_path):
    _import(STRAGGLER, tmp_path / "runs" / "s")
    _import(RANDOM, tmp_path / "runs" / "r")
    result = commscale_here("report", tmp_path / "runs" / "s", tmp_path / "runs" / "r", "--out", tmp_path / "rep")
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.count("Straggler") == 1
    assert "Straggler in s: process 5 (rank 5 on nid005487, CUDA device 1, NVIDIA GH200 120GB)" in md

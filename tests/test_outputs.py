"""Where the analysis verbs write (issue 34, item 1): never silently into the runs they read.
Without --out each writes a new $COMMSCALE_RUNS_DIR/<verb>-<time> (a temporary directory in
the tests, tests/conftest.py); a file already in --out is replaced only with --force; each
prints the paths it wrote. Real files, the real command line (in process)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from collectives.cost import RING_ALL_REDUCE
from conftest import commscale_here
from synthetic import flat_points, write_run

WROTE = re.compile(r"^# wrote (.+)$", re.M)


def _run(tmp_path):
    return write_run(tmp_path / "run", flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(2, 4, 8)), noise=0.02)


def _written(result) -> list[Path]:
    return [Path(p) for p in WROTE.findall(result.stdout)]


def _untouched(run: Path) -> set[str]:
    return {p.name for p in run.iterdir()}


VERBS = {
    "fit": (["--bootstrap", "20"], ["model.json", "model.samples.npz"]),
    "crossover": (["--workload", "gpt2-small-dp", "--gpu-tflops", "100", "--limit", "16", "--bootstrap", "20"],
                  ["crossover.json"]),
    "plan": (["--workload", "dryrun-llm", "--gpu-tflops", "1", "--nodes", "1,2", "--bootstrap", "20"], ["plan.json"]),
    "report": ([], ["report.html", "report.md", "summary.csv"]),
}


def test_each_analysis_verb_writes_a_new_directory_of_its_own_and_says_what_it_wrote(tmp_path):
    run = _run(tmp_path)
    before = _untouched(run)
    root = Path(os.environ["COMMSCALE_RUNS_DIR"])
    for verb, (args, files) in VERBS.items():
        result = commscale_here(verb, run, *args)
        assert result.returncode == 0, (verb, result.stderr)
        written = _written(result)
        assert [p.name for p in written] == files, (verb, result.stdout[-400:])
        assert all(p.is_file() and p.parent.parent == root and p.parent.name.startswith(f"{verb}-") for p in written)
        again = commscale_here(verb, run, *args)  # the same second: a directory of its own still
        assert again.returncode == 0 and _written(again)[0].parent != written[0].parent, verb
    assert _untouched(run) == before, "an analysis verb wrote into the run it read"


def test_a_file_already_in_out_is_replaced_only_with_force(tmp_path):
    run = _run(tmp_path)
    for verb, (args, files) in VERBS.items():
        out = tmp_path / f"out-{verb}"
        assert commscale_here(verb, run, *args, "--out", out).returncode == 0
        stamp = {f: (out / f).stat().st_mtime_ns for f in files}
        refused = commscale_here(verb, run, *args, "--out", out)
        assert refused.returncode == 2, verb
        assert refused.stderr.count("\n") == 1 and "exists: add --force to replace it, or choose another --out" \
            in refused.stderr, (verb, refused.stderr)
        assert {f: (out / f).stat().st_mtime_ns for f in files} == stamp, f"{verb} touched a file it refused"
        forced = commscale_here(verb, run, *args, "--out", out, "--force")
        assert forced.returncode == 0 and [p.name for p in _written(forced)] == files, verb


def test_fit_each_writes_into_every_run_it_was_told_to_and_checks_all_first(tmp_path):
    one, two = (write_run(tmp_path / n, flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(2, 4, 8))) for n in "ab")
    (two / "model.json").write_text("{}")
    refused = commscale_here("fit", "--each", one, two, "--bootstrap", "20")
    assert refused.returncode == 2 and "b/model.json' exists" in refused.stderr
    assert not (one / "model.json").exists(), "fit --each fitted the first run before refusing the second"
    done = commscale_here("fit", "--each", one, two, "--bootstrap", "20", "--force")
    assert done.returncode == 0 and [p.parent for p in _written(done)][::2] == [one, two]


def test_plan_refuses_tp_beyond_a_node_unless_told_and_then_warns(tmp_path):
    run = _run(tmp_path)
    args = ["plan", run, "--workload", "dryrun-llm", "--gpu-tflops", "1", "--nodes", "2,4", "--bootstrap", "20",
            "--gpus-per-node", "4", "--set", "tp=8"]
    refused = commscale_here(*args, "--out", tmp_path / "p1")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "tp 8 is larger than a node (4 GPUs per node, --gpus-per-node)" in refused.stderr
    assert "--allow-tp-across-nodes" in refused.stderr and not (tmp_path / "p1" / "plan.json").exists()
    allowed = commscale_here(*args, "--out", tmp_path / "p2", "--allow-tp-across-nodes")
    assert allowed.returncode == 0, allowed.stderr
    assert "# warning: tp 8 spans 2 nodes of 4 GPUs" in allowed.stdout
    res = json.loads((tmp_path / "p2" / "plan.json").read_text())
    assert res["tp_across_nodes"] is True
    tp = [c for r in res["rows"] if "problem" not in r for c in r["calls"] if c["kind"] == "tp"]
    assert tp and all(c["group_nodes"] == 2 for c in tp), "tp 8 on 4-GPU nodes is not priced across 2 nodes"


def test_gpus_per_node_default_to_the_runs_own_and_say_where_they_came_from(tmp_path):
    run = _run(tmp_path)  # one node of up to 8 ranks
    result = commscale_here("crossover", run, *VERBS["crossover"][0], "--out", tmp_path / "c")
    assert result.returncode == 0, result.stderr
    assert "# GPUs per node: 8 (the runs' ranks per node)" in result.stdout
    res = json.loads((tmp_path / "c" / "crossover.json").read_text())
    assert (res["gpus_per_node"], res["gpus_per_node_source"]) == (8, "the runs' ranks per node")
    given = commscale_here("plan", run, *VERBS["plan"][0], "--gpus-per-node", "4", "--out", tmp_path / "p")
    assert given.returncode == 0 and "# GPUs per node: 4 (--gpus-per-node)" in given.stdout


def test_the_report_shows_a_plan_and_a_crossover_written_outside_the_run(tmp_path):
    run = _run(tmp_path)
    for verb in ("crossover", "plan"):
        assert commscale_here(verb, run, *VERBS[verb][0], "--out", tmp_path / verb).returncode == 0
    report = commscale_here("report", run, tmp_path / "crossover", tmp_path / "plan", "--out", tmp_path / "rep")
    assert report.returncode == 0, report.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Training plan: plan" in md and "**Training plan** dryrun-llm:" in md
    assert "gpt2-small-dp" in md
    alone = commscale_here("report", tmp_path / "plan", "--out", tmp_path / "rep2")
    assert alone.returncode == 2 and "no run among" in alone.stderr


def test_gpus_per_node_are_said_to_be_assumed_where_the_runs_do_not_say(tmp_path):
    from collectives.cost import RING_ALL_REDUCE as ring
    from synthetic import family_time_us
    pts = [(None, p, None, "net", n, family_time_us(ring, p, n, 10.0, 10.0)) for p in (16, 32) for n in
           [8 * 4 ** i for i in range(12)]]
    run = write_run(tmp_path / "run", pts, noise=0.01)  # an imported log that names no nodes
    result = commscale_here("crossover", run, *VERBS["crossover"][0], "--out", tmp_path / "c")
    assert result.returncode == 0, result.stderr
    assert "# GPUs per node: 8 (assumed: the runs do not say how many ranks a node ran; set --gpus-per-node)" \
        in result.stdout


def test_compare_writes_its_csv_only_where_told_and_replaces_it_only_with_force(tmp_path):
    run = _run(tmp_path)
    quiet = commscale_here("compare", run, run)
    assert quiet.returncode == 0 and not _written(quiet) and _untouched(run) == {"records.jsonl"}
    first = commscale_here("compare", run, run, "--out", tmp_path / "cmp")
    assert first.returncode == 0 and [p.name for p in _written(first)] == ["compare-run.csv"]
    assert first.stdout.splitlines()[-1].startswith("PASS")  # the CI verdict stays the last line
    again = commscale_here("compare", run, run, "--out", tmp_path / "cmp")
    assert again.returncode == 2 and "exists: add --force" in again.stderr and "PASS" not in again.stdout
    assert commscale_here("compare", run, run, "--out", tmp_path / "cmp", "--force").returncode == 0

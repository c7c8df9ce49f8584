"""The words a user reads after the first run (issue 34, item 5): messages that say what is
true, one name set of workload presets with a way to list them, and third-party warnings
said once in commscale's words. Real files and the real command line."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

from collectives.cost import RING_ALL_REDUCE
from conftest import REPO, commscale_here
from synthetic import flat_points, write_run

REAL = REPO / "tests" / "fixtures" / "real"


def test_import_into_a_run_says_choose_a_new_out_and_nothing_import_cannot_do(tmp_path):
    log = REAL / "all_reduce_32xA100_4nodes_no-rank-lines-no-header__NVIDIA-deepops.txt"
    first = commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "r", "--nranks", "32",
                           "--nnodes", "4", "--collective", "all_reduce")
    assert first.returncode == 0, first.stderr
    again = commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "r", "--nranks", "32",
                           "--nnodes", "4", "--collective", "all_reduce")
    assert again.returncode == 2 and "already holds a run (records.jsonl): choose a new --out directory" in again.stderr
    assert "--resume" not in again.stderr and "leave --out out" not in again.stderr


def test_an_unidentified_family_is_unidentified_in_the_header_and_the_notes(tmp_path):
    run = write_run(tmp_path / "one", flat_points(RING_ALL_REDUCE, 10.0, 100.0, ranks=(8,)), noise=0.01)
    assert commscale_here("fit", run, "--out", run, "--bootstrap", "20").returncode == 0
    (entry,) = json.loads((run / "model.json").read_text())["fits"]
    assert (entry["family"], entry["family_used"]) == ("unidentified", "ring")
    result = commscale_here("export", run, "--to", "astra-sim", "--out", tmp_path / "net.yml")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "net.yml").read_text()
    (header,) = [line for line in text.splitlines() if line.startswith("# exported by")]
    assert "family unidentified, priced as ring" in header
    assert "family unidentified, priced as ring" in result.stdout and "family ring" not in result.stdout


def test_workloads_lists_every_preset_of_both_verbs_and_each_sends_the_other_s_on(tmp_path):
    from reports.planning.llm import TRAINING_PRESETS
    from reports.planning.workloads import PRESETS
    assert not set(PRESETS) & set(TRAINING_PRESETS), "one name set: a name means one preset"
    listed = commscale_here("workloads")
    assert listed.returncode == 0
    rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines() if line.startswith("  ")
            and line.split()[0] != "name"}
    assert rows == {**{n: p["kind"] for n, p in PRESETS.items()}, **{n: "llm" for n in TRAINING_PRESETS}}
    one = commscale_here("workloads", "mixtral-8x7b")
    assert one.returncode == 0 and json.loads(one.stdout.split("\n# ")[0])["ep"] == 8
    run = write_run(tmp_path / "run", flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(2, 4)))
    to_crossover = commscale_here("plan", run, "--workload", "llama-7b-dp", "--gpu-tflops", "1")
    assert to_crossover.returncode == 2 and "commscale crossover RUN --workload llama-7b-dp" in to_crossover.stderr
    to_plan = commscale_here("crossover", run, "--workload", "llama3-8b", "--gpu-tflops", "1")
    assert to_plan.returncode == 2 and "commscale plan RUN --workload llama3-8b" in to_plan.stderr
    unknown = commscale_here("plan", run, "--workload", "llama-3-8b", "--gpu-tflops", "1")
    assert unknown.returncode == 2 and "'commscale workloads' lists them" in unknown.stderr


def test_third_party_warnings_are_one_line_each_said_once(capsys):
    from benchmarks.warnings_said import say_once
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with say_once():
            for _ in range(3):
                np.mean(np.array([]))
            warnings.warn("something else", UserWarning)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3, lines  # numpy's two (the empty mean, then its 0/0), once each, and ours
    assert lines[0].startswith("commscale: note: a numpy RuntimeWarning: Mean of empty slice (numpy/")
    assert lines[1].startswith("commscale: note: a numpy RuntimeWarning: invalid value encountered")
    assert lines[2].startswith("commscale: note: a commscale UserWarning: something else (tests/test_words.py:")


@pytest.mark.slow  # starts two ranks
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux) to rename the host")
def test_a_host_name_that_resolves_to_nothing_gets_one_line_not_a_c10d_warning_per_rank(tmp_path):
    """Gloo warns once per rank in C++ where the host name resolves to no address; the dry
    run's ranks are all local, so commscale binds gloo to loopback and says so once."""
    script = (f"hostname commscale-nowhere-{tmp_path.name[-6:]} && {sys.executable} -c "
              f"'import sys; sys.path.insert(0, \"{REPO}\"); sys.path.insert(0, \"{REPO / 'tests'}\"); "
              f"from conftest import local_run; r = local_run(2, \"--backend\", \"gloo\", \"--collectives\", "
              f"\"all_reduce\", \"--sizes\", \"4K\", \"-n\", \"2\", \"-w\", \"1\", \"--out\", \"{tmp_path / 'run'}\"); "
              f"sys.stderr.write(r.stderr); sys.exit(r.returncode)'")
    try:
        result = subprocess.run(["unshare", "-u", "sh", "-c", script], capture_output=True, text=True, timeout=180)
    except PermissionError:
        pytest.skip("unshare -u needs root")
    if "unshare failed" in result.stderr or "Operation not permitted" in result.stderr:
        pytest.skip("unshare -u needs root")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Unable to resolve hostname" not in result.stderr
    assert result.stderr.count("resolves to no address: gloo binds to lo") == 1, result.stderr[-2000:]


def test_a_crossover_past_the_limit_in_some_samples_warns_nothing(tmp_path):
    """A real 4-node log: some bootstrap samples never cross within --limit, so the interval's
    upper end is 'beyond the limit'; numpy's inf - inf there is no news for the user."""
    log = REAL / "all_reduce_32xA100_4nodes_no-rank-lines-no-header__NVIDIA-deepops.txt"
    assert commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "r", "--nranks", "32",
                          "--nnodes", "4", "--collective", "all_reduce").returncode == 0
    result = commscale_here("crossover", tmp_path / "r", "--workload", "gpt2-small-dp", "--gpu-tflops", "100",
                            "--limit", "64", "--out", tmp_path / "c")
    assert result.returncode == 0, result.stderr
    assert "95% interval 16 to beyond the limit" in result.stdout
    assert "RuntimeWarning" not in result.stderr and "note:" not in result.stderr, result.stderr

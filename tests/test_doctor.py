"""The doctor's pieces: the rounds of pairs, the statistics on rates of known shape (made
here, and labelled so: they stand for pair tests with a slowed node or link), the
confirmation's choice of groups, and a real 3-rank launch on this machine."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from benchmarks.doctor.schedule import ALL_PAIRS_UP_TO, all_rounds, plan_rounds
from conftest import REPO, commscale_here
from reports.doctor.confirm import confirm, run_confirmation
from reports.doctor.stats import Method, analyse

FAST = 0.0478  # GB/s: TCP payload of a 400 Mbit/s link


def synthetic_samples(n, slow_nodes=None, slow_pairs=None, passes=4, noise=0.02, seed=1):
    """Made-up pair rates (not measured): min(node a, node b, link a-b) with relative noise."""
    rng = np.random.default_rng(seed)
    slow_nodes, slow_pairs = slow_nodes or {}, slow_pairs or {}
    return {(a, b): list(min(slow_nodes.get(a, FAST), slow_nodes.get(b, FAST), slow_pairs.get((a, b), FAST))
                         * (1 + noise * rng.standard_normal(passes)))
            for a, b in itertools.combinations(range(n), 2)}


def names(n):
    return [f"node{i}" for i in range(n)]


@pytest.mark.parametrize("n", range(2, 14))
def test_rounds_hold_every_pair_once_and_no_node_twice_in_a_round(n):
    rounds = all_rounds(n)
    pairs = [p for r in rounds for p in r]
    assert sorted(pairs) == list(itertools.combinations(range(n), 2))
    assert len(rounds) == (n - 1 if n % 2 == 0 else n)
    for r in rounds:
        nodes = [i for p in r for i in p]
        assert len(nodes) == len(set(nodes))


def test_large_clusters_sample_rounds_and_say_so():
    rounds, why = plan_rounds(ALL_PAIRS_UP_TO + 8)
    assert len(rounds) == 16 and "16 of 39 rounds" in why
    assert plan_rounds(40, rounds=16)[0] == rounds  # the same draw each time (seed 0)
    every, why = plan_rounds(6)
    assert len(every) == 5 and why == "all 15 pairs of 6 nodes in 5 rounds"


def test_a_healthy_cluster_has_no_suspect():
    out = analyse(names(6), synthetic_samples(6))
    assert out["suspects"] == [] and not any(n["suspect"] for n in out["nodes"])
    assert out["reference_gbps"] == pytest.approx(FAST, rel=0.03)


def test_one_slow_node_is_named_with_its_rate_interval_and_confidence():
    out = analyse(names(6), synthetic_samples(6, {3: FAST / 4}))
    (s,) = out["suspects"]
    assert (s["kind"], s["node"], s["rank"]) == ("node", "node3", 1)
    assert s["measured_gbps"] == pytest.approx(FAST / 4, rel=0.03)
    assert s["expected_gbps"] == pytest.approx(FAST, rel=0.03)
    assert s["interval_gbps"][0] <= s["measured_gbps"] <= s["interval_gbps"][1]
    assert s["confidence"] == 1.0 and s["shortfall"] == pytest.approx(0.75, abs=0.03)
    assert not out["uncertain"]


def test_two_slow_nodes_are_ranked_slowest_first():
    out = analyse(names(8), synthetic_samples(8, {1: FAST / 4, 6: FAST / 2}))
    assert [s["node"] for s in out["suspects"]] == ["node1", "node6"]


def test_one_slow_pair_is_a_link_not_its_nodes():
    out = analyse(names(6), synthetic_samples(6, slow_pairs={(2, 4): FAST / 4}))
    (s,) = out["suspects"]
    assert s["kind"] == "link" and s["nodes"] == ["node2", "node4"]
    assert s["measured_gbps"] == pytest.approx(FAST / 4, rel=0.03)
    assert s["expected_gbps"] == pytest.approx(FAST, rel=0.05)


@pytest.mark.parametrize("case", ["node", "link"])
def test_three_nodes_tell_a_slow_node_from_a_slow_link(case):
    samples = synthetic_samples(3, {0: FAST / 4}) if case == "node" else synthetic_samples(3, slow_pairs={(0, 1): FAST / 4})
    (s,) = analyse(names(3), samples)["suspects"]
    assert s["kind"] == case


@pytest.mark.slow  # 5 s: 11 analyses
def test_noise_alone_is_not_a_suspect_and_a_small_shortfall_is_not_either():
    for seed in range(10):
        assert analyse(names(6), synthetic_samples(6, noise=0.03, seed=seed))["suspects"] == []
    assert analyse(names(6), synthetic_samples(6, {2: FAST * 0.9}))["suspects"] == []  # 10% < threshold 15%


def test_a_shortfall_the_samples_do_not_support_is_uncertain_not_a_suspect():
    samples = synthetic_samples(6, {2: FAST * 0.8}, passes=2, noise=0.25, seed=3)
    out = analyse(names(6), samples, Method())
    for s in out["uncertain"]:
        assert s["confidence"] < 0.8
    assert all(s["confidence"] >= 0.8 for s in out["suspects"])


def test_confirmation_measures_with_and_without_the_suspect_and_the_whole_group():
    caps = {3: FAST / 4}
    asked = []

    def measure(groups):  # a stand-in cluster (not measured): a ring goes at its slowest node
        asked.append(groups)
        return [min(caps.get(i, FAST) for i in g) for g in groups]
    suspects = [{"kind": "node", "index": 3}]
    result = run_confirmation(confirm(6, suspects, FAST), measure)
    assert asked[0] == [[3, 0, 1], [2, 4, 5]]
    c = suspects[0]["confirmation"]
    assert c["confirmed"] and c["restores"] and c["with_gbps"] == FAST / 4
    assert result["measurements"] == 4 and result["group"]["restores"] and result["group"]["improves"]


def test_confirmation_bisects_when_removing_the_suspect_does_not_restore():
    caps = {3: FAST / 4, 6: FAST / 2}  # node6 slow too, but not suspected
    suspects = [{"kind": "node", "index": 3}]
    result = run_confirmation(confirm(8, suspects, FAST), lambda gs: [min(caps.get(i, FAST) for i in g) for g in gs])
    c = suspects[0]["confirmation"]
    assert c["confirmed"] and not c["restores"] and 6 in c["still_slow"] and len(c["still_slow"]) <= 3
    assert c["measurements"] == 4 and result["measurements"] == 6


def test_a_link_is_confirmed_by_its_nodes_with_other_partners():
    suspects = [{"kind": "link", "index": [2, 4]}]
    run_confirmation(confirm(6, suspects, FAST),
                     lambda gs: [FAST / 4 if sorted(g) == [2, 4] else FAST for g in gs])
    c = suspects[0]["confirmation"]
    assert c["confirmed"] and c["restores"] and c["measurements"] == 4
    assert c["without"] == [[2, 0], [4, 1]]


def test_too_few_nodes_to_confirm_says_why():
    suspects = [{"kind": "node", "index": 0}]
    run_confirmation(confirm(3, suspects, FAST), lambda gs: [FAST for _ in gs])
    assert suspects[0]["confirmation"]["confirmed"] is None
    assert "needs 3 nodes" in suspects[0]["confirmation"]["why"]


def _launch(out, nodes=3, extra=()):
    """`commscale doctor` on `nodes` local ranks, each a node (COMMSCALE_NODE_NAME), as
    torchrun would start them."""
    from benchmarks.host.detect import free_port
    port = free_port()
    procs = []
    for rank in range(nodes):
        env = {**os.environ, "PYTHONPATH": str(REPO), "RANK": str(rank), "WORLD_SIZE": str(nodes), "LOCAL_RANK": "0",
               "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "COMMSCALE_NODE_NAME": f"node{rank}"}
        procs.append(subprocess.Popen([sys.executable, "-m", "benchmarks", "doctor", "--size", "256K", "-w", "1",
                                       "-n", "3", "--out", str(out), *extra], env=env, cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return [p.returncode for p in procs], outputs


@pytest.mark.slow
def test_a_real_doctor_run_on_three_local_ranks_writes_every_measurement(tmp_path):
    out = tmp_path / "doc"
    codes, outputs = _launch(out)
    assert len(set(codes)) == 1 and codes[0] in (0, 6), outputs[0]
    doc = json.loads((out / "doctor.json").read_text())
    assert doc["status"] == "complete" and doc["node_names"] == ["node0", "node1", "node2"]
    assert doc["healthy"] == (codes[0] == 0)
    # 3 pairs x 2 tests x 2 passes, each with its rate and a passed data check
    assert len(doc["pairs"]) == 12 and all(p["status"] == "ok" and p["n_wrong"] == 0 for p in doc["pairs"])
    assert {tuple(p["nodes"]) for p in doc["pairs"]} == {("node0", "node1"), ("node0", "node2"), ("node1", "node2")}
    assert all(n["partners"] == 2 and n["capacity_gbps"] > 0 for n in doc["nodes"])
    assert len(doc["links"]) == 3 and all(link["samples"] == 4 for link in doc["links"])
    stdout = outputs[0][0]
    assert "# commscale doctor" in stdout and "all 3 pairs of 3 nodes in 3 rounds" in stdout
    assert f"(exit {codes[0]}); {out / 'doctor.json'}" in stdout
    report = commscale_here("report", out, "--out", tmp_path / "rep")
    assert report.returncode == 0, report.stderr
    assert "## Slow nodes and links (doctor): doc" in (tmp_path / "rep" / "report.md").read_text()


def test_one_node_is_a_one_line_error(tmp_path):
    start = time.monotonic()
    done = commscale_here("doctor", "--size", "1K", "--out", tmp_path / "one")
    assert done.returncode == 2 and time.monotonic() - start < 30
    assert done.stderr.strip().count("\n") == 0 and "launch ranks on 2 or more nodes" in done.stderr


@pytest.mark.slow
def test_a_rank_lost_mid_run_keeps_what_was_measured(tmp_path):
    """SIGKILL one rank after the first rounds: the others end with status 5 and one line
    each, and doctor.json keeps every measurement made, marked incomplete."""
    from benchmarks.host.detect import free_port
    out, port, procs = tmp_path / "lost", free_port(), []
    try:
        for rank in range(3):
            env = {**os.environ, "PYTHONPATH": str(REPO), "RANK": str(rank), "WORLD_SIZE": "3", "LOCAL_RANK": "0",
                   "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                   "COMMSCALE_NODE_NAME": f"node{rank}"}
            procs.append(subprocess.Popen([sys.executable, "-m", "benchmarks", "doctor", "--size", "1M", "-w", "1",
                                           "-n", "5", "--passes", "50", "--timeout", "20", "--out", str(out)],
                                          env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if len(json.loads((out / "doctor.json").read_text())["pairs"]) >= 4:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        procs[2].kill()
        codes = [p.wait(timeout=120) for p in procs[:2]]
        errors = procs[0].stderr.read()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [5, 5]
    assert "Traceback" not in errors and errors.strip().count("\n") == 0 and "rank 0: a collective failed" in errors
    doc = json.loads((out / "doctor.json").read_text())
    kept = sum(1 for _ in open(out / "records.jsonl"))
    assert doc["status"] == "incomplete" and len(doc["pairs"]) >= 4 and kept == len(doc["pairs"])


def test_tests_are_pooled_in_all_reduce_busbw_whichever_pairs_are_slow():
    from reports.doctor.stats import pool_tests
    all_reduce = {(0, 1): [1.0, 1.0], (0, 2): [0.25, 0.25], (1, 2): [0.25, 0.25]}
    sendrecv = {p: [v * 0.9 for v in vs] for p, vs in all_reduce.items()}  # made up: sendrecv 10% lower
    pooled, factors = pool_tests({"sendrecv": sendrecv, "all_reduce": all_reduce})
    assert factors["sendrecv"] == pytest.approx(1 / 0.9) and factors["all_reduce"] == 1.0
    assert pooled[(0, 1)] == pytest.approx([1.0] * 4) and pooled[(0, 2)] == pytest.approx([0.25] * 4)


def test_two_slow_nodes_of_four_are_both_found():
    """Half the nodes slow: each healthy node has one healthy partner of three, and the
    slow ones must not pull the reference down."""
    out = analyse(names(4), synthetic_samples(4, {0: FAST / 4, 2: FAST * 0.6}))
    assert sorted(s["node"] for s in out["suspects"]) == ["node0", "node2"]
    assert out["reference_gbps"] == pytest.approx(FAST, rel=0.05)

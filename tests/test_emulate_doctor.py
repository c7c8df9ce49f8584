"""`commscale emulate --doctor`: the doctor over emulated nodes whose links are known, some
slowed on purpose (--link K=RATE, --pair-link J,K=RATE). The doctor must name exactly the
slowed node(s) or pair, first, with the rate the emulation allows, and nothing on a
healthy network. Needs root and iproute2; every run checks that nothing is left."""
import json
import os
import shutil

import pytest

from conftest import commscale, commscale_here

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"),
                                reason="emulate needs root and iproute2 (ip, tc)")
pytestmark = [needs_root, pytest.mark.usefixtures("no_leftovers")]

FAST = "-n", "5", "-w", "2"


def doctor(tmp_path, *flags):
    out = tmp_path / "doc"
    done = commscale("emulate", "--emulated-nodes", "6", "--rate", "400mbit", "--doctor", *FAST, *flags,
                     "--out", out, timeout=600)
    assert (out / "doctor.json").exists(), done.stdout + done.stderr
    doc = json.loads((out / "doctor.json").read_text())
    print(done.stdout[-3000:])
    return done, doc


@pytest.mark.slow
def test_a_healthy_network_has_no_suspect(tmp_path):
    done, doc = doctor(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert doc["suspects"] == [] and doc["healthy"] is True and doc["status"] == "complete"
    assert "# doctor: healthy: no suspect (exit 0)" in done.stdout
    assert doc["fault_check"]["faults"] == [] and doc["fault_check"]["false_positives"] == 0
    assert len(doc["pairs"]) == 15 * 2 * 2 and len(doc["nodes"]) == 6


@pytest.mark.slow
def test_a_slow_node_is_named_first_at_its_emulated_rate_and_confirmed(tmp_path):
    done, doc = doctor(tmp_path, "--link", "3=100mbit")
    assert done.returncode == 6, done.stderr[-2000:]
    first = doc["suspects"][0]
    assert (first["kind"], first["node"], first["rank"]) == ("node", "node3", 1)
    (fault,) = doc["fault_check"]["faults"]
    assert fault["found"] and fault["rank"] == 1 and abs(fault["ratio"] - 1) <= 0.10
    assert doc["fault_check"]["false_positives"] == 0
    assert first["confidence"] >= 0.8 and first["interval_gbps"][0] <= first["measured_gbps"] <= first["interval_gbps"][1]
    c = first["confirmation"]
    assert c["confirmed"] and c["restores"] and "node3" in c["with_nodes"] and "node3" not in c["without_nodes"]
    assert doc["confirmation"]["group"]["restores"] and doc["confirmation"]["measurements"] == 4
    assert "# emulated fault node3 (node, payload 0.01196 GB/s): found at rank 1" in done.stdout


@pytest.mark.slow
def test_two_slow_nodes_are_both_named_slowest_first(tmp_path):
    done, doc = doctor(tmp_path, "--link", "1=100mbit", "--link", "4=200mbit")
    assert done.returncode == 6, done.stderr[-2000:]
    assert [(s["kind"], s["node"]) for s in doc["suspects"]] == [("node", "node1"), ("node", "node4")]
    check = doc["fault_check"]
    assert check["false_negatives"] == 0 and check["false_positives"] == 0
    assert all(abs(f["ratio"] - 1) <= 0.10 for f in check["faults"])


@pytest.mark.slow
def test_a_slow_pair_is_a_link_while_both_its_nodes_are_fine(tmp_path):
    done, doc = doctor(tmp_path, "--pair-link", "2,4=100mbit")
    assert done.returncode == 6, done.stderr[-2000:]
    (s,) = doc["suspects"]
    assert s["kind"] == "link" and s["nodes"] == ["node2", "node4"]
    assert not any(n["suspect"] for n in doc["nodes"])
    (fault,) = doc["fault_check"]["faults"]
    assert fault["found"] and abs(fault["ratio"] - 1) <= 0.10
    assert s["confirmation"]["confirmed"] and s["confirmation"]["restores"]


def test_doctor_flags_are_checked_before_anything_is_built(tmp_path):
    for flags, words in [(["--passes", "0"], "--passes 0 must be at least 1"),
                         (["--threshold", "2"], "--threshold 2.0 is a share"),
                         (["--size", "lots"], "lots"),
                         (["--resume", str(tmp_path)], "")]:
        done = commscale_here("emulate", "--emulated-nodes", "3", "--doctor", *flags, "--out", tmp_path / "x")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert words in done.stderr and done.stderr.strip().count("\n") == 0

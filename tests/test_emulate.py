"""`commscale emulate` on a real emulated network: network namespaces joined through a
bridge by tbf-shaped veth links (1 Gbit/s), gloo ranks inside them. The model must recover
the link's TCP payload rate, and a 2 x 2 run must show an intra-node and an inter-node
tier. Needs root and iproute2 (CI runs as root); every test checks that nothing is left."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, commscale, commscale_here, namespaces, read_records

PAYLOAD_GBPS = 1e9 / 8 * 1448 / 1514 / 1e9

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"),
                                reason="emulate needs root and iproute2 (ip, tc)")


@pytest.mark.slow
def test_fitted_bandwidth_is_the_link_rate_at_2_and_4_nodes(tmp_path, no_leftovers):
    out = tmp_path / "emu"
    result = commscale("emulate", "--emulated-nodes", "4", "--ranks-per-node", "1", "--rate", "1gbit",
                       "--collectives", "all_reduce", "-b", "2M", "-e", "32M", "-n", "8", "-w", "2", "--out", out,
                       timeout=600)
    assert result.returncode == 0, result.stderr
    checks = {c["nnodes"]: c for c in json.loads((out / "emulate.json").read_text())["link_check"]}
    assert sorted(checks) == [2, 4]
    for check in checks.values():
        assert check["payload_gbps"] == pytest.approx(PAYLOAD_GBPS)
        assert abs(check["bandwidth_gbps"] / PAYLOAD_GBPS - 1) <= 0.05, check
        assert check["within_tolerance"]
    assert "link check" in result.stdout and "ratio" in result.stdout
    records = read_records(out)
    assert {(r["nnodes"], r["fabric"]) for r in records} == {(2, "emulated-net"), (4, "emulated-net")}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["hosts"] == ["node0", "node1", "node2", "node3"]
    assert meta["emulated_network"]["rate_bits_per_s"] == 1e9
    node0 = meta["topology"]["node0"]  # read inside node0's namespace: its one link
    assert [nic["name"] for nic in node0["net"]] == ["veth0"] and node0["net"][0]["mtu"] == 1500
    assert "gpus" in node0["absent"]
    assert (out / "model.json").exists() and (out / "report" / "report.html").exists()


@pytest.mark.slow
def test_two_nodes_of_two_ranks_show_intra_and_inter_node_terms(tmp_path, no_leftovers):
    out = tmp_path / "emu"
    result = commscale("emulate", "--nodes", "2", "--ranks-per-node", "2", "--collectives", "all_reduce",
                       "-b", "256K", "-e", "32M", "-n", "6", "-w", "2", "--out", out, timeout=600)
    assert result.returncode == 0, result.stderr
    groups = {(r["nranks"], r["nnodes"], r["ranks_per_node"], r["fabric"]) for r in read_records(out)}
    # --layout intra,inter,full: within node0, one rank per node, everything
    assert groups == {(2, 1, 2, "loopback"), (2, 2, 1, "emulated-net"), (4, 2, 2, "emulated-net")}
    model = json.loads((out / "model.json").read_text())
    [tiers] = [h for h in model["hierarchical"] if h["collective"] == "all_reduce"]
    assert (tiers["fabric_intra"], tiers["fabric_inter"], tiers["ranks_per_node"]) == ("loopback", "emulated-net", 2)
    assert tiers["bandwidth_intra_gbps"] > 4 * tiers["bandwidth_inter_gbps"], tiers
    assert abs(tiers["bandwidth_inter_gbps"] / PAYLOAD_GBPS - 1) < 0.25, tiers
    assert "# hierarchical" in result.stdout
    [check] = json.loads((out / "emulate.json").read_text())["link_check"]
    assert check["nnodes"] == 2 and abs(check["ratio"] - 1) <= 0.05, check


@pytest.mark.slow
def test_sigterm_tears_the_network_down(tmp_path, no_leftovers):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks", "emulate", "--emulated-nodes", "2", "--collectives",
                             "all_reduce", "-b", "32M", "-e", "32M", "-n", "200", "--out", tmp_path / "emu"],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tag = f"cs{proc.pid}-"
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "emu" / "records.jsonl").exists():  # the ranks are measuring
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.2)
        assert {ns for ns in namespaces() if ns.startswith(tag)} == {tag + "br", tag + "n0", tag + "n1"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 4  # EXIT_STOPPED: records kept, resume line printed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not {ns for ns in namespaces() if ns.startswith(tag)}
    meta = json.loads((tmp_path / "emu" / "meta.json").read_text())
    assert meta["status"] == "incomplete"


@pytest.mark.parametrize("flags, message", [
    (["--backend", "mpi"], "emulate runs gloo ranks"),
    (["--emulated-nodes", "1"], "use --emulated-nodes 2 or more"),
    (["--burst", "100kbit"], "below 256kbit"),
    (["--rate", "fast"], "not a rate tc understands"),
    (["--node-counts", "4"], "--emulated-nodes is 2"),
])
def test_bad_emulate_flags_are_one_line_errors(tmp_path, flags, message, no_leftovers):
    result = commscale_here("emulate", *flags, "--out", tmp_path / "emu")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_old_spelling_of_emulated_nodes_still_works_with_a_deprecation_line(tmp_path, no_leftovers):
    """emulate's --nodes (nodes to build, while run and slurm take node counts there) is now
    --emulated-nodes; the old spelling is read the same way and says so."""
    result = commscale_here("emulate", "--nodes", "1", "--out", tmp_path / "emu")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 2, result.stderr
    assert "emulate --nodes N is deprecated: use --emulated-nodes N" in lines[0]
    assert "--emulated-nodes 1: one node has no network to emulate" in lines[1]

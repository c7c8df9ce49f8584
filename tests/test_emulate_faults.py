"""`commscale emulate --link K=RATE --pair-link J,K=RATE`: one node's link at another rate,
and the traffic between two nodes only slowed (htb on both nodes' bridge ports, a class
per pair chosen by the IPv4 source). The flags' errors are one line and exit status 2;
real TCP between the namespaces must see each node's link, the slow node's, and the pair's
rate between the pair only. The network tests need root and iproute2 (CI runs as root)
and check that nothing is left."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from benchmarks.cli import main, parse
from benchmarks.errors import UsageError
from benchmarks.netemu import emulate
from benchmarks.netemu.netns import EmulatedNetwork, parse_rate, payload_gbps
from conftest import commscale_here, namespaces

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"),
                                reason="emulate needs root and iproute2 (ip, tc)")

RATE, SLOW = 400e6, 100e6
FAULTS = {"node_rates": {2: SLOW}, "pair_rates": {(0, 3): SLOW}}
"""4 nodes at 400 Mbit/s, node2 at 100 Mbit/s, and between node0 and node3 only 100 Mbit/s."""
WARMUP, MEASURED = 2 << 20, 4 << 20
"""Each flow's receiver times MEASURED bytes once WARMUP bytes have come (the buckets are
empty and the queues full by then): 0.1 s at 400 Mbit/s, 0.35 s at 100 Mbit/s."""

RECEIVER = r"""
import json, socket, sys, time
warmup, measured = int(sys.argv[3]), int(sys.argv[4])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(1)
server.settimeout(10)
print("ready", flush=True)
conn, _ = server.accept()
conn.settimeout(10)
buf = bytearray(1 << 20)
total, start = 0, None
while True:
    got = conn.recv_into(buf)
    if not got:
        sys.exit("the sender stopped early")
    total += got
    if start is None and total >= warmup:
        start = (time.monotonic(), total)
    elif start is not None and total >= warmup + measured:
        break
seconds, received = time.monotonic() - start[0], total - start[1]
conn.close()  # the sender's next send fails: it stops
print(json.dumps({"bytes": received, "seconds": seconds}), flush=True)
"""

SENDER = r"""
import socket, sys, time
conn = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
start = float(sys.argv[3])
while time.time() < start:  # flows meant to run together start at one moment (one clock for all namespaces)
    time.sleep(0.001)
chunk = bytes(1 << 16)
try:
    while time.time() < start + 20:
        conn.sendall(chunk)
except OSError:  # the receiver has what it timed and hung up
    pass
"""


def _in_ns(ns: str, code: str, *args) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, "-c", code, *map(str, args)]


def _flows(net: EmulatedNetwork, pairs) -> list[float]:
    """Each (src, dst) pair streams TCP at the same moment until its receiver has timed
    MEASURED bytes; what each receiver got, GB/s. Every process is gone on return."""
    procs = []
    try:
        receivers = []
        for k, (_, dst) in enumerate(pairs):
            receivers.append(subprocess.Popen(_in_ns(net.node_ns(dst), RECEIVER, net.address(dst), 5301 + k, WARMUP,
                                                     MEASURED), stdout=subprocess.PIPE, text=True))
            procs.append(receivers[-1])
            assert receivers[-1].stdout.readline().strip() == "ready"
        start = time.time() + (1.0 if len(pairs) > 1 else 0)  # time for every sender to start and connect
        for k, (src, dst) in enumerate(pairs):
            procs.append(subprocess.Popen(_in_ns(net.node_ns(src), SENDER, net.address(dst), 5301 + k, start)))
        results = [json.loads(r.communicate(timeout=30)[0]) for r in receivers]
        assert all(p.wait(timeout=30) == 0 for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    return [r["bytes"] / r["seconds"] / 1e9 for r in results]


def _qdiscs(ns: str, dev: str) -> list[dict]:
    return json.loads(subprocess.run(["tc", "-j", "-n", ns, "qdisc", "show", "dev", dev], capture_output=True,
                                     text=True, check=True).stdout)


def _htb_classes(ns: str, dev: str) -> dict[str, tuple[float, float]]:
    """{classid: (rate, ceil) in bits per second} of the htb on `dev` (tc has no JSON for classes)."""
    out = subprocess.run(["tc", "-n", ns, "class", "show", "dev", dev], capture_output=True, text=True,
                         check=True).stdout
    return {c: (parse_rate(rate), parse_rate(ceil))
            for c, rate, ceil in re.findall(r"class htb (\S+) .*?rate (\S+) ceil (\S+)", out)}


@pytest.mark.slow
@needs_root
def test_each_node_and_pair_gets_its_own_rate(no_leftovers):
    net = EmulatedNetwork(4, RATE, burst_bits=4e6, **FAULTS)
    try:
        net.build()
        tbf = {(net.node_ns(2), "veth0"): SLOW, (net.bridge_ns, "p2"): SLOW, (net.bridge_ns, "p1"): RATE,
               (net.node_ns(0), "veth0"): RATE, (net.node_ns(3), "veth0"): RATE}
        for (ns, dev), bits in tbf.items():
            [qdisc] = _qdiscs(ns, dev)
            assert qdisc["kind"] == "tbf" and qdisc["options"]["rate"] * 8 == bits, (ns, dev, qdisc)
        for port in ("p0", "p3"):  # the pair's ports: htb, the node's rate at the root, the pair's in its class
            assert {q["kind"] for q in _qdiscs(net.bridge_ns, port)} == {"htb", "bfifo"}
            assert _htb_classes(net.bridge_ns, port) == {"1:1": (RATE, RATE), "1:10": (RATE - SLOW, RATE),
                                                         "1:11": (SLOW, SLOW)}
        expected = {(0, 1): RATE, (0, 2): SLOW, (2, 1): SLOW, (0, 3): SLOW, (3, 0): SLOW, (1, 3): RATE, (3, 1): RATE}
        ratios = {}
        for (src, dst), bits in expected.items():
            assert net.pair_rate(src, dst) == bits
            [gbps] = _flows(net, [(src, dst)])
            ratios[f"node{src}->node{dst}"] = gbps / payload_gbps(bits)
        print("measured / payload rate: " + ", ".join(f"{name} {ratio:.4f}" for name, ratio in ratios.items()))
        assert all(abs(ratio - 1) <= 0.10 for ratio in ratios.values()), ratios
    finally:
        assert net.close() == []
    assert not {ns for ns in namespaces() if ns.startswith(net.tag + "-")}


@pytest.mark.slow
@needs_root
def test_a_pair_shares_its_nodes_link_with_the_other_traffic(no_leftovers):
    """node0 receiving from node3 (the slow pair) and node1 at once: the pair keeps its
    rate, node1 gets the rest of node0's link, and together they stay within it."""
    net = EmulatedNetwork(4, RATE, burst_bits=4e6, **FAULTS)
    try:
        net.build()
        pair, other = _flows(net, [(3, 0), (1, 0)])
        print(f"into node0 at once: from node3 {pair / payload_gbps(SLOW):.4f} of the pair's payload rate, from "
              f"node1 {other / payload_gbps(RATE - SLOW):.4f} of the rest of node0's link")
        assert abs(pair / payload_gbps(SLOW) - 1) <= 0.10, pair
        assert abs(other / payload_gbps(RATE - SLOW) - 1) <= 0.10, other
    finally:
        assert net.close() == []


def test_rates_of_nodes_and_pairs():
    net = EmulatedNetwork(6, RATE, racks=2, uplink_bits=200e6, node_rates={2: SLOW, 4: 1e9},
                          pair_rates={(5, 1): 50e6})
    assert net.pair_rates == {(1, 5): 50e6}  # normalised a < b
    assert [net.rate_of(i) for i in range(6)] == [RATE, RATE, SLOW, RATE, 1e9, RATE]
    assert net.pair_rate(0, 1) == RATE and net.pair_rate(2, 0) == SLOW  # inside rack0
    assert net.pair_rate(0, 4) == 200e6 and net.pair_rate(3, 4) == RATE  # across racks: the uplink
    assert net.pair_rate(5, 1) == net.pair_rate(1, 5) == 50e6
    with pytest.raises(IndexError):
        net.rate_of(6)


@pytest.mark.parametrize("faults", [
    {"pair_rates": {(0, 1): RATE}},  # not below node0's link
    {"pair_rates": {(0, 1): 200e6}, "node_rates": {1: SLOW}},  # not below node1's
    {"pair_rates": {(1, 1): SLOW}},
    {"pair_rates": {(0, 4): SLOW}},
    {"pair_rates": {(0, 1): SLOW, (1, 0): 50e6}},
    {"node_rates": {4: SLOW}},
    {"node_rates": {1: 0}},
])
def test_faults_the_network_cannot_have_are_value_errors(faults):
    with pytest.raises(ValueError):
        EmulatedNetwork(4, RATE, **faults)


def test_describe_says_the_slow_node_and_the_slow_pair():
    described = EmulatedNetwork(4, RATE, node_rates={2: SLOW, 1: RATE}, pair_rates={(3, 0): SLOW}).describe()
    assert described["node_rates_bits_per_s"] == {"node2": SLOW}  # node1 at --rate is no change
    assert described["pair_rates_bits_per_s"] == [{"nodes": ["node0", "node3"], "bits_per_s": SLOW}]
    assert described["rate_bits_per_s"] == RATE and described["payload_gbps"] == pytest.approx(payload_gbps(RATE))
    assert "node2's link instead tbf rate 100000000bit" in described["qdisc"]
    assert "between node0 and node3 only 100000000bit" in described["qdisc"] and "htb" in described["qdisc"]
    plain = EmulatedNetwork(4, RATE).describe()
    assert plain["node_rates_bits_per_s"] == {} and plain["pair_rates_bits_per_s"] == []
    assert "htb" not in plain["qdisc"] and {"racks", "uplink_bits_per_s", "node_rack", "addresses"} <= set(plain)
    line = emulate._network_line(EmulatedNetwork(4, RATE, **FAULTS), 1)
    assert f"node2 {payload_gbps(SLOW):.4f} GB/s" in line and f"node0-node3 {payload_gbps(SLOW):.4f} GB/s" in line


def _options(*flags, nodes=6):
    args = parse(["emulate", "--emulated-nodes", str(nodes), *flags])
    return emulate.emulate_options(SimpleNamespace(backend="gloo", ranks=(), nodes=()), nodes, args.ranks_per_node,
                                   args.rate, args.burst, racks=args.racks, uplink=args.uplink, links=args.link,
                                   pair_links=args.pair_link)


def test_links_are_read_in_order_and_the_resume_command_gives_them_back(monkeypatch):
    monkeypatch.setattr(emulate, "check_can_build", lambda: None)
    flags = ["--rate", "400mbit", "--link", "4=1gbit", "--link", " 2 = 100mbit", "--pair-link", "3,0=100mbit",
             "--pair-link", "1,5=50mbit"]
    opts = _options(*flags)
    assert opts.node_links == ((2, SLOW), (4, 1e9))
    assert opts.pair_links == ((0, 3, SLOW), (1, 5, 50e6))
    command = opts.resume_command()
    assert command.endswith(" --link 2=100mbit --link 4=1gbit --pair-link 0,3=100mbit --pair-link 1,5=50mbit")
    assert _options(*command.split()[4:]) == opts  # the command reads back to the same options
    assert "--link" not in _options().resume_command()


@pytest.mark.parametrize("flags, message", [
    (["--link", "9=100mbit"], "--link 9=100mbit: there is no node9 in --emulated-nodes 6: use K from 0 to 5"),
    (["--link", "2:100mbit"], "--link '2:100mbit' is not K=RATE: use e.g. --link 2=100mbit"),
    (["--link", "2=100mbit", "--link", "2=50mbit"],
     "--link 2=50mbit: node2 already has --link 2=100mbit: give each node one --link"),
    (["--link", "2=fast"], "--link 2=fast: 'fast' is not a rate above zero that tc understands: use e.g. "
                           "--link 2=100mbit"),
    (["--link", "2=0mbit"], "'0mbit' is not a rate above zero"),
    (["--pair-link", "0-3=1mbit"], "--pair-link '0-3=1mbit' is not J,K=RATE: use e.g. --pair-link 0,3=100mbit"),
    (["--pair-link", "0,6=1mbit"], "--pair-link 0,6=1mbit: there is no node6 in --emulated-nodes 6: use J and K "
                                   "from 0 to 5"),
    (["--pair-link", "3,3=1mbit"], "--pair-link 3,3=1mbit: a node has no link to itself: use two different nodes"),
    (["--pair-link", "0,3=1mbit", "--pair-link", "3,0=2mbit"],
     "--pair-link 3,0=2mbit: node0 and node3 already have --pair-link 0,3=1mbit: give each pair one --pair-link"),
    (["--pair-link", "0,3=slow"], "--pair-link 0,3=slow: 'slow' is not a rate above zero"),
    (["--pair-link", "0,3=1gbit"], "--pair-link 0,3=1gbit: 1gbit is not below node0's link (1gbit): use a rate "
                                   "below both nodes' links, or raise node0's with --link 0=RATE"),
    (["--link", "3=100mbit", "--pair-link", "0,3=100mbit"],
     "--pair-link 0,3=100mbit: 100mbit is not below node3's link (100mbit)"),
])
def test_bad_link_flags_are_one_line_errors(tmp_path, capsys, flags, message):
    """The command's own path (argparse, emulate_options, the one line, status 2), in this
    process: the errors come before anything is built or written."""
    assert main(["emulate", "--emulated-nodes", "6", *flags, "--out", str(tmp_path / "emu")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "emu").exists()
    with pytest.raises(UsageError, match=re.escape(message)):
        _options(*flags)


@pytest.mark.parametrize("flags, message", [
    (["--link", "9=100mbit"], "there is no node9 in --emulated-nodes 2: use K from 0 to 1"),
    (["--pair-link", "0,1=1gbit"], "1gbit is not below node0's link (1gbit)"),
])
def test_the_command_exits_2_on_a_bad_link(tmp_path, flags, message):
    result = commscale_here("emulate", *flags, "--out", tmp_path / "emu")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@needs_root
@pytest.mark.slow
def test_an_emulation_with_a_slow_node_and_a_slow_pair_says_them(run_cli, tmp_path, no_leftovers):
    """The flags reach the network the ranks run in: the line it prints, meta.json (a few seconds)."""
    out = tmp_path / "emu"
    result = run_cli("emulate", "--emulated-nodes", "3", "--rate", "400mbit", "--link", "2=200mbit", "--pair-link",
                     "1,0=100mbit", "--collectives", "all_reduce", "-b", "1M", "-e", "1M", "-n", "2", "-w", "1",
                     "--layout", "full", "--out", out, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"node2 {payload_gbps(200e6):.4f} GB/s, node0-node1 {payload_gbps(SLOW):.4f} GB/s" in result.stdout
    network = json.loads((out / "meta.json").read_text())["emulated_network"]
    assert network["node_rates_bits_per_s"] == {"node2": 200e6}
    assert network["pair_rates_bits_per_s"] == [{"nodes": ["node0", "node1"], "bits_per_s": SLOW}]

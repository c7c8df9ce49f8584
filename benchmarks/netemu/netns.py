"""An emulated multi-node network on one machine: one network namespace per node, joined
through a bridge (in a namespace of its own, so the host's network is not touched) by veth
links shaped with tbf in both directions.

    node i: namespace <tag>-n<i>, interface veth0 at 10.<net>.0.<i+1>/24, lo up
    bridge: namespace <tag>-br, bridge br0 with one port p<i> per node
    shaping: tbf on veth0 (node i sends) and on p<i> (node i receives), each at `rate`

With `racks` R > 1 the nodes are split into R racks (contiguous blocks, as even as can be,
the first racks taking the extra node) and the bridge namespace holds one bridge per rack
(r0..r<R-1>, node i's port p<i> on its rack's) and a spine bridge; rack r is joined to the
spine by a veth pair u<r> (on r<r>) - s<r> (on spine), tbf at `uplink` on both ends, so
each direction of the uplink is shaped and shared by the rack's nodes (one L2 network:
every node stays in the same /24).

Faults: `node_rates` {K: bits} gives node K's link (veth0 and p<K>, tbf) another rate;
`pair_rates` {(a, b): bits} slows the traffic between a and b only. Their bridge ports
p<a> and p<b> then carry an htb instead of the tbf: a root class at the node's rate (the
node's whole link, as the tbf was), under it a default class (everything else, ARP
included) and one class per pair capped at the pair's rate, chosen by a u32 filter on the
IPv4 source (the other node). Each class's leaf is a bfifo as deep as the tbf's queue.

Ranks of one node share its namespace: between them traffic goes over that namespace's
loopback (unshaped, as within a real node); between nodes it crosses two shaped veths.
Needs root (CAP_NET_ADMIN) and iproute2 (`ip`, `tc`). Everything built is removed by
`close()` (also when building fails halfway); a namespace's deletion removes its links.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ..errors import UsageError

IFNAME = "veth0"
MTU = 1500
TCP_PAYLOAD_PER_FRAME = 1448
"""TCP payload in a full frame at MTU 1500: 1500 - 20 (IPv4) - 32 (TCP with timestamps)."""
FRAME_BYTES = 1514
"""What tbf counts per full frame: the IP packet plus the 14-byte Ethernet header."""
MIN_BURST_BITS = 256 * 1000
HTB_QUANTUM = 60000
"""Bytes an htb class sends per round while borrowing (about 40 full frames): above one
frame as htb needs, and fixed (htb's rate/r2q default is far above its 200000 limit at a gigabit)."""
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps)\s*$", re.IGNORECASE)
_FACTORS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
            "bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9}
"""tc's units: 'bit' suffixes are bits per second, 'bps' suffixes bytes per second."""


def parse_rate(text: str, flag: str = "--rate") -> float:
    """A tc rate ('1gbit', '100mbit', '125mbps') in bits per second; `flag` is the option
    the message names."""
    match = _RATE.match(str(text))
    if not match:
        raise UsageError(f"{flag} {text!r} is not a rate tc understands: use e.g. {flag} 1gbit or 100mbit")
    bits = float(match.group(1)) * _FACTORS[match.group(2).lower()]
    if bits <= 0:
        raise UsageError(f"{flag} {text!r} must be above zero: use e.g. {flag} 1gbit")
    return bits


def payload_gbps(rate_bits: float) -> float:
    """What TCP can carry over a link of `rate_bits` at MTU 1500, in GB/s (1e9 B/s)."""
    return rate_bits / 8 * TCP_PAYLOAD_PER_FRAME / FRAME_BYTES / 1e9


def check_can_build() -> None:
    """Root and iproute2, or a one-line usage error."""
    if os.geteuid() != 0:
        raise UsageError("emulate builds network namespaces and needs root (CAP_NET_ADMIN): run it as root or with sudo")
    for tool in ("ip", "tc"):
        if not shutil.which(tool):
            raise UsageError(f"emulate needs iproute2's {tool!r} and it is not on PATH: apt-get install iproute2")


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or f'exit {done.returncode}'}")


def namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@dataclass
class EmulatedNetwork:
    nodes: int
    rate_bits: float
    burst_bits: int = MIN_BURST_BITS
    tag: str = field(default_factory=lambda: f"cs{os.getpid()}")
    """Prefix of every namespace made (the PID: two emulations on one host do not meet)."""
    subnet: int = 77
    """Nodes are 10.<subnet>.0.<i+1>; inside fresh namespaces this cannot clash with the host."""
    latency_ms: int = 50
    """tbf queue: what may wait at the rate before tbf drops (far above this network's RTT)."""
    racks: int = 1
    """Racks the nodes are split into; 1: every node on one bridge, no uplink."""
    uplink_bits: float | None = None
    """Each rack's link to the spine, each direction, in bits per second; None: `rate_bits`."""
    node_rates: dict[int, float] = field(default_factory=dict)
    """Node K's link, both directions, in bits per second, where not `rate_bits`."""
    pair_rates: dict[tuple[int, int], float] = field(default_factory=dict)
    """The traffic between nodes a and b only (key a < b), both directions, in bits per second."""
    made: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not 1 <= self.racks <= self.nodes:
            raise ValueError(f"racks={self.racks}: between 1 and nodes={self.nodes}")
        self.node_rates = dict(self.node_rates)
        for i, bits in self.node_rates.items():
            if not 0 <= i < self.nodes or bits <= 0:
                raise ValueError(f"node_rates {i}: {bits}: nodes 0 to {self.nodes - 1}, rates above zero")
        pairs = {}
        for (a, b), bits in self.pair_rates.items():
            key = (min(a, b), max(a, b))
            if a == b or not 0 <= key[0] < key[1] < self.nodes or key in pairs:
                raise ValueError(f"pair_rates {(a, b)}: two different nodes of 0 to {self.nodes - 1}, each pair once")
            if not 0 < bits < min(self.rate_of(a), self.rate_of(b)):
                raise ValueError(f"pair_rates {(a, b)}: {bits} bits/s must be above zero and below both nodes' "
                                 f"links ({self.rate_of(a)}, {self.rate_of(b)})")
            pairs[key] = bits
        self.pair_rates = dict(sorted(pairs.items()))

    @property
    def bridge_ns(self) -> str:
        return f"{self.tag}-br"

    def node_ns(self, i: int) -> str:
        return f"{self.tag}-n{i}"

    @staticmethod
    def node_name(i: int) -> str:
        """What the ranks of node i call their host (COMMSCALE_NODE_NAME)."""
        return f"node{i}"

    def address(self, i: int) -> str:
        return f"10.{self.subnet}.0.{i + 1}"

    def rack_of(self, i: int) -> int:
        """Node i's rack: contiguous blocks, the first nodes % racks racks one node larger."""
        if not 0 <= i < self.nodes:
            raise IndexError(f"node {i} of {self.nodes}")
        small, extra = divmod(self.nodes, self.racks)
        if i < extra * (small + 1):
            return i // (small + 1)
        return extra + (i - extra * (small + 1)) // small

    @property
    def uplink_rate_bits(self) -> float | None:
        """The uplink's rate in bits per second (`rate_bits` where not given); None with one rack."""
        if self.racks == 1:
            return None
        return self.rate_bits if self.uplink_bits is None else self.uplink_bits

    def rate_of(self, i: int) -> float:
        """Node i's link, each direction, in bits per second."""
        if not 0 <= i < self.nodes:
            raise IndexError(f"node {i} of {self.nodes}")
        return self.node_rates.get(i, self.rate_bits)

    def pair_rate(self, a: int, b: int) -> float:
        """What the traffic between nodes a and b is capped at, in bits per second: both
        nodes' links, their pair rate if any, and across racks the uplink."""
        if a == b:
            raise ValueError(f"pair_rate({a}, {b}): two different nodes")
        caps = [self.rate_of(a), self.rate_of(b), self.pair_rates.get((min(a, b), max(a, b)), float("inf"))]
        if self.racks > 1 and self.rack_of(a) != self.rack_of(b):
            caps.append(self.uplink_rate_bits)
        return min(caps)

    def _changed_nodes(self) -> list[tuple[int, float]]:
        """(node, rate) for each node whose link is not `rate_bits`, in node order."""
        return [(i, bits) for i, bits in sorted(self.node_rates.items()) if bits != self.rate_bits]

    def _pairs_of(self, i: int) -> list[tuple[int, float]]:
        """(other node, pair rate) for each pair node i is in."""
        return [(b if a == i else a, bits) for (a, b), bits in self.pair_rates.items() if i in (a, b)]

    def _bridge(self, i: int) -> str:
        """The bridge node i's port is on."""
        return "br0" if self.racks == 1 else f"r{self.rack_of(i)}"

    def build(self) -> "EmulatedNetwork":
        """Make the namespaces, links and shaping; on any failure remove what was made and raise."""
        try:
            self._add_ns(self.bridge_ns)
            bridges = ["br0"] if self.racks == 1 else [*(f"r{r}" for r in range(self.racks)), "spine"]
            for bridge in bridges:
                _run("ip", "-n", self.bridge_ns, "link", "add", bridge, "type", "bridge")
                _run("ip", "-n", self.bridge_ns, "link", "set", bridge, "up")
            for r in range(self.racks if self.racks > 1 else 0):
                self._add_uplink(r)
            for i in range(self.nodes):
                self._add_node(i)
        except BaseException:
            self.close()
            raise
        return self

    def _add_node(self, i: int) -> None:
        ns, port = self.node_ns(i), f"p{i}"
        self._add_ns(ns)
        _run("ip", "link", "add", IFNAME, "netns", ns, "mtu", str(MTU), "type", "veth",
             "peer", "name", port, "netns", self.bridge_ns, "mtu", str(MTU))
        _run("ip", "-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", IFNAME)
        _run("ip", "-n", ns, "link", "set", IFNAME, "up")
        _run("ip", "-n", self.bridge_ns, "link", "set", port, "master", self._bridge(i), "up")
        self._shape(ns, IFNAME, self.rate_of(i))  # what node i sends
        if self._pairs_of(i):
            self._shape_pairs(i)  # what node i receives, its pairs' traffic each in a class of its own
        else:
            self._shape(self.bridge_ns, port, self.rate_of(i))  # what node i receives

    def _add_uplink(self, r: int) -> None:
        """Rack r's bridge to the spine: u<r> on r<r>, s<r> on spine, both shaped at the uplink."""
        up, down = f"u{r}", f"s{r}"
        _run("ip", "-n", self.bridge_ns, "link", "add", up, "mtu", str(MTU), "type", "veth",
             "peer", "name", down, "mtu", str(MTU))
        _run("ip", "-n", self.bridge_ns, "link", "set", up, "master", f"r{r}", "up")
        _run("ip", "-n", self.bridge_ns, "link", "set", down, "master", "spine", "up")
        self._shape(self.bridge_ns, up, self.uplink_rate_bits)  # what rack r sends to the other racks
        self._shape(self.bridge_ns, down, self.uplink_rate_bits)  # what rack r receives from them

    def _add_ns(self, name: str) -> None:
        _run("ip", "netns", "add", name)
        self.made.append(name)
        _run("ip", "-n", name, "link", "set", "lo", "up")

    def _shape(self, ns: str, dev: str, rate_bits: float) -> None:
        _run("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{int(rate_bits)}bit",
             "burst", f"{int(self.burst_bits) // 8}b", "latency", f"{self.latency_ms}ms")

    def _shape_pairs(self, i: int) -> None:
        """htb on p<i>: root class 1:1 at node i's rate; under it default class 1:10 (ceil the
        node's rate) and 1:11, 1:12... (ceil each pair's rate) for packets from the pair's
        other node. The guaranteed rates sum to the node's rate, so the classes together
        never pass it: each pair its own rate, the default class the rest (with so many
        pairs that nothing is left, all scaled down); each leaf a bfifo as deep as the tbf's queue."""
        node, pairs = self.rate_of(i), self._pairs_of(i)
        paired = sum(bits for _, bits in pairs)
        rest = max(node - paired, node / (len(pairs) + 1))
        scale = node / (rest + paired)
        tc = ("tc", "-n", self.bridge_ns)
        _run(*tc, "qdisc", "add", "dev", f"p{i}", "root", "handle", "1:", "htb", "default", "10")
        classes = [(10, rest, node, None)] + [(11 + k, bits, bits, other) for k, (other, bits) in enumerate(pairs)]
        self._htb_class(i, "1:", 1, node, node)
        for minor, rate, ceil, other in classes:
            self._htb_class(i, "1:1", minor, rate * scale, ceil)
            _run(*tc, "qdisc", "add", "dev", f"p{i}", "parent", f"1:{minor}", "handle", f"{minor}:", "bfifo",
                 "limit", str(int(ceil / 8 * self.latency_ms / 1000 + self.burst_bits // 8)))
            if other is not None:
                _run(*tc, "filter", "add", "dev", f"p{i}", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                     "match", "ip", "src", f"{self.address(other)}/32", "flowid", f"1:{minor}")

    def _htb_class(self, i: int, parent: str, minor: int, rate_bits: float, ceil_bits: float) -> None:
        burst = f"{int(self.burst_bits) // 8}b"
        _run("tc", "-n", self.bridge_ns, "class", "add", "dev", f"p{i}", "parent", parent, "classid", f"1:{minor}",
             "htb", "rate", f"{int(rate_bits)}bit", "ceil", f"{int(ceil_bits)}bit", "burst", burst, "cburst", burst,
             "quantum", str(HTB_QUANTUM))

    def close(self) -> list[str]:
        """Delete every namespace this object made (their links go with them); return the
        ones that could not be deleted."""
        left = []
        while self.made:
            name = self.made.pop()
            done = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True)
            if done.returncode and name in namespaces():
                left.append(name)
        return left

    def _qdisc(self) -> str:
        text = (f"tbf rate {int(self.rate_bits)}bit burst {int(self.burst_bits)}bit "
                f"latency {self.latency_ms}ms, both directions of every node's link")
        if self.racks > 1:
            text += (f"; {self.racks} racks, each rack's uplink to the spine tbf rate {int(self.uplink_rate_bits)}bit "
                     f"burst {int(self.burst_bits)}bit latency {self.latency_ms}ms, both directions")
        for i, bits in self._changed_nodes():
            text += f"; {self.node_name(i)}'s link instead tbf rate {int(bits)}bit, both directions"
        for (a, b), bits in self.pair_rates.items():
            text += (f"; between {self.node_name(a)} and {self.node_name(b)} only {int(bits)}bit, both directions "
                     f"(htb on both nodes' bridge ports: a class at the pair's rate for the other node's packets, "
                     f"u32 match ip src, under a root class at the node's rate)")
        return text

    def describe(self) -> dict:
        """The network as meta.json records it."""
        uplink = self.uplink_rate_bits
        return {"nodes": self.nodes, "rate_bits_per_s": self.rate_bits, "burst_bits": self.burst_bits,
                "mtu": MTU, "qdisc": self._qdisc(),
                "payload_gbps": payload_gbps(self.rate_bits), "interface": IFNAME,
                "addresses": [self.address(i) for i in range(self.nodes)], "namespaces": [
                    self.node_ns(i) for i in range(self.nodes)],
                "racks": self.racks, "uplink_bits_per_s": uplink,
                "uplink_payload_gbps": None if uplink is None else payload_gbps(uplink),
                "node_rack": {self.node_name(i): f"rack{self.rack_of(i)}" for i in range(self.nodes)},
                "node_rates_bits_per_s": {self.node_name(i): bits for i, bits in self._changed_nodes()},
                "pair_rates_bits_per_s": [{"nodes": [self.node_name(a), self.node_name(b)], "bits_per_s": bits}
                                          for (a, b), bits in self.pair_rates.items()]}

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
    made: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not 1 <= self.racks <= self.nodes:
            raise ValueError(f"racks={self.racks}: between 1 and nodes={self.nodes}")

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
        self._shape(ns, IFNAME, self.rate_bits)  # what node i sends
        self._shape(self.bridge_ns, port, self.rate_bits)  # what node i receives

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
                "node_rack": {self.node_name(i): f"rack{self.rack_of(i)}" for i in range(self.nodes)}}

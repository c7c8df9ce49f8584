"""An emulated multi-node network on one machine: one network namespace per node, joined
through a bridge (in a namespace of its own, so the host's network is not touched) by veth
links shaped with tbf in both directions.

    node i: namespace <tag>-n<i>, interface veth0 at 10.<net>.0.<i+1>/24, lo up
    bridge: namespace <tag>-br, bridge br0 with one port p<i> per node
    shaping: tbf on veth0 (node i sends) and on p<i> (node i receives), each at `rate`

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


def parse_rate(text: str) -> float:
    """A tc rate ('1gbit', '100mbit', '125mbps') in bits per second."""
    match = _RATE.match(str(text))
    if not match:
        raise UsageError(f"--rate {text!r} is not a rate tc understands: use e.g. --rate 1gbit or 100mbit")
    bits = float(match.group(1)) * _FACTORS[match.group(2).lower()]
    if bits <= 0:
        raise UsageError(f"--rate {text!r} must be above zero: use e.g. --rate 1gbit")
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
    made: list[str] = field(default_factory=list)

    @property
    def bridge_ns(self) -> str:
        return f"{self.tag}-br"

    def node_ns(self, i: int) -> str:
        return f"{self.tag}-n{i}"

    def address(self, i: int) -> str:
        return f"10.{self.subnet}.0.{i + 1}"

    def build(self) -> "EmulatedNetwork":
        """Make the namespaces, links and shaping; on any failure remove what was made and raise."""
        try:
            self._add_ns(self.bridge_ns)
            _run("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
            _run("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
            for i in range(self.nodes):
                ns, port = self.node_ns(i), f"p{i}"
                self._add_ns(ns)
                _run("ip", "link", "add", IFNAME, "netns", ns, "mtu", str(MTU), "type", "veth",
                     "peer", "name", port, "netns", self.bridge_ns, "mtu", str(MTU))
                _run("ip", "-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", IFNAME)
                _run("ip", "-n", ns, "link", "set", IFNAME, "up")
                _run("ip", "-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
                self._shape(ns, IFNAME)  # what node i sends
                self._shape(self.bridge_ns, port)  # what node i receives
        except BaseException:
            self.close()
            raise
        return self

    def _add_ns(self, name: str) -> None:
        _run("ip", "netns", "add", name)
        self.made.append(name)
        _run("ip", "-n", name, "link", "set", "lo", "up")

    def _shape(self, ns: str, dev: str) -> None:
        _run("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{int(self.rate_bits)}bit",
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

    def describe(self) -> dict:
        """The network as meta.json records it."""
        return {"nodes": self.nodes, "rate_bits_per_s": self.rate_bits, "burst_bits": self.burst_bits,
                "mtu": MTU, "qdisc": f"tbf rate {int(self.rate_bits)}bit burst {int(self.burst_bits)}bit "
                                     f"latency {self.latency_ms}ms, both directions of every node's link",
                "payload_gbps": payload_gbps(self.rate_bits), "interface": IFNAME,
                "addresses": [self.address(i) for i in range(self.nodes)], "namespaces": [
                    self.node_ns(i) for i in range(self.nodes)]}

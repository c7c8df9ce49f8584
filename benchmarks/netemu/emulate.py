"""A multi-node run on one machine over an emulated network of known bandwidth
(netemu/netns.py): `commscale emulate` (cli/emulate.py) validates, runs this, then fits
and checks the link (reports/model/linkcheck.py).

Each node's ranks run `python -m benchmarks run` inside the node's namespace with the
variables torchrun would set, gloo bound to the node's veth (GLOO_SOCKET_IFNAME), the node
named by COMMSCALE_NODE_NAME, its rack (with --racks 2 or more) by COMMSCALE_DOMAIN_NAME,
and records between nodes labelled fabric `emulated-net`.
The network is torn down whatever happens: a failed rank, or a stop signal (SIGTERM, SIGINT,
SIGHUP), which goes on to the ranks first so they keep their records.
"""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass

from collectives.domains import DOMAIN_ENV
from collectives.records import read_meta, write_meta

from ..errors import UsageError
from ..launch.command import rank_argv
from ..host.detect import DEFAULT_PORT
from ..launch.local import Forward, RanksEnded, clean_env, stop_ranks, wait_ranks
from ..sweep.config import RunConfig
from ..sweep.transports import EMULATED_FABRIC_VAR
from .netns import IFNAME, MIN_BURST_BITS, EmulatedNetwork, check_can_build, parse_rate, payload_gbps

FABRIC = "emulated-net"
MAX_NODES = 250
"""Nodes that fit the emulated /24 subnet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulateOptions:
    """The emulated network, validated (emulate_options): how many nodes, ranks in each, each
    node's link, and the racks they are in."""
    nodes: int
    ranks_per_node: int
    rate: str
    """Each node's link, each direction, as tc writes it ('1gbit'): for the resume command."""
    rate_bits: float
    """The same in bits per second."""
    burst_bits: float
    """The tbf bucket in bits."""
    racks: int = 1
    """Racks the nodes are split into (1: one bridge, no uplink)."""
    uplink: str | None = None
    """Each rack's uplink to the spine, each direction, as given (--uplink); None: not given."""
    uplink_bits: float | None = None
    """--uplink in bits per second; None where not given (EmulatedNetwork then shapes the
    uplink at --rate: one node's link, shared by the rack's nodes)."""
    node_links: tuple[tuple[int, float], ...] = ()
    """--link K=RATE: (node K, its link in bits per second, both directions) instead of --rate."""
    pair_links: tuple[tuple[int, int, float], ...] = ()
    """--pair-link J,K=RATE: (J, K, bits per second) with J < K, the traffic between J and K only."""
    link_texts: tuple[str, ...] = ()
    """--link as written back ('2=100mbit', in node order), for the resume command."""
    pair_link_texts: tuple[str, ...] = ()
    """--pair-link as written back ('0,3=100mbit', J < K, in pair order), for the resume command."""

    def resume_command(self) -> str:
        racks = f" --racks {self.racks} --uplink {self.uplink or self.rate}" if self.racks > 1 else ""
        faults = "".join(f" --link {t}" for t in self.link_texts) + \
            "".join(f" --pair-link {t}" for t in self.pair_link_texts)
        return (f"commscale emulate --emulated-nodes {self.nodes} --ranks-per-node {self.ranks_per_node} "
                f"--rate {self.rate}{racks}{faults}")


def emulate_options(cfg: RunConfig, nodes: int, ranks_per_node: int, rate: str, burst: str, racks: int = 1,
                    uplink: str | None = None, links: list[str] | None = None,
                    pair_links: list[str] | None = None) -> EmulateOptions:
    """The emulation's flags against the sweep: gloo, nodes that fit the subnet, groups that
    fit the emulation, racks with a node each, rates tc understands, --link and --pair-link
    on nodes that exist; then root and iproute2. UsageError otherwise."""
    if cfg.backend != "gloo":
        raise UsageError(f"emulate runs gloo ranks over TCP, not {cfg.backend} (MPI's launcher cannot place ranks in "
                         f"network namespaces): use --backend gloo")
    if nodes < 2:
        raise UsageError(f"--emulated-nodes {nodes}: one node has no network to emulate: use --emulated-nodes 2 "
                         f"or more")
    if nodes > MAX_NODES:
        raise UsageError(f"--emulated-nodes {nodes}: at most {MAX_NODES} nodes fit the emulated subnet: use fewer")
    if ranks_per_node < 1:
        raise UsageError(f"--ranks-per-node {ranks_per_node} must be at least 1")
    world = nodes * ranks_per_node
    if cfg.ranks and max(cfg.ranks) > world:
        raise UsageError(f"--ranks asks for {max(cfg.ranks)} ranks but the emulation has {world}: lower --ranks")
    if cfg.nodes and max(cfg.nodes) > nodes:
        raise UsageError(f"--node-counts asks for {max(cfg.nodes)} nodes but --emulated-nodes is {nodes}: "
                         f"lower --node-counts or emulate more nodes")
    uplink_bits = _uplink_bits(nodes, racks, uplink)
    rate_bits = parse_rate(rate)
    try:
        burst_bits = parse_rate(burst)
    except UsageError:
        raise UsageError(f"--burst {burst!r} is not a size tc understands: use e.g. --burst 1mbit") from None
    if burst_bits < MIN_BURST_BITS:
        raise UsageError(f"--burst {burst} is below 256kbit, too small a bucket for tbf at these rates: "
                         f"use --burst 256kbit or more")
    node_links = _node_links(nodes, links or [])
    pairs = _pair_links(nodes, {k: (text, bits) for k, text, bits in node_links}, rate, rate_bits, pair_links or [])
    check_can_build()
    return EmulateOptions(nodes=nodes, ranks_per_node=ranks_per_node, rate=rate, rate_bits=rate_bits,
                          burst_bits=burst_bits, racks=racks, uplink=uplink, uplink_bits=uplink_bits,
                          node_links=tuple((k, bits) for k, _, bits in node_links),
                          pair_links=tuple((j, k, bits) for j, k, _, bits in pairs),
                          link_texts=tuple(f"{k}={text}" for k, text, _ in node_links),
                          pair_link_texts=tuple(f"{j},{k}={text}" for j, k, text, _ in pairs))


_LINK = re.compile(r"^\s*(\d+)\s*=\s*(\S+)\s*$")
_PAIR_LINK = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*=\s*(\S+)\s*$")


def _link_node(flag: str, text: str, k: int, nodes: int, letters: str = "K") -> None:
    """Node k exists, or a usage error naming the flag as given."""
    if k >= nodes:
        raise UsageError(f"{flag} {text}: there is no node{k} in --emulated-nodes {nodes}: use {letters} from 0 to "
                         f"{nodes - 1}")


def _link_rate(flag: str, text: str, rate: str, example: str) -> float:
    """`rate` in bits per second, or a usage error naming the flag as given."""
    try:
        return parse_rate(rate, flag)
    except UsageError:
        raise UsageError(f"{flag} {text}: {rate!r} is not a rate above zero that tc understands: use e.g. "
                         f"{flag} {example}100mbit") from None


def _node_links(nodes: int, links: list[str]) -> list[tuple[int, str, float]]:
    """--link K=RATE, each checked: (K, RATE as given, bits per second) in node order."""
    seen = {}
    for text in links:
        match = _LINK.match(text)
        if not match:
            raise UsageError(f"--link {text!r} is not K=RATE: use e.g. --link 2=100mbit (node2's link at 100mbit)")
        k, rate = int(match.group(1)), match.group(2)
        _link_node("--link", text, k, nodes)
        if k in seen:
            raise UsageError(f"--link {text}: node{k} already has --link {k}={seen[k][0]}: give each node one --link")
        seen[k] = (rate, _link_rate("--link", text, rate, f"{k}="))
    return [(k, rate, bits) for k, (rate, bits) in sorted(seen.items())]


def _pair_links(nodes: int, node_links: dict, rate: str, rate_bits: float,
                links: list[str]) -> list[tuple[int, int, str, float]]:
    """--pair-link J,K=RATE, each checked: (J, K, RATE as given, bits per second), J < K, in
    pair order; `node_links` {K: (RATE as given, bits)} are the nodes --link changed."""
    seen = {}
    for text in links:
        match = _PAIR_LINK.match(text)
        if not match:
            raise UsageError(f"--pair-link {text!r} is not J,K=RATE: use e.g. --pair-link 0,3=100mbit (between node0 "
                             f"and node3 only)")
        j, k, pair_rate = int(match.group(1)), int(match.group(2)), match.group(3)
        for node in (j, k):
            _link_node("--pair-link", text, node, nodes, "J and K")
        if j == k:
            raise UsageError(f"--pair-link {text}: a node has no link to itself: use two different nodes")
        key = (min(j, k), max(j, k))
        if key in seen:
            raise UsageError(f"--pair-link {text}: node{key[0]} and node{key[1]} already have --pair-link "
                             f"{key[0]},{key[1]}={seen[key][0]}: give each pair one --pair-link")
        bits = _link_rate("--pair-link", text, pair_rate, f"{j},{k}=")
        for node in key:
            node_text, node_bits = node_links.get(node, (rate, rate_bits))
            if bits >= node_bits:
                raise UsageError(f"--pair-link {text}: {pair_rate} is not below node{node}'s link ({node_text}): use "
                                 f"a rate below both nodes' links, or raise node{node}'s with --link {node}=RATE")
        seen[key] = (pair_rate, bits)
    return [(j, k, text, bits) for (j, k), (text, bits) in sorted(seen.items())]


def _uplink_bits(nodes: int, racks: int, uplink: str | None) -> float | None:
    """--racks and --uplink checked against the nodes; --uplink in bits per second (None if not given)."""
    if racks < 1:
        raise UsageError(f"--racks {racks} must be at least 1: use --racks 1 (one bridge) or more")
    if racks > nodes:
        raise UsageError(f"--racks {racks} with --emulated-nodes {nodes}: every rack needs a node: use --racks "
                         f"{nodes} or fewer, or --emulated-nodes {racks} or more")
    if uplink is None:
        return None
    if racks == 1:
        raise UsageError("--uplink shapes the link between racks: add --racks 2 or more")
    return parse_rate(uplink, "--uplink")


def _start_ranks(cfg: RunConfig, net: EmulatedNetwork, ranks_per_node: int,
                 argv: list[str] | None = None) -> list[subprocess.Popen]:
    """Every rank in its node's namespace: `argv` (the sweep's `run` command by default)."""
    base, argv = clean_env(), argv or rank_argv(cfg)
    base.pop(DOMAIN_ENV, None)  # the ranks' domains are the emulated racks, never the host's
    world = net.nodes * ranks_per_node
    procs = []
    for node in range(net.nodes):
        for local in range(ranks_per_node):
            rank = node * ranks_per_node + local
            env = dict(base, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(local),
                       LOCAL_WORLD_SIZE=str(ranks_per_node), MASTER_ADDR=net.address(0), MASTER_PORT=str(DEFAULT_PORT),
                       GLOO_SOCKET_IFNAME=IFNAME, COMMSCALE_NODE_NAME=net.node_name(node),
                       **{EMULATED_FABRIC_VAR: FABRIC})
            if net.racks > 1:
                env[DOMAIN_ENV] = f"rack{net.rack_of(node)}"
            procs.append(subprocess.Popen(["ip", "netns", "exec", net.node_ns(node), *argv], env=env,
                                          stdout=None if rank == 0 else subprocess.DEVNULL))
    return procs


def run_emulated(cfg: RunConfig, net: EmulatedNetwork, ranks_per_node: int,
                 argv: list[str] | None = None) -> RanksEnded:
    """Build the network, run the ranks in it (`argv`: the doctor's command instead of the
    sweep's), tear it all down: the ranks' worst status, and the stop signal (SIGTERM,
    SIGINT, SIGHUP) forwarded to them if one came (launch/local.py's Forward)."""
    with Forward() as forward:
        try:
            net.build()
            print(_network_line(net, ranks_per_node), flush=True)
            if not forward.signum:  # a signal while the network was being built: no ranks
                forward.procs = _start_ranks(cfg, net, ranks_per_node, argv)
            return RanksEnded(wait_ranks(forward.procs, forward), forward.signum)
        finally:
            stop_ranks(forward.procs)
            left = net.close()
            if left:
                print(f"commscale: warning: could not delete namespaces {', '.join(left)}: remove them with "
                      f"'ip netns del NAME'", file=sys.stderr)


def _network_line(net: EmulatedNetwork, ranks_per_node: int) -> str:
    """What run_emulated prints about the network it built."""
    described = net.describe()
    faults = "".join(f", {node} {payload_gbps(bits):.4f} GB/s"
                     for node, bits in described["node_rates_bits_per_s"].items()) + \
        "".join(f", {'-'.join(pair['nodes'])} {payload_gbps(pair['bits_per_s']):.4f} GB/s"
                for pair in described["pair_rates_bits_per_s"])
    if net.racks == 1:
        return (f"# emulated network: {net.nodes} nodes x {ranks_per_node} ranks, {described['qdisc']}; "
                f"TCP payload {payload_gbps(net.rate_bits):.4f} GB/s{faults}")
    return (f"# emulated network: {net.nodes} nodes x {ranks_per_node} ranks in {net.racks} racks, "
            f"{described['qdisc']}; TCP payload {payload_gbps(net.rate_bits):.4f} GB/s per node{faults}, "
            f"{described['uplink_payload_gbps']:.4f} GB/s per rack uplink")


def record_network(cfg: RunConfig, net: EmulatedNetwork) -> None:
    """meta.json says which network the run was measured on."""
    meta = read_meta(cfg.out)
    if meta:
        write_meta(cfg.out, {**meta, "emulated_network": net.describe()})

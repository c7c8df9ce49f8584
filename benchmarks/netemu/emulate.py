"""A multi-node run on one machine over an emulated network of known bandwidth
(netemu/netns.py): `commscale emulate` (cli/emulate.py) validates, runs this, then fits
and checks the link (reports/linkcheck.py).

Each node's ranks run `python -m benchmarks run` inside the node's namespace with the
variables torchrun would set, gloo bound to the node's veth (GLOO_SOCKET_IFNAME), the node
named by COMMSCALE_NODE_NAME, and records between nodes labelled fabric `emulated-net`.
The network is torn down whatever happens: a failed rank, Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass

from collectives.records import read_meta, write_meta

from ..errors import UsageError
from ..launch.command import rank_argv
from ..launch.detect import DEFAULT_PORT
from ..launch.local import clean_env, stop_ranks, wait_ranks
from ..sweep.config import RunConfig
from ..sweep.transports import EMULATED_FABRIC_VAR
from .netns import IFNAME, MIN_BURST_BITS, EmulatedNetwork, check_can_build, parse_rate, payload_gbps

FABRIC = "emulated-net"
MAX_NODES = 250
"""Nodes that fit the emulated /24 subnet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulateOptions:
    """The emulated network: how many nodes, ranks in each, and each node's link."""
    nodes: int
    ranks_per_node: int
    rate: str
    """Each node's link, each direction, as tc writes it ('1gbit')."""
    burst: str
    """The tbf bucket, as tc writes it ('4mbit')."""

    def __post_init__(self):
        if self.nodes < 2:
            raise UsageError(f"--emulated-nodes {self.nodes}: one node has no network to emulate: use "
                             f"--emulated-nodes 2 or more")
        if self.nodes > MAX_NODES:
            raise UsageError(f"--emulated-nodes {self.nodes}: at most {MAX_NODES} nodes fit the emulated subnet: "
                             f"use fewer")
        if self.ranks_per_node < 1:
            raise UsageError(f"--ranks-per-node {self.ranks_per_node} must be at least 1")
        if self.burst_bits < MIN_BURST_BITS:
            raise UsageError(f"--burst {self.burst} is below 256kbit, too small a bucket for tbf at these rates: "
                             f"use --burst 256kbit or more")

    @property
    def rate_bits(self) -> float:
        return parse_rate(self.rate)

    @property
    def burst_bits(self) -> float:
        try:
            return parse_rate(self.burst)
        except UsageError:
            raise UsageError(f"--burst {self.burst!r} is not a size tc understands: use e.g. --burst 1mbit") from None

    def check(self, cfg: RunConfig) -> None:
        """The sweep against the network: gloo, and groups that fit; then root and iproute2."""
        if cfg.backend != "gloo":
            raise UsageError(f"emulate runs gloo ranks over TCP, not {cfg.backend} (MPI's launcher cannot place "
                             f"ranks in network namespaces): use --backend gloo")
        world = self.nodes * self.ranks_per_node
        if cfg.ranks and max(cfg.ranks) > world:
            raise UsageError(f"--ranks asks for {max(cfg.ranks)} ranks but the emulation has {world}: lower --ranks")
        if cfg.nodes and max(cfg.nodes) > self.nodes:
            raise UsageError(f"--node-counts asks for {max(cfg.nodes)} nodes but --emulated-nodes is {self.nodes}: "
                             f"lower --node-counts or emulate more nodes")
        self.rate_bits  # noqa: B018 - a bad --rate is refused here, before anything is built
        check_can_build()

    def resume_command(self) -> str:
        return (f"commscale emulate --emulated-nodes {self.nodes} --ranks-per-node {self.ranks_per_node} "
                f"--rate {self.rate}")


def _start_ranks(cfg: RunConfig, net: EmulatedNetwork, ranks_per_node: int) -> list[subprocess.Popen]:
    base, argv = clean_env(), rank_argv(cfg)
    world = net.nodes * ranks_per_node
    procs = []
    for node in range(net.nodes):
        for local in range(ranks_per_node):
            rank = node * ranks_per_node + local
            env = dict(base, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(local),
                       LOCAL_WORLD_SIZE=str(ranks_per_node), MASTER_ADDR=net.address(0), MASTER_PORT=str(DEFAULT_PORT),
                       GLOO_SOCKET_IFNAME=IFNAME, COMMSCALE_NODE_NAME=f"node{node}", **{EMULATED_FABRIC_VAR: FABRIC})
            procs.append(subprocess.Popen(["ip", "netns", "exec", net.node_ns(node), *argv], env=env,
                                          stdout=None if rank == 0 else subprocess.DEVNULL))
    return procs


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_emulated(cfg: RunConfig, net: EmulatedNetwork, ranks_per_node: int) -> int:
    """Build the network, run the ranks in it, tear it all down; the ranks' worst status."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM tears down like Ctrl-C
    procs = []
    try:
        net.build()
        print(f"# emulated network: {net.nodes} nodes x {ranks_per_node} ranks, {net.describe()['qdisc']}; "
              f"TCP payload {payload_gbps(net.rate_bits):.4f} GB/s", flush=True)
        procs = _start_ranks(cfg, net, ranks_per_node)
        return wait_ranks(procs)
    finally:
        stop_ranks(procs)
        left = net.close()
        if left:
            print(f"commscale: warning: could not delete namespaces {', '.join(left)}: remove them with "
                  f"'ip netns del NAME'", file=sys.stderr)
        signal.signal(signal.SIGTERM, previous)


def record_network(cfg: RunConfig, net: EmulatedNetwork) -> None:
    """meta.json says which network the run was measured on."""
    meta = read_meta(cfg.out)
    if meta:
        write_meta(cfg.out, {**meta, "emulated_network": net.describe()})

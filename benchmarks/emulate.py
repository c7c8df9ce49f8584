"""`commscale emulate`: a multi-node run on one machine over an emulated network of known
bandwidth (benchmarks/netns.py), then the fit, the link check (reports/linkcheck.py) and
the report. Also a rehearsal of a multi-node plan before it meets a cluster.

Each node's ranks run `python -m benchmarks run` inside the node's namespace with the
variables torchrun would set, gloo bound to the node's veth (GLOO_SOCKET_IFNAME), the node
named by COMMSCALE_NODE_NAME, and records between nodes labelled fabric `emulated-net`.
The network is torn down whatever happens: a failed rank, Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from collectives.records import read_meta, write_meta

from .config import RunConfig, check_out_dir, config_to_argv
from .dryrun import LAUNCH_VARS, launch_failed, mark_abandoned, print_report, print_summary, stop_ranks, wait_ranks
from .errors import EXIT_OK, EXIT_WRONG_DATA, UsageError
from .launch import DEFAULT_PORT
from .netns import IFNAME, MIN_BURST_BITS, EmulatedNetwork, check_can_build, parse_rate, payload_gbps
from .options import add_run_options
from .sweep import EMULATED_FABRIC_VAR

FABRIC = "emulated-net"
EMULATE_FILE = "emulate.json"


def add_emulate_options(p) -> None:
    g = p.add_argument_group("the emulated network")
    g.add_argument("--nodes", dest="emulated_nodes", type=int, default=2, help="nodes to emulate [2]")
    g.add_argument("--ranks-per-node", type=int, default=1, help="ranks in each node [1]")
    g.add_argument("--rate", default="1gbit", help="each node's link, each direction, as tc writes it [1gbit]")
    g.add_argument("--burst", default="4mbit", help="tbf bucket, at least 256kbit [4mbit]")
    add_run_options(p, nodes_flag="--node-counts", cpu_only=True, collectives="all_reduce,all_to_all",
                    min_bytes="64K", max_bytes="32M", warmup="2", iters="10", layout="intra,inter,full")
    p.add_argument("--resume", metavar="DIR", default=None,
                   help="finish the interrupted emulation in DIR: its sweep, only the points it lacks")


def _check(cfg: RunConfig, args) -> tuple[float, float]:
    """The emulation's own flags; returns (rate, burst) in bits per second and bits."""
    if cfg.backend != "gloo":
        raise UsageError(f"emulate runs gloo ranks over TCP, not {cfg.backend} (MPI's launcher cannot place ranks "
                         f"in network namespaces): use --backend gloo")
    if args.emulated_nodes < 2:
        raise UsageError(f"--nodes {args.emulated_nodes}: one node has no network to emulate: use --nodes 2 or more")
    if args.emulated_nodes > 250:
        raise UsageError(f"--nodes {args.emulated_nodes}: at most 250 nodes fit the emulated subnet: use fewer")
    if args.ranks_per_node < 1:
        raise UsageError(f"--ranks-per-node {args.ranks_per_node} must be at least 1")
    world = args.emulated_nodes * args.ranks_per_node
    if cfg.ranks and max(cfg.ranks) > world:
        raise UsageError(f"--ranks asks for {max(cfg.ranks)} ranks but the emulation has {world}: lower --ranks")
    if cfg.nodes and max(cfg.nodes) > args.emulated_nodes:
        raise UsageError(f"--node-counts asks for {max(cfg.nodes)} nodes but --nodes is {args.emulated_nodes}: "
                         f"lower --node-counts or emulate more nodes")
    rate = parse_rate(args.rate)
    try:
        burst = parse_rate(args.burst)
    except UsageError:
        raise UsageError(f"--burst {args.burst!r} is not a size tc understands: use e.g. --burst 1mbit") from None
    if burst < MIN_BURST_BITS:
        raise UsageError(f"--burst {args.burst} is below 256kbit, too small a bucket for tbf at these rates: "
                         f"use --burst 256kbit or more")
    check_can_build()
    return rate, burst


def _start_ranks(cfg: RunConfig, net: EmulatedNetwork, ranks_per_node: int) -> list[subprocess.Popen]:
    base = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    argv = [sys.executable, "-m", "benchmarks", "run", *config_to_argv(cfg)]
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


def emulate(cfg: RunConfig, args) -> int:
    rate, burst = _check(cfg, args)
    check_out_dir(cfg.out, cfg.resume)
    net = EmulatedNetwork(args.emulated_nodes, rate, int(burst))
    try:
        code = run_emulated(cfg, net, args.ranks_per_node)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the network is gone; say what the run holds
        _record_network(cfg, net)
        mark_abandoned(cfg.out, 130)
        raise
    _record_network(cfg, net)
    if code not in (EXIT_OK, EXIT_WRONG_DATA):
        return launch_failed(cfg.out, code, f"commscale emulate --nodes {net.nodes} --ranks-per-node "
                                            f"{args.ranks_per_node} --rate {args.rate}")
    _analyse(cfg, net)
    return code


def _record_network(cfg: RunConfig, net: EmulatedNetwork) -> None:
    """meta.json says which network the run was measured on."""
    meta = read_meta(cfg.out)
    if meta:
        write_meta(cfg.out, {**meta, "emulated_network": net.describe()})


def _analyse(cfg: RunConfig, net: EmulatedNetwork) -> None:
    """Summary, fit, link check and report, all into the run directory."""
    from reports.linkcheck import format_link_check, link_check
    from reports.load import load_run
    from reports.report import build_report

    from .fit_cmd import fit_runs
    df = load_run(cfg.out)
    print_summary(cfg.out, df)
    fits = None
    try:
        fits = {cfg.out: fit_runs([cfg.out], cfg.out, 1000)[0]}
    except UsageError as exc:
        print(f"# no model: {exc}", flush=True)
    checks = link_check(df, payload_gbps(net.rate_bits))
    print("#\n" + format_link_check(checks), flush=True)
    (cfg.out / EMULATE_FILE).write_text(json.dumps({"network": net.describe(), "link_check": checks}, indent=1) + "\n",
                                        encoding="utf-8")
    print(f"# link check: {cfg.out / EMULATE_FILE}", flush=True)
    print_report(build_report([cfg.out], cfg.out / "report", fits=fits))

"""`commscale emulate`: a multi-node run on one machine over an emulated network of known
bandwidth (benchmarks/netemu/), then the fit, the link check (reports/model/linkcheck.py) and
the report. Also a rehearsal of a multi-node plan before it meets a cluster."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from ..analysis.after_run import fit_or_say_why, print_summary, write_report
from ..doctor.options import doctor_argv
from ..errors import EXIT_OK, EXIT_SUSPECTS, EXIT_WRONG_DATA, UsageError
from ..launch.outcome import doctor_stopped, launch_failed, launch_stopped
from ..netemu.emulate import emulate_options, record_network, run_emulated
from ..netemu.netns import EmulatedNetwork, payload_gbps
from ..outdirs import check_out_dir
from ..sweep.config import RunConfig
from ..sweep.plan import DOMAIN_LAYOUTS
from .doctor import add_doctor_options, doctor_options
from .options import add_resume, add_run_options, sweep_config

EMULATE_FILE = "emulate.json"


def add_parser(sub):
    p = sub.add_parser("emulate", help="sweep over an emulated multi-node network on this machine (root), fit, check "
                                       "the link",
                       description="Build one network namespace per node joined by tbf-shaped veth links, run gloo "
                                   "ranks in them, fit the model and compare its bandwidth with the link's.")
    g = p.add_argument_group("the emulated network")
    g.add_argument("--emulated-nodes", type=int, default=None, help="nodes to emulate [2]")
    g.add_argument("--nodes", dest="deprecated_nodes", type=int, default=None, help=argparse.SUPPRESS)
    g.add_argument("--ranks-per-node", type=int, default=1, help="ranks in each node [1]")
    g.add_argument("--rate", default="1gbit", help="each node's link, each direction, as tc writes it [1gbit]")
    g.add_argument("--burst", default="4mbit", help="tbf bucket, at least 256kbit [4mbit]")
    g.add_argument("--racks", type=int, default=1,
                   help="racks to split the nodes into (contiguous blocks, one bridge each, joined to a spine by "
                        "an uplink); each rank learns its rack as COMMSCALE_DOMAIN_NAME [1]")
    g.add_argument("--uplink", default=None,
                   help="each rack's uplink to the spine, each direction, as tc writes it; needs --racks 2 or more "
                        "[--rate: one node's link shared by all the rack's nodes, i.e. oversubscribed by the nodes "
                        "per rack]")
    g.add_argument("--link", action="append", metavar="K=RATE",
                   help="node K's link (node<K>, K from 0), both directions, at RATE instead of --rate; repeatable")
    g.add_argument("--pair-link", action="append", metavar="J,K=RATE",
                   help="the traffic between nodes J and K only at RATE, below both nodes' links (each keeps its "
                        "rate with the others); repeatable")
    g.add_argument("--doctor", action="store_true",
                   help="run the doctor over the emulated nodes instead of the sweep (doctor.json in --out; exit 6 "
                        "when it finds a suspect); -w/-n/--timeout and the doctor's flags below apply")
    add_doctor_options(p, size="1M", passes="2")
    add_run_options(p, nodes_flag="--node-counts", cpu_only=True, collectives="all_reduce,all_to_all",
                    min_bytes="64K", max_bytes="32M", warmup="2", iters="10", layout="intra,inter,full")
    add_resume(p, "emulation")
    return p


def _nodes(args) -> int:
    """--emulated-nodes; the old spelling --nodes (until 0.1: nodes to build, while run and
    slurm take node counts there) still works, with a deprecation line."""
    if args.deprecated_nodes is None:
        return 2 if args.emulated_nodes is None else args.emulated_nodes
    print("commscale: warning: emulate --nodes N is deprecated: use --emulated-nodes N (node counts to measure "
          "are --node-counts)", file=sys.stderr, flush=True)
    return args.deprecated_nodes if args.emulated_nodes is None else args.emulated_nodes


def _with_rack_layouts(cfg: RunConfig, args) -> RunConfig:
    """In racks, the default layouts gain one rank per node inside a rack and one rank per
    rack, so each tier is measured on its own (a layout given by hand is kept as given)."""
    if args.racks < 2 or cfg.resume or args.layout != args.verb_parser.get_default("layout"):
        return cfg
    return replace(cfg, layouts=tuple(dict.fromkeys(cfg.layouts[:-1] + DOMAIN_LAYOUTS + cfg.layouts[-1:])))


def run(args) -> int:
    cfg = _with_rack_layouts(sweep_config(args, cpu_only=True), args)
    opts = emulate_options(cfg, _nodes(args), args.ranks_per_node, args.rate, args.burst, racks=args.racks,
                           uplink=args.uplink, links=args.link, pair_links=args.pair_link)
    check_out_dir(cfg.out, cfg.resume)
    net = EmulatedNetwork(opts.nodes, opts.rate_bits, int(opts.burst_bits), racks=opts.racks,
                          uplink_bits=opts.uplink_bits, node_rates=dict(opts.node_links),
                          pair_rates={(j, k): bits for j, k, bits in opts.pair_links})
    if args.doctor:
        return _doctor(args, cfg, net, opts)
    code, signum = run_emulated(cfg, net, opts.ranks_per_node)
    record_network(cfg, net)
    if signum:  # SIGTERM, SIGINT, SIGHUP: the ranks stopped with their records, the network is gone
        return launch_stopped(cfg.out, signum, opts.resume_command())
    if code not in (EXIT_OK, EXIT_WRONG_DATA):
        return launch_failed(cfg.out, code, opts.resume_command())
    _analyse(cfg, net)
    return code


def _analyse(cfg: RunConfig, net: EmulatedNetwork) -> None:
    """Summary, fit, link check and report, all into the run directory."""
    from reports.model.linkcheck import expected_tier_rates, link_check, tier_check
    from reports.present.linkcheck_text import format_link_check, format_tier_check
    from reports.runs.load import load_run
    from reports.model.store import MODEL_FILE
    df = load_run(cfg.out)
    print_summary(cfg.out, df)
    fits = fit_or_say_why(cfg.out)
    network = net.describe()
    node = payload_gbps(net.rate_bits)
    expected = expected_tier_rates(node, network["uplink_payload_gbps"])
    checks = link_check(df, node, across_gbps=expected.get("inter_domain"))
    print("#\n" + format_link_check(checks), flush=True)
    if net.node_rates or net.pair_rates:
        print("# note: --link/--pair-link slowed some links on purpose: groups that hold them measure below the "
              "rates above by design (emulate --doctor names them)", flush=True)
    model = cfg.out / MODEL_FILE
    tiers = tier_check(json.loads(model.read_text(encoding="utf-8"))["hierarchical"], expected) if model.exists() \
        else []
    print(format_tier_check(tiers), flush=True)
    (cfg.out / EMULATE_FILE).write_text(json.dumps({"network": network, "link_check": checks,
                                                    "expected_tier_payload_gbps": expected, "tier_check": tiers},
                                                   indent=1) + "\n", encoding="utf-8")
    print(f"# link check: {cfg.out / EMULATE_FILE}", flush=True)
    write_report(cfg.out, fits)


def _doctor(args, cfg: RunConfig, net: EmulatedNetwork, opts) -> int:
    """The doctor's ranks in the emulated nodes; then its suspects against the faults built
    (--link, --pair-link): each found or not, its measured rate against the emulated one."""
    from reports.doctor.faults import check_faults
    from reports.doctor.result import DoctorResult
    from reports.doctor.stats import DOCTOR_FILE
    from reports.present.doctor_text import format_fault_check
    if cfg.resume:
        raise UsageError("emulate --doctor starts afresh: drop --resume")
    doctor = doctor_options(args, cfg.backend, cfg.device, str(cfg.out), layout="inter")
    code, signum = run_emulated(cfg, net, opts.ranks_per_node, doctor_argv(doctor))
    path = cfg.out / DOCTOR_FILE
    if signum:
        return doctor_stopped(cfg.out, signum)
    if code not in (EXIT_OK, EXIT_WRONG_DATA, EXIT_SUSPECTS) or not path.exists():
        return launch_failed(cfg.out, code, opts.resume_command() + " --doctor")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["emulated_network"] = net.describe()
    doc["fault_check"] = check_faults(DoctorResult.from_json(doc), _faults(net))
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(format_fault_check(doc["fault_check"]), flush=True)
    return code


def _faults(net: EmulatedNetwork) -> list[dict]:
    """The emulated faults: nodes with a slower link than --rate, and slowed pairs, each
    with the TCP payload rate it allows."""
    faults = [{"kind": "node", "node": net.node_name(i), "payload_gbps": payload_gbps(net.rate_of(i))}
              for i in range(net.nodes) if net.rate_of(i) < net.rate_bits]
    faults += [{"kind": "link", "nodes": [net.node_name(a), net.node_name(b)], "payload_gbps": payload_gbps(
        net.pair_rate(a, b))} for a, b in sorted(net.pair_rates)]
    return faults

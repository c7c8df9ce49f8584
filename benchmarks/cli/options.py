"""The flags shared by `run`, `dryrun`, `emulate` and `slurm`: what to measure, sizes,
groups, timing. Each verb states its own defaults, so `--help` shows what it will do.
`sweep_config` turns them into the validated RunConfig (sweep/config.py) the layers
below take: none of them sees argparse."""
from __future__ import annotations

import argparse
import os
from dataclasses import replace

from ..errors import UsageError
from ..host.machine import probe
from ..outdirs import default_out
from ..sweep.config import RunConfig, RunFlags, config_from_flags

#: The sweep's defaults for `run` (and `slurm`); a verb overrides some of them.
RUN_DEFAULTS = {"collectives": "all", "min_bytes": "8", "max_bytes": "128M", "layout": "full",
                "warmup": "5", "iters": "20"}


def env_default(name: str, default):
    """Flags fall back to COMMSCALE_<NAME> in the environment (like torchrun's PET_*).
    Defaults stay strings so argparse converts (and rejects) them like typed flags."""
    return os.environ.get(f"COMMSCALE_{name.upper()}", default)


def add_run_options(p: argparse.ArgumentParser, nodes_flag: str = "--nodes", cpu_only: bool = False,
                    **overrides: str) -> None:
    """The sweep's flags, with RUN_DEFAULTS changed by `overrides` (e.g. max_bytes="16M").
    `nodes_flag` names the node counts where a verb spells them otherwise (emulate:
    --node-counts, beside --emulated-nodes, the nodes it builds);
    `cpu_only` verbs (dryrun, emulate) keep the GPU-only flags
    (--device, --fabric, --cuda-graph) out of their help: they take the CPU values."""
    d = {**RUN_DEFAULTS, **overrides}

    def flag(name: str):
        return env_default(name, d[name])

    gpu_help = (lambda text: argparse.SUPPRESS) if cpu_only else (lambda text: text)
    g = p.add_argument_group("what to measure")
    g.add_argument("--backend", default=env_default("backend", "auto"),
                   help="gloo or mpi (auto: gloo)" if cpu_only else "auto (nccl with GPUs, else gloo), gloo, nccl or mpi [auto]")
    g.add_argument("--device", default=env_default("device", "auto"),
                   help=gpu_help("buffers for mpi: cpu, cuda, or auto (cuda if GPUs and CUDA-aware MPI) [auto]"))
    g.add_argument("--collectives", "--collective", default=flag("collectives"),
                   help="comma list or 'all': all_reduce,all_to_all,all_gather,reduce_scatter,broadcast,reduce,"
                        f"sendrecv [{d['collectives']}]")
    g.add_argument("-d", "--dtype", default=env_default("dtype", "float32"),
                   help="comma list of float32,float64,float16,bfloat16,int32,int8 [float32]")
    g.add_argument("-o", "--op", default=env_default("op", "sum"), help="reductions: comma list of sum,max,min [sum]")
    g.add_argument("--in-place", default=env_default("in_place", "out"), help="out, in or both [out]")
    g = p.add_argument_group("sizes (nccl-tests semantics; 8, 64K, 1M, 1G)")
    g.add_argument("-b", "--min-bytes", default=flag("min_bytes"), help=f"smallest size [{d['min_bytes']}]")
    g.add_argument("-e", "--max-bytes", default=flag("max_bytes"), help=f"largest size [{d['max_bytes']}]")
    g.add_argument("-f", "--step-factor", default=env_default("step_factor", "2"), help="multiply size by this [2]")
    g.add_argument("--sizes", default=env_default("sizes", None), help="explicit comma list of sizes (overrides -b/-e/-f)")
    g = p.add_argument_group("groups within one launch")
    g.add_argument("--ranks", default=env_default("ranks", None),
                   help="group sizes, e.g. 2,4,8 [powers of two up to the world, and the world]")
    g.add_argument(nodes_flag, dest="nodes", default=env_default("nodes", None),
                   help="node counts, ranks grouped by host, e.g. 1,2,4")
    g.add_argument("--layout", default=flag("layout"),
                   help="full (all ranks), intra (ranks within one node), inter (one rank per node), intra-domain "
                        "(one rank per node inside one NVLink domain or rack), inter-domain (one rank per domain), "
                        f"or a comma list [{d['layout']}]")
    g.add_argument("--domain-size", default=env_default("domain_size", None), metavar="N",
                   help="nodes per NVLink domain or rack (GB200/GB300 NVL72: 18), hosts in launch order [detected: "
                        "NVML fabric, Slurm topology]")
    g.add_argument("--domain-file", default=env_default("domain_file", None), metavar="FILE",
                   help="'host domain' lines naming each host's domain (instead of --domain-size)")
    g.add_argument("--fabric", default=env_default("fabric", "auto"),
                   help=gpu_help("nccl: auto (NCCL chooses), nvlink, pcie, net, or all (one launch each) [auto]"))
    g = p.add_argument_group("timing")
    g.add_argument("-w", "--warmup", type=int, default=flag("warmup"), help=f"warm-up calls per point [{d['warmup']}]")
    g.add_argument("-n", "--iters", default=flag("iters"),
                   help="timed calls per point, or 'auto' (median's 95%% CI within +-1%% or budget spent) "
                        f"[{d['iters']}]")
    g.add_argument("--iters-budget-s", type=float, default=env_default("iters_budget_s", "1"),
                   help="time budget per point for --iters auto, seconds [1]")
    g.add_argument("--timing", default=env_default("timing", "call"),
                   help="call (each call timed alone, the max over ranks per call) or batch (calls in batches of "
                        "10 between two synchronisations, per call, as nccl-tests times) [call]")
    g.add_argument("--cuda-graph", action="store_true", help=gpu_help("time CUDA-graph replays (nccl)"))
    g.add_argument("--timeout", type=float, default=env_default("timeout", "300"),
                   help="seconds a collective may wait before the run fails [300]")
    p.add_argument("--out", default=env_default("out", None), help="run directory for records.jsonl and meta.json")


def add_resume(p: argparse.ArgumentParser, what: str = "run") -> None:
    p.add_argument("--resume", metavar="DIR", default=None,
                   help=f"finish the interrupted {what} in DIR: its sweep, only the points it lacks")


def run_flags(args: argparse.Namespace) -> RunFlags:
    return RunFlags(**{name: getattr(args, name) for name in RunFlags.names()})


def _cpu_ranks(flags: RunFlags, verb: str) -> RunFlags:
    """The dry run and the emulation are CPU ranks, GPUs or not: auto means gloo and host buffers."""
    backend, device = flags.backend.strip().lower(), flags.device.strip().lower()
    if device == "cuda":
        raise UsageError(f"{verb} runs CPU ranks: drop --device cuda (use 'commscale run' on GPU nodes)")
    return replace(flags, backend="gloo" if backend == "auto" else flags.backend,
                   device="cpu" if device == "auto" else flags.device)


def _resume_out(flags: RunFlags, resume: str | None) -> str | None:
    """A resumed run writes where it was: --out may be left out, or name the same place."""
    if not resume:
        return flags.out
    if flags.out is not None and os.path.abspath(flags.out) != os.path.abspath(resume):
        raise UsageError(f"--out {flags.out} and --resume {resume} differ: drop --out (a resumed run "
                         f"writes into the run it resumes)")
    return resume


def sweep_config(args: argparse.Namespace, cpu_only: bool = False) -> RunConfig:
    """The verb's RunConfig: its flags validated (CPU ranks for `cpu_only` verbs), the
    output directory chosen, and with --resume the interrupted run's sweep, against which
    a flag is compared only where it differs from the verb's default (its parser's
    answer to no flags at all)."""
    machine = probe()
    flags = run_flags(args)
    out = _resume_out(flags, args.resume)
    flags = replace(flags, out=out if out is not None else default_out(args.verb))
    if cpu_only:
        flags = _cpu_ranks(flags, args.verb)
    cfg = config_from_flags(flags, machine)
    if not args.resume:
        return cfg
    from ..sweep.resume import resumed_config
    base = run_flags(args.verb_parser.parse_args([]))
    base = _cpu_ranks(base, args.verb) if cpu_only else base
    return resumed_config(cfg, config_from_flags(replace(base, out=flags.out), machine), args.resume)

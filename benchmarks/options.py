"""The flags shared by `run`, `dryrun` and `slurm`: what to measure, sizes, groups, timing."""
from __future__ import annotations

import argparse
import os


def env_default(name: str, default):
    """Flags fall back to COMMSCALE_<NAME> in the environment (like torchrun's PET_*).
    Defaults stay strings so argparse converts (and rejects) them like typed flags."""
    return os.environ.get(f"COMMSCALE_{name.upper()}", default)


def add_run_options(p: argparse.ArgumentParser, min_bytes: str, max_bytes: str, nodes_flag: str = "--nodes") -> None:
    """The sweep's flags; `nodes_flag` names the node counts where --nodes means something
    else (emulate: how many nodes to build)."""
    g = p.add_argument_group("what to measure")
    g.add_argument("--backend", default=env_default("backend", "auto"),
                   help="auto (nccl with GPUs, else gloo), gloo, nccl or mpi [auto]")
    g.add_argument("--device", default=env_default("device", "auto"),
                   help="buffers for mpi: cpu, cuda, or auto (cuda if GPUs and CUDA-aware MPI) [auto]")
    g.add_argument("--collectives", "--collective", default=env_default("collectives", "all"),
                   help="comma list or 'all': all_reduce,all_to_all,all_gather,reduce_scatter,broadcast,reduce,sendrecv")
    g.add_argument("-d", "--dtype", default=env_default("dtype", "float32"),
                   help="comma list of float32,float64,float16,bfloat16,int32,int8 [float32]")
    g.add_argument("-o", "--op", default=env_default("op", "sum"), help="reductions: comma list of sum,max,min [sum]")
    g.add_argument("--in-place", default=env_default("in_place", "out"), help="out, in or both [out]")
    g = p.add_argument_group("sizes (nccl-tests semantics; 8, 64K, 1M, 1G)")
    g.add_argument("-b", "--min-bytes", default=env_default("min_bytes", min_bytes), help=f"smallest size [{min_bytes}]")
    g.add_argument("-e", "--max-bytes", default=env_default("max_bytes", max_bytes), help=f"largest size [{max_bytes}]")
    g.add_argument("-f", "--step-factor", default=env_default("step_factor", "2"), help="multiply size by this [2]")
    g.add_argument("--sizes", default=env_default("sizes", None), help="explicit comma list of sizes (overrides -b/-e/-f)")
    g = p.add_argument_group("groups within one launch")
    g.add_argument("--ranks", default=env_default("ranks", None),
                   help="group sizes, e.g. 2,4,8 [powers of two up to the world, and the world]")
    g.add_argument(nodes_flag, dest="nodes", default=env_default("nodes", None),
                   help="node counts, ranks grouped by host, e.g. 1,2,4")
    g.add_argument("--layout", default=env_default("layout", "full"),
                   help="full (all ranks), intra (ranks within one node), inter (one rank per node), or a comma list [full]")
    g.add_argument("--fabric", default=env_default("fabric", "auto"),
                   help="nccl: auto (NCCL chooses), nvlink, pcie, net, or all (one launch each) [auto]")
    g = p.add_argument_group("timing")
    g.add_argument("-w", "--warmup", type=int, default=env_default("warmup", "5"), help="warm-up calls per point [5]")
    g.add_argument("-n", "--iters", default=env_default("iters", "20"),
                   help="timed calls per point, or 'auto' (median's 95%% CI within +-1%% or budget spent) [20]")
    g.add_argument("--iters-budget-s", type=float, default=env_default("iters_budget_s", "1"),
                   help="time budget per point for --iters auto, seconds [1]")
    g.add_argument("--cuda-graph", action="store_true", help="time CUDA-graph replays (nccl)")
    g.add_argument("--timeout", type=float, default=env_default("timeout", "300"),
                   help="seconds a collective may wait before the run fails [300]")
    p.add_argument("--out", default=env_default("out", None), help="run directory for records.jsonl and meta.json")

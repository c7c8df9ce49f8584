"""`commscale doctor`: launched like `run` (torchrun, srun, mpiexec) across the nodes of an
allocation, find the slow node or link: pair rounds, statistics, confirmation
(benchmarks/doctor/). Exit 0 healthy, 6 suspects found, 1 a data check failed."""
from __future__ import annotations

import os

from ..doctor.options import DoctorOptions
from ..host.detect import detect
from ..host.machine import probe
from ..outdirs import default_out
from ..sweep.config import RunFlags, config_from_flags
from .options import env_default

DEFAULTS = {"size": "64M", "warmup": "5", "iters": "20", "passes": "2"}


def add_doctor_options(p, **overrides: str) -> None:
    """The doctor's own flags (also `emulate --doctor`'s, with its defaults)."""
    d = {**DEFAULTS, **overrides}
    g = p.add_argument_group("the doctor")
    g.add_argument("--size", default=env_default("doctor_size", d["size"]),
                   help=f"bytes each pair test moves (nccl-tests semantics) [{d['size']}]")
    g.add_argument("--passes", type=int, default=d["passes"],
                   help=f"times every round of pairs is measured: the samples of each pair [{d['passes']}]")
    g.add_argument("--rounds", type=int, default=None,
                   help="rounds of disjoint pairs to measure [all pairs up to 32 nodes, then 16 rounds drawn at random]")
    g.add_argument("--threshold", type=float, default=0.15,
                   help="smallest shortfall below the reference called a suspect [0.15]")
    g.add_argument("--no-confirm", dest="confirm", action="store_false",
                   help="skip the confirmation (all_reduce over groups with and without each suspect)")
    g.add_argument("--intra", dest="intra", action="store_true", default=None,
                   help="also every pair of ranks (GPUs) inside each node [on with GPUs and 2+ ranks per node]")
    g.add_argument("--no-intra", dest="intra", action="store_false", help="skip the pairs inside each node")


def add_parser(sub):
    p = sub.add_parser("doctor", help="find the slow node or link: pair tests across the nodes of a launch",
                       description="Launched like run (torchrun, srun, mpiexec): rounds of disjoint node pairs "
                                   "measured at once (sendrecv both ways and a 2-node all_reduce), each node's and "
                                   "link's rate with a bootstrap interval, the suspects ranked and confirmed. Exit "
                                   "0: healthy; 6: suspects found (doctor.json says which).")
    p.add_argument("--backend", default=env_default("backend", "auto"), help="auto, gloo, nccl or mpi [auto]")
    p.add_argument("--device", default=env_default("device", "auto"), help="mpi's buffers: cpu, cuda or auto [auto]")
    p.add_argument("--layout", default="inter",
                   help="inter (one rank per node: the network) or full (every rank of both nodes) [inter]")
    p.add_argument("-w", "--warmup", type=int, default=DEFAULTS["warmup"], help="warm-up calls per test [5]")
    p.add_argument("-n", "--iters", default=DEFAULTS["iters"], help="timed calls per test [20]")
    p.add_argument("--timeout", type=float, default=env_default("timeout", "300"),
                   help="seconds a collective may wait before the run fails [300]")
    p.add_argument("--out", default=env_default("out", None), help="directory for doctor.json and the records")
    add_doctor_options(p)
    return p


def doctor_options(args, backend: str, device: str, out: str, layout: str | None = None) -> DoctorOptions:
    """The flags validated into DoctorOptions (one-line errors); `layout` where the verb
    fixes it (emulate: one rank per node)."""
    flags = RunFlags(backend=backend, device=device, collectives="sendrecv,all_reduce", dtype="float32", op="sum",
                     in_place="out", min_bytes="8", max_bytes="8", step_factor="2", sizes=str(args.size), ranks=None,
                     nodes=None, layout="full", fabric="auto", warmup=args.warmup, iters=str(args.iters),
                     iters_budget_s=1.0, timing="call", cuda_graph=False, timeout=args.timeout, out=out)
    cfg = config_from_flags(flags, probe())
    return DoctorOptions(cfg=cfg, passes=args.passes, rounds=args.rounds, layout=layout or args.layout,
                         threshold=args.threshold, confirm=args.confirm, intra=args.intra)


def run(args) -> int:
    opts = doctor_options(args, args.backend, args.device, args.out or default_out("doctor"))
    from ..doctor.doctor import run_doctor
    return run_doctor(opts, detect(os.environ))

"""`commscale compute`: GEMM throughput and device memory copy bandwidth, the compute side
of the model (benchmarks/compute/measure.py), written to RUN/compute.jsonl."""
from __future__ import annotations

from ..compute.measure import compute_options, run_compute
from ..errors import EXIT_OK
from ..outdirs import default_out


def add_parser(sub):
    p = sub.add_parser("compute", help="GEMM throughput and memory copy bandwidth (the compute side)",
                       description="Measure torch.matmul throughput per dtype and shape, and device memory "
                                   "copy bandwidth; records go to OUT/compute.jsonl.")
    p.add_argument("--device", default="auto", help="auto (cuda if visible), cpu or cuda [auto]")
    p.add_argument("-d", "--dtype", help="comma list [cuda: bfloat16,float16,float32; cpu: float32]")
    p.add_argument("--shapes", help="comma list of N (N x N x N) or MxNxK, e.g. 4096,8192x1024x4096 "
                                    "[cuda: 4096,8192; cpu: 256,512,1024]")
    p.add_argument("--copy-bytes", help="size of the device copy [cuda: 1G; cpu: 4 x the last-level cache, at "
                                        "least 64M]")
    p.add_argument("-w", "--warmup", type=int, default=3, help="untimed calls per shape [3]")
    p.add_argument("-n", "--iters", type=int, default=10, help="timed calls per shape [10]")
    p.add_argument("--out", help="run directory for compute.jsonl [commscale-runs/compute-<time>]")
    return p


def run(args) -> int:
    run_compute(compute_options(args.out or default_out("compute"), args.device, args.dtype, args.shapes,
                                args.copy_bytes, args.warmup, args.iters))
    return EXIT_OK

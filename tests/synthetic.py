"""Synthetic runs for the model tests: records in the real schema, written with the real
RecordWriter, whose times come from a known cost family with known alpha and bandwidth
(the test's own arithmetic, not the fit's code)."""
import math

import numpy as np

from collectives.records import RecordWriter, make_record


def family_time_us(family, p, n, alpha_us, bw_gbps):
    """T = alpha A(p) + B(p) n / bw, n bytes at bw GB/s taking n / bw * 1e-3 us."""
    return alpha_us * family.steps(p) + family.data(p) * n / bw_gbps * 1e-3


def write_run(run_dir, points, noise=0.0, seed=0, collective="all_reduce", backend="gloo", dtype="float32"):
    """points: iterable of (nnodes, nranks, ranks_per_node, fabric, size_bytes, time_us)."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    with RecordWriter(run_dir) as writer:
        for nnodes, p, g, fabric, n, t in points:
            t = t * (1 + noise * rng.standard_normal())
            writer.write(make_record(
                run_id="synthetic", status="ok", collective=collective, backend=backend, device="cpu", fabric=fabric,
                dtype=dtype, size_bytes=int(n), count=int(n) // 4, nranks=p, nnodes=nnodes, ranks_per_node=g,
                warmup=0, iters=20, time_us_mean=t, time_us_median=t, time_us_min=t, time_us_max=t, time_us_p99=t,
                n_wrong=0, algbw_gbps=n / t * 1e-3, busbw_gbps=n / t * 1e-3))
    return run_dir


def flat_points(family, alpha_us, bw_gbps, ranks=(2, 4, 8, 16, 32), sizes=None, fabric="loopback"):
    sizes = sizes or [8 * 4 ** i for i in range(14)]  # 8 B .. 512 MiB
    return [(1, p, p, fabric, n, family_time_us(family, p, n, alpha_us, bw_gbps)) for p in ranks for n in sizes]


def close(a, b, rel):
    return a is not None and math.isclose(a, b, rel_tol=rel)

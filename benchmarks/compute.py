"""`commscale compute`: the compute side of the model. GEMM throughput (torch.matmul) per
dtype and shape, and device memory copy bandwidth, on the GPU (CUDA events) or the CPU
(a monotonic clock), written as records to RUN/compute.jsonl.

A GEMM of M x K by K x N does 2 M N K floating-point operations; tflops = 2MNK / time.
Copy bandwidth is bytes copied / time (dst.copy_(src) in one device's memory; the memory
traffic is twice that, a read and a write), as nvbandwidth reports device copies.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from collectives.dtypes import get_dtype
from collectives.records import COMPUTE_FILE, SCHEMA_VERSION, now_utc
from collectives.sizes import format_size, parse_size
from collectives.timing import summarize

from .config import default_out, make_out_dir
from .errors import EXIT_OK, UsageError

DEFAULTS = {"cuda": {"dtypes": "bfloat16,float16,float32", "shapes": "4096,8192", "copy": "1G"},
            "cpu": {"dtypes": "float32", "shapes": "256,512,1024", "copy": None}}
"""A CPU copy's default size is None: past the last-level cache (cpu_copy_bytes)."""

CPU_COPY_MIN_BYTES = 64 << 20
LLC_FACTOR = 4
"""The CPU copy's buffers are each at least 4 x the last-level cache, so it measures memory,
not the cache (source and destination together are 8 x)."""


def last_level_cache_bytes(sysfs: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int | None:
    """The largest data or unified cache of cpu0 in bytes, from sysfs; None where unreadable."""
    sizes = []
    for index in sysfs.glob("index*"):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * unit)
    return max(sizes, default=None)


def cpu_copy_bytes(llc_bytes: int | None) -> int:
    """Default CPU copy size: the next power of two at or above LLC_FACTOR x the last-level
    cache, and at least 64 MiB (also where the cache size is unknown)."""
    want = max(CPU_COPY_MIN_BYTES, LLC_FACTOR * (llc_bytes or 0))
    return 1 << (want - 1).bit_length()


def add_parser(sub) -> None:
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


def parse_shapes(text: str) -> list[tuple[int, int, int]]:
    shapes = []
    for part in text.split(","):
        try:
            dims = [int(v) for v in part.lower().split("x")]
        except ValueError:
            raise UsageError(f"--shapes {part!r} is not N or MxNxK: use e.g. --shapes 4096,8192x1024x4096") from None
        if len(dims) == 1:
            dims *= 3
        if len(dims) != 3 or min(dims) < 1:
            raise UsageError(f"--shapes {part!r} is not N or MxNxK with positive sizes: use e.g. 4096 or 8192x1024x4096")
        shapes.append(tuple(dims))
    return shapes


class _Clock:
    """Per-call times in us: CUDA events on the GPU, perf_counter_ns on the CPU."""

    def __init__(self, torch, device):
        self.torch, self.cuda = torch, device == "cuda"

    def times(self, fn, warmup, iters) -> np.ndarray:
        for _ in range(warmup):
            fn()
        if not self.cuda:
            out = np.empty(iters)
            for i in range(iters):
                t0 = time.perf_counter_ns()
                fn()
                out[i] = (time.perf_counter_ns() - t0) / 1e3
            return out
        torch = self.torch
        torch.cuda.synchronize()
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
        for start, end in pairs:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        return np.array([s.elapsed_time(e) * 1e3 for s, e in pairs])


def measure(device, dtypes, shapes, copy_bytes, warmup, iters, llc_bytes=None):
    """Yield compute records."""
    import torch
    clock = _Clock(torch, device)
    name = torch.cuda.get_device_name() if device == "cuda" else (os.uname().machine + " CPU")
    base = {"schema_version": SCHEMA_VERSION, "device": device, "device_name": name, "warmup": warmup, "iters": iters}
    for dtype in dtypes:
        tdtype = getattr(torch, dtype)
        for m, n, k in shapes:
            a = torch.randn(m, k, device=device).to(tdtype)
            b = torch.randn(k, n, device=device).to(tdtype)
            stats = summarize(clock.times(lambda: torch.matmul(a, b), warmup, iters)).as_dict()
            yield {**base, "timestamp": now_utc(), "kind": "gemm", "dtype": dtype, "m": m, "n": n, "k": k,
                   "size_bytes": None, "tf32": bool(torch.backends.cuda.matmul.allow_tf32) if device == "cuda" else None,
                   **stats, "tflops": 2 * m * n * k / (stats["time_us_median"] * 1e-6) / 1e12, "bandwidth_gbps": None}
    src = torch.empty(copy_bytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    stats = summarize(clock.times(lambda: dst.copy_(src), warmup, iters)).as_dict()
    yield {**base, "timestamp": now_utc(), "kind": "copy", "dtype": "uint8", "m": None, "n": None, "k": None,
           "size_bytes": copy_bytes, "tf32": None, **stats, "tflops": None,
           "bandwidth_gbps": copy_bytes / (stats["time_us_median"] * 1e-6) / 1e9, "llc_bytes": llc_bytes}


def run_compute(out: Path, device="auto", dtype=None, shapes=None, copy_bytes=None, warmup=3, iters=10) -> Path:
    import torch
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in DEFAULTS:
        raise UsageError(f"--device {device!r}: choose from auto, cpu, cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda needs a CUDA GPU and none is visible: use --device cpu")
    defaults = DEFAULTS[device]
    try:
        dtypes = [get_dtype(d).name for d in (dtype or defaults["dtypes"]).split(",")]
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    shape_list = parse_shapes(shapes or defaults["shapes"])
    llc = last_level_cache_bytes() if device == "cpu" else None
    try:
        nbytes = parse_size(copy_bytes) if copy_bytes else (parse_size(defaults["copy"]) if defaults["copy"]
                                                             else cpu_copy_bytes(llc))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if warmup < 0 or iters < 1:
        raise UsageError("-w must be 0 or more and -n at least 1: use e.g. -w 3 -n 10")
    out = make_out_dir(out)
    path = out / COMPUTE_FILE
    _check_not_measured(out, device, dtypes)
    try:
        f = open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r} ({exc.strerror}): choose another --out") from None
    print(f"# commscale compute on {device}: tflops = 2MNK / median time; copy GB/s = bytes / median time")
    if device == "cpu":
        cache = f"last-level cache {format_size(llc)}" if llc else "last-level cache unknown"
        print(f"# copy of {format_size(nbytes)} ({cache}{'' if copy_bytes else f': {LLC_FACTOR} x, or 64 MiB'})")
    print(f"# {'kind':<5} {'dtype':<9} {'shape / size':>20} {'time_us_median':>14} {'tflops':>9} {'gbps':>9}")
    with f:
        for rec in measure(device, dtypes, shape_list, nbytes, warmup, iters, llc):
            f.write(json.dumps(rec) + "\n")
            f.flush()
            what = f"{rec['m']}x{rec['n']}x{rec['k']}" if rec["kind"] == "gemm" else format_size(rec["size_bytes"])
            print(f"  {rec['kind']:<5} {rec['dtype']:<9} {what:>20} {rec['time_us_median']:14.1f} "
                  f"{_cell(rec['tflops'], '9.3f')} {_cell(rec['bandwidth_gbps'], '9.2f')}")
    print(f"# records: {path}")
    return path


def _cell(value, fmt: str) -> str:
    """A table cell; '-' where the unit does not apply (no TFLOP/s for a copy, no GB/s for a GEMM)."""
    return format(value, fmt) if value is not None else f"{'-':>{fmt.split('.')[0]}}"


def _check_not_measured(out: Path, device: str, dtypes: list[str]) -> None:
    """compute.jsonl may grow (a dry run's float32, then bfloat16 for a workload's dtype);
    a dtype already measured on this device is refused rather than measured twice."""
    from reports.load import load_compute
    if not (out / COMPUTE_FILE).exists():
        return
    have = {r["dtype"] for r in load_compute(out) if r.get("kind") == "gemm" and r.get("device") == device}
    again = [d for d in dtypes if d in have]
    if again:
        raise UsageError(f"{str(out)!r} already holds {device} GEMM rates for {', '.join(again)} in {COMPUTE_FILE}: "
                         f"ask for other dtypes with -d, or choose another --out")


def run(args) -> int:
    out = args.out or default_out("compute")
    run_compute(Path(out), args.device.strip().lower(), args.dtype, args.shapes, args.copy_bytes,
                args.warmup, args.iters)
    return EXIT_OK

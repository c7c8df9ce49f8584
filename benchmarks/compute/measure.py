"""The compute side of the model (`commscale compute`, and the dry run's CPU GEMMs): GEMM
throughput (torch.matmul) per dtype and shape, and device memory copy bandwidth, on the
GPU (CUDA events) or the CPU (a monotonic clock), written as records to RUN/compute.jsonl.

A GEMM of M x K by K x N does 2 M N K floating-point operations; tflops = 2MNK / time.
Copy bandwidth is bytes copied / time (dst.copy_(src) in one device's memory; the memory
traffic is twice that, a read and a write), as nvbandwidth reports device copies.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collectives.clocks import time_cuda_events, time_host_calls
from collectives.dtypes import get_dtype
from collectives.records import COMPUTE_FILE, SCHEMA_VERSION, now_utc
from collectives.sizes import format_size, parse_size
from collectives.timing import summarize

from ..errors import UsageError
from ..outdirs import make_out_dir

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


def times_us(device: str, fn, warmup: int, iters: int) -> np.ndarray:
    """Per-call times (us) of `fn` after `warmup` untimed calls: CUDA events on the GPU,
    perf_counter_ns on the CPU (collectives/clocks.py, as the backends time)."""
    for _ in range(warmup):
        fn()
    if device != "cuda":
        return time_host_calls(fn, iters, time.perf_counter_ns, 1e3)
    import torch
    torch.cuda.synchronize()
    return time_cuda_events(fn, iters)


def measure(device, dtypes, shapes, copy_bytes, warmup, iters, llc_bytes=None):
    """Yield compute records."""
    import torch
    name = torch.cuda.get_device_name() if device == "cuda" else (os.uname().machine + " CPU")
    base = {"schema_version": SCHEMA_VERSION, "device": device, "device_name": name, "warmup": warmup, "iters": iters}
    for dtype in dtypes:
        tdtype = getattr(torch, dtype)
        for m, n, k in shapes:
            a = torch.randn(m, k, device=device).to(tdtype)
            b = torch.randn(k, n, device=device).to(tdtype)
            stats = summarize(times_us(device, lambda: torch.matmul(a, b), warmup, iters)).as_dict()
            yield {**base, "timestamp": now_utc(), "kind": "gemm", "dtype": dtype, "m": m, "n": n, "k": k,
                   "size_bytes": None, "tf32": bool(torch.backends.cuda.matmul.allow_tf32) if device == "cuda" else None,
                   **stats, "tflops": 2 * m * n * k / (stats["time_us_median"] * 1e-6) / 1e12, "bandwidth_gbps": None}
    src = torch.empty(copy_bytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    stats = summarize(times_us(device, lambda: dst.copy_(src), warmup, iters)).as_dict()
    yield {**base, "timestamp": now_utc(), "kind": "copy", "dtype": "uint8", "m": None, "n": None, "k": None,
           "size_bytes": copy_bytes, "tf32": None, **stats, "tflops": None,
           "bandwidth_gbps": copy_bytes / (stats["time_us_median"] * 1e-6) / 1e9, "llc_bytes": llc_bytes}


@dataclass(frozen=True, slots=True, kw_only=True)
class ComputeOptions:
    """What `commscale compute` measures, validated (compute_options)."""
    out: Path
    """Run directory: compute.jsonl is added to."""
    device: str
    """"cpu" or "cuda"."""
    dtypes: tuple[str, ...]
    shapes: tuple[tuple[int, int, int], ...]
    """GEMM shapes, M x N x K."""
    copy_bytes: int
    copy_from_cache: bool
    """The copy size was chosen from the last-level cache (no size given)."""
    llc_bytes: int | None
    """The CPU's last-level cache, where readable (None on the GPU)."""
    warmup: int = 3
    iters: int = 10


def compute_options(out, device="auto", dtype: str | None = None, shapes: str | None = None,
                    copy_bytes: str | None = None, warmup: int = 3, iters: int = 10) -> ComputeOptions:
    """The flags of `commscale compute` (text as typed; None: the device's default),
    validated; raises UsageError naming the first bad one."""
    import torch
    device = device.strip().lower()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in DEFAULTS:
        raise UsageError(f"--device {device!r}: choose from auto, cpu, cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda needs a CUDA GPU and none is visible: use --device cpu")
    defaults = DEFAULTS[device]
    try:
        dtypes = tuple(get_dtype(d).name for d in (dtype or defaults["dtypes"]).split(","))
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    llc = last_level_cache_bytes() if device == "cpu" else None
    try:
        nbytes = parse_size(copy_bytes) if copy_bytes else (parse_size(defaults["copy"]) if defaults["copy"]
                                                             else cpu_copy_bytes(llc))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if warmup < 0 or iters < 1:
        raise UsageError("-w must be 0 or more and -n at least 1: use e.g. -w 3 -n 10")
    return ComputeOptions(out=Path(out), device=device, dtypes=dtypes,
                          shapes=tuple(parse_shapes(shapes or defaults["shapes"])), copy_bytes=nbytes, copy_from_cache=not copy_bytes, llc_bytes=llc, warmup=warmup, iters=iters)


def run_compute(opts: ComputeOptions) -> Path:
    """Measure, append the records to OUT/compute.jsonl and print the table."""
    device, dtypes, llc, nbytes = opts.device, list(opts.dtypes), opts.llc_bytes, opts.copy_bytes
    out = make_out_dir(opts.out)
    path = out / COMPUTE_FILE
    _check_not_measured(out, device, dtypes)
    try:
        f = open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r} ({exc.strerror}): choose another --out") from None
    print(f"# commscale compute on {device}: tflops = 2MNK / median time; copy GB/s = bytes / median time")
    if device == "cpu":
        cache = f"last-level cache {format_size(llc)}" if llc else "last-level cache unknown"
        rule = f": {LLC_FACTOR} x, or 64 MiB" if opts.copy_from_cache else ""
        print(f"# copy of {format_size(nbytes)} ({cache}{rule})")
    print(f"# {'kind':<5} {'dtype':<9} {'shape / size':>20} {'time_us_median':>14} {'tflops':>9} {'gbps':>9}")
    with f:
        for rec in measure(device, dtypes, opts.shapes, nbytes, opts.warmup, opts.iters, llc):
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
    from reports.runs.load import load_compute
    if not (out / COMPUTE_FILE).exists():
        return
    have = {r["dtype"] for r in load_compute(out) if r.get("kind") == "gemm" and r.get("device") == device}
    again = [d for d in dtypes if d in have]
    if again:
        raise UsageError(f"{str(out)!r} already holds {device} GEMM rates for {', '.join(again)} in {COMPUTE_FILE}: "
                         f"ask for other dtypes with -d, or choose another --out")

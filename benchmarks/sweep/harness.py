"""The harness: for one point, probe, warm up, time, check the data, and summarise.

This is the only place that owns warm-up, timing and checking (the sweep decides *what*
to measure, backends know *how to call*). Every member rank of the group runs
`measure_point` with the same arguments and gets the same result: decisions that depend on
measurements (auto iterations, skip on error) are taken on values reduced over the group.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from collectives.dtypes import DType
from collectives.records import bandwidths
from collectives.clocks import no_beat
from collectives.spec import CollectiveSpec, build_buffers, count_wrong
from collectives.timing import auto_iters_done, summarize

AUTO_FIRST_BATCH = 10
BATCH_CALLS = 10
"""--timing batch: calls per batch (one sample: the batch's time / its calls)."""
AUTO_MAX_ITERS = 100_000
# What a library raises when it cannot do a dtype/op, or allocate a size: the point is
# recorded as skipped.
UNSUPPORTED_ERRORS = (RuntimeError, ValueError, TypeError, NotImplementedError, MemoryError)
# Probe outcomes, agreed over the group by taking the largest.
_PROBE_OK, _PROBE_UNSUPPORTED, _PROBE_OOM = 0, 1, 2
_OOM_TEXTS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """numpy's MemoryError, torch's OutOfMemoryError (CUDA) and its CPU allocator's error."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "OutOfMemory" in type(exc).__name__ or any(t in text for t in _OOM_TEXTS)


@dataclass(frozen=True, slots=True)
class Point:
    spec: CollectiveSpec
    dtype: DType
    op: str | None
    in_place: bool
    size_bytes: int
    """Requested size; the layout may round it down."""


@dataclass(frozen=True, slots=True)
class Timing:
    warmup: int
    iters: int | None
    """None: auto."""
    budget_s: float
    mode: str = "call"
    """"call" or "batch" (collectives.records.TIMINGS)."""


def time_batches(backend, fn, group, calls: int, beat=no_beat) -> np.ndarray:
    """Per-call times (us) on this rank from batches of BATCH_CALLS calls (fewer when
    `calls` is smaller): the group synchronised before each batch (outside the time), the
    host clock read before the first call and after the last completed (the device
    synchronised), as nccl-tests and IMB time. One sample per batch."""
    per_batch = min(BATCH_CALLS, calls)
    samples = np.empty(max(calls // per_batch, 1))
    for b in range(samples.size):
        backend.max_over(np.zeros(1), group)  # everyone starts the batch together
        t0 = time.perf_counter()
        for _ in range(per_batch):
            fn()
        backend.synchronize()
        samples[b] = (time.perf_counter() - t0) / per_batch * 1e6
        beat()
    return samples


def _skip(layout, reason):
    return {"status": "skipped", "reason": reason, "size_bytes": layout.size_bytes, "count": layout.count}


def _probe(backend, group, fresh_call) -> tuple[int, str, object]:
    """One untimed call: if the library cannot do this dtype/op, or a rank cannot allocate
    the buffers, every rank agrees (the largest outcome over the group) before anything is
    timed. Returns (outcome, this rank's error text, the call, None after a failure)."""
    error, outcome, fn = "", _PROBE_OK, None
    try:
        fn = fresh_call()[1]
        fn()
        backend.synchronize()
    except UNSUPPORTED_ERRORS as exc:
        fn = None  # frees the buffers before the next point
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        outcome = _PROBE_OOM if is_out_of_memory(exc) else _PROBE_UNSUPPORTED
    return int(backend.max_over(np.array([outcome]), group)[0]), error, fn


def calls_per_sample(timing: Timing) -> int:
    """One per call, or a batch's (fewer where -n is under BATCH_CALLS)."""
    return min(BATCH_CALLS, timing.iters or BATCH_CALLS) if timing.mode == "batch" else 1


def _time(backend, group, fn, timing: Timing, beat) -> np.ndarray:
    """Warm-up, then the timed samples (buffers keep being reused; their values do not
    matter): -n of them, or with auto iterations doubling rounds until the median's
    interval is narrow or the budget is spent. Each sample is the max over the group."""
    for _ in range(timing.warmup):
        fn()
        beat()
    backend.synchronize()
    per_sample = calls_per_sample(timing)

    def timed(calls):
        if timing.mode == "batch":
            return backend.max_over(time_batches(backend, fn, group, calls, beat), group)
        return backend.max_over(backend.time_calls(fn, calls, beat), group)
    if timing.iters is not None:
        return timed(timing.iters)
    times = np.empty(0)
    batch = AUTO_FIRST_BATCH * per_sample
    while not auto_iters_done(times, timing.budget_s) and times.size < AUTO_MAX_ITERS:
        times = np.concatenate([times, timed(batch)])
        batch = times.size * per_sample  # double the sample each round
    return times


def measure_point(backend, group, group_rank: int, nranks: int, point: Point, timing: Timing,
                  beat=no_beat) -> dict:
    """Measure one point on this member rank; returns the point's record fields. `beat()`
    follows every call (the watchdog's sign of progress)."""
    spec, op = point.spec, point.op
    layout = spec.layout(point.size_bytes, nranks, point.dtype.itemsize)
    if layout.send_numel == 0 or layout.recv_numel == 0:
        return _skip(layout, f"{point.size_bytes} B holds no {point.dtype.name} element per rank at {nranks} ranks")
    call = backend.call_for(spec.name)
    if call is None:
        return _skip(layout, f"backend {backend.name} does not implement {spec.name}")
    root = spec.root

    def fresh_call():
        """Buffers initialised with the point's inputs, and the call on them."""
        send, recv = build_buffers(spec, layout, group_rank, nranks, op, point.in_place,
                                   lambda v: backend.make_buffer(v, point.dtype.name))
        return recv, lambda: call(send, recv, group, op, root)

    outcome, error, fn = _probe(backend, group, fresh_call)
    if outcome == _PROBE_OOM:
        return _skip(layout, f"out of memory at this size: {error or 'on another rank'}; the sweep goes on "
                             f"(lower -e/--max-bytes to leave such sizes out)")
    if outcome == _PROBE_UNSUPPORTED:
        return _skip(layout, f"{backend.name} cannot run this point: {error or 'failed on another rank'}")
    times = _time(backend, group, fn, timing, beat)

    # The data check, after timing as in nccl-tests: fresh inputs, one call, compare.
    # (Checking first leaves large temporaries behind that slowed the timed calls by
    # about 4% at 8 MiB on gloo; see benchmarks/selfbench/overhead_torch.py.) The timed
    # buffers go first, so a size that fits once is not refused here for being held twice.
    fn = None
    recv, fn = fresh_call()
    fn()
    backend.synchronize()
    n_wrong = count_wrong(backend.to_numpy(recv), spec.expected(group_rank, nranks, layout, op))
    n_wrong = int(backend.sum_over(np.array([n_wrong]), group)[0])
    stats = summarize(times).as_dict()
    # from the mean as recorded, so size_bytes / time_us_mean reproduces algbw exactly
    algbw, busbw = bandwidths(layout.size_bytes, stats["time_us_mean"], spec.busbw_factor(nranks))
    return {
        "status": "ok" if n_wrong == 0 else "failed",
        "reason": None if n_wrong == 0 else f"data check: {n_wrong} wrong elements",
        "size_bytes": layout.size_bytes, "count": layout.count,
        "warmup": timing.warmup,
        "iters": int(times.size) * calls_per_sample(timing),
        **stats,
        "algbw_gbps": algbw, "busbw_gbps": busbw, "n_wrong": n_wrong,
    }

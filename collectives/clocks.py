"""The clocks every timed loop uses: the host clock around calls that block until done,
and CUDA events around calls that only enqueue work on the GPU. One place, so the
backends (collectives/backends/) and the compute measurements (benchmarks/compute/)
time alike."""
from __future__ import annotations

from typing import Callable

import numpy as np


def no_beat() -> None:
    """The default beat: nobody listens."""


def time_host_calls(fn: Callable[[], None], iters: int, clock: Callable[[], float], ticks_per_us: float,
                    beat: Callable[[], None] = no_beat) -> np.ndarray:
    """Per-call times (us) of `iters` calls that block until complete, read from `clock`
    around each; `beat()` after each, outside the timed interval."""
    times = np.empty(iters)
    for i in range(iters):
        t0 = clock()
        fn()
        times[i] = clock() - t0
        beat()
    return times / ticks_per_us


def time_cuda_events(fn: Callable[[], None], iters: int, beat: Callable[[], None] = no_beat) -> np.ndarray:
    """Per-call times (us) of `iters` calls on the current CUDA stream, from an event pair
    around each; `beat()` after each launch (launches are asynchronous: a hung kernel stops
    the beats at the synchronize)."""
    import torch
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    for start, end in zip(starts, ends):
        start.record()
        fn()
        end.record()
        beat()
    torch.cuda.synchronize()
    return np.array([s.elapsed_time(e) * 1e3 for s, e in zip(starts, ends)])

"""Statistics of per-iteration times and the `--iters auto` stopping rule.

All functions are pure and take per-iteration times in microseconds that are already the
max over ranks (the slowest rank finishes the collective), so every rank that evaluates
them on the same vector reaches the same decision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959964


@dataclass(frozen=True, slots=True)
class TimeStats:
    time_us_mean: float
    time_us_median: float
    time_us_min: float
    time_us_max: float
    time_us_p99: float
    median_ci95_rel_pct: float
    """Half-width of the median's 95% interval relative to the median, in percent."""

    def as_dict(self) -> dict[str, float]:
        return {name: round(getattr(self, name), 3) for name in self.__slots__}


def median_ci95(times_us: np.ndarray) -> tuple[float, float]:
    """Distribution-free 95% interval of the median from order statistics.

    The number of samples below the median is Binomial(n, 1/2); with the normal
    approximation the interval runs between order statistics n/2 -+ 1.96 sqrt(n)/2
    (Conover, Practical Nonparametric Statistics, 3rd ed., sec. 3.2). For n < 6 the
    interval is the whole sample range.
    """
    x = np.sort(np.asarray(times_us, dtype=np.float64))
    n = x.size
    half = Z95 * math.sqrt(n) / 2
    lo = max(int(math.floor(n / 2 - half)), 0)
    hi = min(int(math.ceil(n / 2 + half)), n - 1)
    return float(x[lo]), float(x[hi])


def summarize(times_us: np.ndarray) -> TimeStats:
    """Mean, median, min, max, p99 (linear interpolation) and the median's interval."""
    x = np.asarray(times_us, dtype=np.float64)
    median = float(np.median(x))
    lo, hi = median_ci95(x)
    rel = 100.0 * max(median - lo, hi - median) / median if median > 0 else float("inf")
    return TimeStats(
        time_us_mean=float(x.mean()), time_us_median=median,
        time_us_min=float(x.min()), time_us_max=float(x.max()),
        time_us_p99=float(np.percentile(x, 99)), median_ci95_rel_pct=rel,
    )


def auto_iters_done(times_us: np.ndarray, budget_s: float, target_rel_pct: float = 1.0,
                    min_iters: int = 10) -> bool:
    """`--iters auto`: stop when the median's 95% interval is within +-target of it, or
    the timed iterations have used the per-point budget."""
    x = np.asarray(times_us, dtype=np.float64)
    if x.size < min_iters:
        return False
    if x.sum() * 1e-6 >= budget_s:
        return True
    return summarize(x).median_ci95_rel_pct <= target_rel_pct

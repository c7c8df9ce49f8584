import numpy as np
import pytest

from collectives.timing import auto_iters_done, median_ci95, summarize


def test_summarize_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.lognormal(3, 0.3, 500)
    s = summarize(x)
    assert s.time_us_mean == pytest.approx(x.mean())
    assert s.time_us_median == pytest.approx(np.median(x))
    assert (s.time_us_min, s.time_us_max) == (x.min(), x.max())
    assert s.time_us_p99 == pytest.approx(np.sort(x)[int(0.99 * 499)], rel=0.05)


def test_median_interval_from_order_statistics():
    x = np.arange(1, 101, dtype=float)  # n=100: ranks 50 -+ 9.8 -> sorted[40], sorted[60]
    assert median_ci95(x) == (41.0, 61.0)
    assert median_ci95(np.array([5.0, 1.0, 3.0])) == (1.0, 5.0)


def test_interval_covers_the_true_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        lo, hi = median_ci95(rng.exponential(1.0, 200))
        hits += lo <= np.log(2) <= hi
    assert 0.93 <= hits / 2000 <= 0.98


def test_auto_iters_stops_when_precise_or_over_budget():
    tight = np.full(50, 100.0) + np.linspace(0, 0.5, 50)
    assert auto_iters_done(tight, budget_s=10)
    noisy = np.random.default_rng(2).uniform(50, 150, 20)
    assert not auto_iters_done(noisy, budget_s=10)
    assert auto_iters_done(noisy, budget_s=1e-4)  # 20 x ~100 us = 2 ms > 0.1 ms
    assert not auto_iters_done(tight[:5], budget_s=1e-9)  # never below min_iters

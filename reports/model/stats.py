"""The statistics toolkit the fits share: design columns per rank count, non-negative
least squares on relative error, the case-resampling bootstrap and its seed, R^2 and MAPE,
95% percentile intervals. docs/model.md has the method."""
from __future__ import annotations

import itertools
import math
import zlib

import numpy as np


def per_rank_count(fn, p) -> np.ndarray:
    """A(p) or B(p) at each point's rank count (evaluated once per distinct p)."""
    p = np.asarray(p, dtype=int)
    values = {q: float(fn(int(q))) for q in np.unique(p)}
    return np.array([values[q] for q in p], dtype=float)


def nnls(X: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, float]:
    """min sum(((t - X theta) / t)^2) subject to theta >= 0, by trying every subset of
    columns (X has at most 4). Returns (theta, relative RSS)."""
    Xw, y = X / t[:, None], np.ones_like(t)
    sol, *_ = np.linalg.lstsq(Xw, y, rcond=None)
    if np.all(sol >= 0):  # the unconstrained optimum is feasible: no subset does better
        return sol, float(np.sum((y - Xw @ sol) ** 2))
    best, best_rss = np.zeros(X.shape[1]), float(np.sum(y ** 2))
    for k in range(X.shape[1], 0, -1):
        for cols in itertools.combinations(range(X.shape[1]), k):
            sol, *_ = np.linalg.lstsq(Xw[:, cols], y, rcond=None)
            if np.any(sol < 0):
                continue
            theta = np.zeros(X.shape[1])
            theta[list(cols)] = sol
            rss = float(np.sum((y - Xw @ theta) ** 2))
            if rss < best_rss - 1e-15:
                best, best_rss = theta, rss
    return best, best_rss


def bandwidth_gbps(beta: float) -> float:
    """1 / beta in GB/s (beta in us per byte); inf for a latency-only fit (beta 0)."""
    return 1e-3 / beta if beta > 0 else math.inf


def fit_stats(t, pred) -> tuple[float, float]:
    """(R^2 on time, MAPE %)."""
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    r2 = 1 - float(np.sum((t - pred) ** 2)) / ss_tot if ss_tot > 0 else math.nan
    return r2, float(np.mean(np.abs(t - pred) / t) * 100)


def ci95(samples: np.ndarray) -> list[float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return [float(lo), float(hi)]


def bootstrap(X, t, rng, samples) -> np.ndarray:
    """Parameters refitted on `samples` case resamples of the rows of (X, t)."""
    out = np.empty((samples, X.shape[1]))
    for b in range(samples):
        idx = rng.integers(0, len(t), len(t))
        out[b], _ = nnls(X[idx], t[idx])
    return out


def seed_of(key: dict) -> int:
    return zlib.crc32(repr(sorted(key.items())).encode())

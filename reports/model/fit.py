"""The scaling model: fit T(n, p) = alpha * A(p) + n * B(p) / bandwidth to measured points.
The method: docs/methods.md (`reports/model/fit.py`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from collectives.cost import CostFamily
from collectives.registry import COLLECTIVES, get_collective

from .stats import bootstrap, fit_stats, nnls, per_rank_count, seed_of

TIME_FIELD = "time_us_median"
MIN_SIZES_PER_REGIME = 3
MAX_REGIMES = 5
NOISE_FLOOR = 1e-3
"""relative noise below which a regime's fit counts as exact (see Regimes above)"""
BOOTSTRAP = 1000
REACHED = 1.3
"""asymptote / model busbw at a regime's largest size below which the asymptote counts as reached"""
KEY = ("collective", "backend", "device", "fabric", "dtype", "in_place", "timing")
"""What makes points comparable: in-place and out-of-place calls differ by up to 20% in
real nccl-tests logs, device (cuda or cpu buffers) changes MPI's path, and a per-call time
includes the launch cost a batch hides (`timing`)."""
HIER_KEY = ("collective", "backend", "device", "dtype", "timing")


def design(family: CostFamily, p, n) -> np.ndarray:
    """Columns [A(p), B(p) * n] of T = alpha * A + beta * B n."""
    return np.column_stack([per_rank_count(family.steps, p), per_rank_count(family.data, p) * np.asarray(n, dtype=float)])


@dataclass(frozen=True)
class Regime:
    family: CostFamily
    size_lo: int
    size_hi: int
    theta: np.ndarray
    """[alpha_us, beta_us_per_byte]"""
    boot: np.ndarray = field(repr=False, default=None)
    """Bootstrap samples of theta, shape (B, 2)."""
    r2: float = math.nan
    mape_pct: float = math.nan
    heldout_mape_pct: float | None = None
    heldout_nranks: int | None = None
    points: int = 0
    nranks: tuple = ()
    identified: bool = False
    """the measured rank counts tell this family from the other candidates (see _identified)"""
    factor: object = None
    """the collective's busbw factor of p, for the busbw asymptote"""
    alpha_identified: bool = True
    """False where the sizes cannot show the latency term (under 3 sizes, fitted across
    rank counts with alpha 0: the bandwidth term only)"""
    peak_busbw: float = math.nan
    """the highest busbw among the regime's points (from the fitted time), and its size"""
    peak_at: int = 0

    def predict(self, n, p, theta=None):
        return design(self.family, p, n) @ (self.theta if theta is None else theta)

    def busbw_asymptote(self, beta=None) -> float:
        """The large-message busbw this regime implies at its largest rank count:
        factor(p) / (beta B(p)), in GB/s like the records' busbw, whatever the family."""
        p = max(self.nranks)
        beta = self.theta[1] if beta is None else beta
        return self.factor(p) / (beta * self.family.data(p)) * 1e-3 if beta > 0 else math.inf

    def busbw_at(self, n: float) -> float:
        """The busbw the regime's model gives at n bytes and its largest rank count."""
        p = max(self.nranks)
        return self.factor(p) * n / (float(self.predict([n], [p])[0]) * 1e3)

    @property
    def asymptote_reached(self) -> bool:
        """The regime's largest size is bandwidth-bound: its model busbw there is within
        REACHED of the asymptote (the latency term under 23% of the time). Otherwise the
        asymptote is an extrapolation past the data (a log that stops at 1 MiB)."""
        asymptote = self.busbw_asymptote()
        return bool(math.isfinite(asymptote) and self.busbw_at(self.size_hi) * REACHED >= asymptote)


@dataclass(frozen=True)
class KeyFit:
    key: dict
    regimes: list[Regime]
    heldout_mape_pct: float | None = None
    """MAPE predicting every point at the largest rank count from a fit (families, regime
    cuts and count) made without them"""
    heldout_nranks: int | None = None
    heldout_from: tuple = ()
    """the rank counts that fit was made on"""

    def regime_for(self, n: float) -> Regime:
        """The regime whose size range holds n (the nearest one outside them all)."""
        for regime in self.regimes:
            if n <= regime.size_hi:
                return regime
        return self.regimes[-1]

    def predict(self, n, p):
        return float(self.regime_for(n).predict([n], [p])[0])

    def predict_samples(self, n, p) -> np.ndarray:
        regime = self.regime_for(n)
        return design(regime.family, [p], [n])[0] @ regime.boot.T


def busbw_family(families, factor, p) -> CostFamily:
    """The candidate whose B(p) is the busbw factor at every p: its bandwidth is the busbw
    asymptote (the ring families). At one rank count every family fits the same points
    equally (A and B are constants there), so this is the one reported."""
    for family in families:
        if all(abs(family.data(int(q)) - factor(int(q))) < 1e-12 for q in np.unique(p)):
            return family
    return families[0]


def bandwidth_design(family: CostFamily, p, n) -> np.ndarray:
    """`design` with the latency column zeroed: T = beta B(p) n (alpha not fitted)."""
    X = design(family, p, n)
    X[:, 0] = 0.0
    return X


def _best_family(families, p, n, t, factor=None, columns=design):
    if factor is not None and len(np.unique(p)) < 2:  # nothing to tell the families apart
        family = busbw_family(families, factor, p)
        theta, rss = nnls(columns(family, p, n), t)
        return family, theta, rss
    best = None
    for family in families:
        theta, rss = nnls(columns(family, p, n), t)
        if best is None or rss < best[2]:
            best = (family, theta, rss)
    return best


def segment(n, cost, max_regimes=MAX_REGIMES, params_per_regime=3):
    """Best cut of the sizes into 1..max_regimes contiguous regimes (each of at least
    MIN_SIZES_PER_REGIME sizes) by BIC, each regime with its own noise level. `cost(mask)`
    fits the points of one candidate regime and returns (relative RSS, what to keep of the
    fit); `params_per_regime`: the fitted parameters of one regime (noise and cut added
    here). Returns [(lo_size, hi_size, kept)]."""
    sizes = np.unique(n)
    S, N = len(sizes), len(n)
    cost_ij = {}
    for i in range(S):
        for j in range(i + MIN_SIZES_PER_REGIME - 1, S):
            mask = (n >= sizes[i]) & (n <= sizes[j])
            rss, kept = cost(mask)
            k = int(mask.sum())
            cost_ij[i, j] = (k * math.log(max(rss / k, NOISE_FLOOR ** 2)), kept)
    # best[k][j]: (cost, cuts) covering sizes[0..j] with k regimes
    best = [dict() for _ in range(max_regimes + 1)]
    for j in range(S):
        if (0, j) in cost_ij:
            best[1][j] = (cost_ij[0, j][0], [(0, j, cost_ij[0, j][1])])
    for k in range(2, max_regimes + 1):
        for j in range(S):
            for i in range(1, j + 1):
                if (i, j) in cost_ij and (i - 1) in best[k - 1]:
                    total = best[k - 1][i - 1][0] + cost_ij[i, j][0]
                    if j not in best[k] or total < best[k][j][0]:
                        best[k][j] = (total, best[k - 1][i - 1][1] + [(i, j, cost_ij[i, j][1])])
    choice, choice_bic = None, math.inf
    for k in range(1, max_regimes + 1):
        if S - 1 in best[k]:
            total, cuts = best[k][S - 1]
            bic = total + ((params_per_regime + 2) * k - 1) * math.log(N)
            if bic < choice_bic:
                choice, choice_bic = [(sizes[i], sizes[j], kept) for i, j, kept in cuts], bic
    return choice


def _segment(families, p, n, t, max_regimes=MAX_REGIMES, factor=None):
    """`segment` for one key's flat fit: each regime's best family (alpha and beta, so
    BIC's k = 4K - 1): [(lo_size, hi_size, family)]."""
    def cost(mask):
        family, _, rss = _best_family(families, p[mask], n[mask], t[mask], factor)
        return rss, family
    return segment(n, cost, max_regimes, params_per_regime=2)


IDENTIFY_SAMPLES = 200
IDENTIFY_SHARE = 0.95


def _identified(families, family, p, n, t, rng, columns=design) -> bool:
    """True when the measured rank counts tell `family` from every other candidate beyond
    the bootstrap noise: on case resamples of the regime's points, `family` has the
    smallest residual, strictly, in at least 95% of them. With one rank count it never
    does (every family fits those points equally, even a collective's only one), nor where
    two families have the same A(p) and B(p) up to scale at every measured p."""
    others = [f for f in families if f is not family]
    if len(np.unique(p)) < 2:
        return False
    if not others:  # the collective's only candidate (sendrecv)
        return True
    wins = 0
    for _ in range(IDENTIFY_SAMPLES):
        idx = rng.integers(0, len(t), len(t))
        if len(np.unique(p[idx])) < 2:
            continue
        mine = nnls(columns(family, p[idx], n[idx]), t[idx])[1]
        wins += all(mine < nnls(columns(f, p[idx], n[idx]), t[idx])[1] * (1 - 1e-9) for f in others)
    return wins >= IDENTIFY_SHARE * IDENTIFY_SAMPLES


def _peak_busbw(p, n, t, factor) -> tuple[float, int]:
    """(the highest busbw among the points, computed from the fitted times, and its size)."""
    busbw = n * np.array([factor(int(q)) for q in p]) / (t * 1e3)
    at = int(np.argmax(busbw))
    return float(busbw[at]), int(n[at])


def fit_points(families, p, n, t, key=None, samples=BOOTSTRAP, max_regimes=MAX_REGIMES, factor=None,
               heldout=True) -> KeyFit | None:
    """Fit one key's points (arrays of nranks, size_bytes, time_us). None if fewer than
    MIN_SIZES_PER_REGIME distinct sizes. `factor`: the collective's busbw factor of p
    (busbw asymptotes; the family reported where the families cannot be told apart).
    `heldout`: also refit everything without the largest rank count and predict it."""
    p, n, t = (np.asarray(a, dtype=float) for a in (p, n, t))
    factor = factor or (lambda q: 1.0)
    key = key or {}
    rng = np.random.default_rng(seed_of(key))
    if len(np.unique(n)) < MIN_SIZES_PER_REGIME:
        if len(np.unique(p)) < 2:
            return None
        regimes = [_bandwidth_only(families, p, n, t, rng, samples, factor)]
        min_ranks_to_hold_out = 3  # the bandwidth term needs 2 rank counts left
    else:
        regimes = []
        for lo, hi, family in _segment(families, p, n, t, max_regimes, factor):
            mask = (n >= lo) & (n <= hi)
            rp, rn, rt = p[mask], n[mask], t[mask]
            identified = _identified(families, family, rp, rn, rt, rng)
            if not identified:
                family = busbw_family(families, factor, rp)
            regimes.append(_regime(family, int(lo), int(hi), rp, rn, rt, design(family, rp, rn), rng, samples, factor,
                                   identified=identified))
        min_ranks_to_hold_out = 2
    held = {}
    if heldout and len(np.unique(p)) >= min_ranks_to_hold_out:
        regimes, held = _hold_out(key, regimes, families, p, n, t, max_regimes, factor)
    return KeyFit(key, regimes, **held)


def _regime(family, size_lo, size_hi, p, n, t, X, rng, samples, factor, **fields) -> Regime:
    """A regime of `family` fitted on its points (arrays of nranks, size_bytes, time_us) with
    the design X: theta, its bootstrap samples (`samples` of them, drawn from rng; 0: theta
    alone), the fit statistics and the peak busbw, all computed before the Regime is built.
    `fields`: the rest of Regime's fields (identified, alpha_identified)."""
    theta, _ = nnls(X, t)
    boot = bootstrap(X, t, rng, samples) if samples else theta[None, :]
    r2, mape_pct = fit_stats(t, design(family, p, n) @ theta)  # what Regime.predict gives at the points
    peak_busbw, peak_at = _peak_busbw(p, n, t, factor)
    return Regime(family, size_lo, size_hi, theta, boot=boot, r2=r2, mape_pct=mape_pct, points=len(t),
                  nranks=tuple(int(q) for q in np.unique(p)), factor=factor, peak_busbw=peak_busbw, peak_at=peak_at,
                  **fields)


def _bandwidth_only(families, p, n, t, rng, samples, factor) -> Regime:
    """Under 3 sizes but several rank counts (a vendor's 8 and 16 GiB at 1, 2, 16 and 32
    nodes): T = beta B(p) n across the scales, alpha 0 and not identified. The family is
    chosen and judged identified as in the full fit, on this one column."""
    family = _best_family(families, p, n, t, columns=bandwidth_design)[0]
    identified = _identified(families, family, p, n, t, rng, columns=bandwidth_design)
    if not identified:
        family = busbw_family(families, factor, p)
    return _regime(family, int(n.min()), int(n.max()), p, n, t, bandwidth_design(family, p, n), rng, samples, factor,
                   identified=identified, alpha_identified=False)


def heldout_errors(scale: np.ndarray, t: np.ndarray, refit):
    """Out-of-sample errors at the largest value of `scale` (each point's rank or node count):
    `refit(rest, top)` fits on the points of the mask `rest` alone (those whose scale is below
    `top`) and returns its predicted times at the other points (~rest: those at top), or None
    where the rest fits nothing. Returns (errors, top, rest), errors being |t - predicted| / t
    at each held-out point (a fraction; x 100 for percent), or None."""
    top = scale.max()
    rest = scale < top
    pred = refit(rest, top)
    if pred is None:
        return None
    return np.abs(t[~rest] - pred) / t[~rest], top, rest


def _hold_out(key: dict, regimes: list[Regime], families, p, n, t, max_regimes, factor) -> tuple[list[Regime], dict]:
    """Refit everything (family choice, regime cuts, their count) on the points below the
    largest rank count, predict that rank count's points: MAPE for the key and for each
    regime (over the held-out points in its size range). Nothing of the held-out points
    takes part in the refit. Returns the regimes with their held-out errors, and KeyFit's
    held-out fields ({}, the regimes unchanged, where the rest fits nothing)."""
    def refit(rest, top):
        sub = fit_points(families, p[rest], n[rest], t[rest], key, samples=0, max_regimes=max_regimes,
                         factor=factor, heldout=False)
        return None if sub is None else np.array([sub.predict(x, top) for x in n[~rest]])
    held = heldout_errors(p, t, refit)
    if held is None:
        return regimes, {}
    errors, top, rest = held
    err, held_n = errors * 100, n[~rest]
    out = []
    for regime in regimes:
        inside = (held_n >= regime.size_lo) & (held_n <= regime.size_hi)
        if inside.any():
            regime = replace(regime, heldout_mape_pct=float(err[inside].mean()), heldout_nranks=int(top))
        out.append(regime)
    return out, {"heldout_mape_pct": float(err.mean()), "heldout_nranks": int(top),
                 "heldout_from": tuple(int(q) for q in np.unique(p[rest]))}


def usable(df: pd.DataFrame) -> pd.DataFrame:
    """Records a fit can use: ok, at least 2 ranks, a positive time. Imported records
    (nccl-tests, OSU) carry only a mean: it stands in for the median there."""
    df = df.copy()
    df[TIME_FIELD] = df[TIME_FIELD].fillna(df["time_us_mean"])
    df = df[(df["status"] == "ok") & (df["nranks"] >= 2) & (df[TIME_FIELD] > 0) & (df["size_bytes"] > 0)
            & df["collective"].isin(list(COLLECTIVES))].copy()  # 0-byte rows fit nothing; scatter etc. have no model
    df["device"] = df["device"].fillna("cpu")
    df["timing"] = df["timing"].fillna("call")
    return df


def key_of(values) -> dict:
    """A groupby's KEY values as a plain dict (None for a missing value, Python scalars)."""
    return {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in zip(KEY, values)}


def fit_frame(df: pd.DataFrame, samples=BOOTSTRAP) -> list[KeyFit]:
    """One KeyFit per KEY (collective, backend, device, fabric, dtype, in_place, timing) with
    enough sizes."""
    fits = []
    for values, group in usable(df).groupby(list(KEY), sort=True, dropna=False):
        key = key_of(values)
        spec = get_collective(key["collective"])
        fit = fit_points(spec.families, group["nranks"], group["size_bytes"], group[TIME_FIELD], key, samples,
                         factor=spec.busbw_factor)
        if fit is not None:
            fits.append(fit)
    return fits

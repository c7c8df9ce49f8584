"""Compare runs: per point and per collective, NEW against BASE on one statistic (the median
time; bandwidths from it), flagged only beyond a measured noise model. The method and its
calibration: docs/compare.md."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from collectives.timing import median_ci95

DEFAULT_MATCH = ("collective", "backend", "fabric", "dtype", "size_bytes", "nranks")
METRICS = {"time_us": -1, "busbw_gbps": +1, "algbw_gbps": +1}
"""metric -> +1 if higher is better, -1 if lower is better. Every metric comes from one
statistic per point: the median time (the mean where a record has none); algbw and busbw are
the record's own, rescaled from the mean time they were computed from to that statistic."""
POOLED_OUT = ("size_bytes", "nranks", "count")
"""Match fields a collective's verdict pools over: its points are its sizes and rank counts."""

STATISTICS = ("min", "median", "mean")
"""The per-point statistic of the timed calls every metric is computed from."""
DEFAULT_STATISTIC = "median"
"""The statistic whose floors caught the most injected slowdowns with no false alarm on
identical dry runs of the quiet 2-core VM (docs/compare.md); `min` was the most repeatable
under heavy load (8 to 16 on 2 cores)."""
ROBUST_RUNS = 3
"""From this many runs on each side, a side's point is the median over its runs and the
runs' spread a robust (MAD) one: one run's bad minute is outvoted; fewer use the mean and SD."""
POINT_FLOOR_PCT = {"min": {1: 168.0, ROBUST_RUNS: 92.0}, "median": {1: 721.0, ROBUST_RUNS: 525.0},
                   "mean": {1: 456.0, ROBUST_RUNS: 339.0}}
"""Least noise of one point, per statistic, for one (or two) runs a side and for ROBUST_RUNS
or more: what leaves 1% of points flagged between 11 identical-code default dry runs of the
2-core VM with nothing else running (load 1.8 to 3.4; benchmarks/selfbench/compare_noise.py
on 2026-12-06: all 55 pairs one run a side, 20 seeded draws three a side; docs/compare.md).
Points are noisy (a 4 KiB sendrecv on 4 ranks sharing 2 cores moves by x7): the gate is on
collectives."""
CI_SCALE = 1.0
"""Points' own noise: CI_SCALE x the two medians' 95% intervals combined."""
COLLECTIVE_FLOOR_PCT = {"min": {1: 25.0, ROBUST_RUNS: 13.0}, "median": {1: 19.0, ROBUST_RUNS: 11.0},
                        "mean": {1: 36.0, ROBUST_RUNS: 11.0}}
"""Least half-width of a collective's interval, the same way: the largest median change of a
collective between those identical runs whose sign-test interval excluded 0, rounded up."""

T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086)
"""Student's t, 0.975 quantile, 1 to 20 degrees of freedom (beyond: 1.96 + 2.4/df)."""


class CompareError(ValueError):
    """Bad rule or nothing to compare; the message names the problem and the fix."""


@dataclass(frozen=True)
class NoiseModel:
    """The statistic, and how far apart two sides may be on it and still be the same
    (docs/compare.md). `NoiseModel.default(statistic, runs_per_side)` is the measured default."""
    statistic: str = DEFAULT_STATISTIC
    point_floor_pct: float = POINT_FLOOR_PCT[DEFAULT_STATISTIC][1]
    ci_scale: float = CI_SCALE
    collective_floor_pct: float = COLLECTIVE_FLOOR_PCT[DEFAULT_STATISTIC][1]

    @classmethod
    def default(cls, statistic: str = DEFAULT_STATISTIC, runs_per_side: int = 1, **overrides) -> "NoiseModel":
        """The measured floors for `statistic` with `runs_per_side` (the fewer side's) runs;
        overrides that are not None replace them."""
        if statistic not in STATISTICS:
            raise CompareError(f"statistic {statistic!r} is unknown: choose from {', '.join(STATISTICS)}")
        k = ROBUST_RUNS if runs_per_side >= ROBUST_RUNS else 1
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(**{"statistic": statistic, "point_floor_pct": POINT_FLOOR_PCT[statistic][k],
                      "collective_floor_pct": COLLECTIVE_FLOOR_PCT[statistic][k], **given})


@dataclass(frozen=True)
class Rule:
    metric: str
    threshold_pct: float

    def fails(self, change_pct: float, noise_pct: float = 0.0) -> bool:
        """A change at least this far in the threshold's (the worse) direction, beyond noise."""
        beyond = abs(change_pct) > noise_pct
        if self.threshold_pct < 0:
            return beyond and change_pct <= self.threshold_pct
        return beyond and change_pct >= self.threshold_pct


def parse_rule(text: str) -> Rule:
    m = re.fullmatch(r"\s*(\w+)\s*:\s*([+-]?\d+(?:\.\d+)?)\s*%?\s*", text)
    if not m:
        raise CompareError(f"--fail-on {text!r} is not METRIC:THRESHOLD%: use e.g. busbw_gbps:-5% or time_us:+10%")
    metric, value = m.group(1), float(m.group(2))
    if metric not in METRICS:
        raise CompareError(f"--fail-on metric {metric!r} is unknown: choose from {', '.join(METRICS)}")
    if value == 0:
        raise CompareError(f"--fail-on {text!r}: a threshold of 0% fails on noise: use e.g. {metric}:-5%")
    if (value > 0) == (METRICS[metric] > 0):
        worse = f"{metric}:{-value:+g}%"
        raise CompareError(f"--fail-on {text!r} would fail on an improvement: use {worse} (fail when that much worse)")
    return Rule(metric, value)


def t975(df: int) -> float:
    return T975[df - 1] if df <= len(T975) else 1.96 + 2.4 / df


def change_pct(log_ratio: float, metric: str) -> float:
    """Change of `metric` in percent for a log ratio ln(time_new / time_base)."""
    return 100 * math.expm1(log_ratio if METRICS[metric] < 0 else -log_ratio)


def _per_run(df: pd.DataFrame, match, statistic: str) -> pd.DataFrame:
    """One run's points on `match`: ln of the statistic's time (the mean where a record has
    none), ln busbw and ln algbw rescaled to it from the mean they were computed from, the
    median's interval; records sharing a key (reduce ops, placements) are averaged in logs."""
    df = df[(df["status"] == "ok") & (df["time_us_mean"].fillna(0) > 0)].copy()
    df["fallback"] = df[f"time_us_{statistic}"].isna()
    time_us = df[f"time_us_{statistic}"].fillna(df["time_us_mean"]).astype(float)
    df["log_time"] = np.log(time_us)
    for bw in ("busbw_gbps", "algbw_gbps"):
        scaled = df[bw].astype(float) * df["time_us_mean"].astype(float) / time_us
        df[f"log_{bw}"] = np.log(scaled.where(scaled > 0))
    df["spread_pct"] = df["median_ci95_rel_pct"].astype(float)
    for col in match:
        df[col] = df[col].fillna("-") if df[col].dtype == object else df[col]
    cols = ["log_time", "log_busbw_gbps", "log_algbw_gbps", "spread_pct", "fallback"]
    return df.groupby(list(match), dropna=False)[cols].mean()


def _side(runs: list[pd.DataFrame], match, statistic) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the side's points: log medians over its runs (robust to one run's bad minute), spread /
    sqrt(k); each run's log time per point). Only points every run of the side has."""
    per = [_per_run(r, match, statistic) for r in runs]
    common = per[0].index
    for p in per[1:]:
        common = common.intersection(p.index)
    stacked = pd.concat([p.loc[common] for p in per], keys=range(len(per)), names=["run"])
    mean = stacked.groupby(level=list(range(1, stacked.index.nlevels)), dropna=False).median()
    mean["spread_pct"] = mean["spread_pct"] / math.sqrt(len(per))
    mean["fallback"] = stacked["fallback"].groupby(level=list(range(1, stacked.index.nlevels)), dropna=False).any()
    log_times = pd.DataFrame({i: p.loc[common, "log_time"] for i, p in enumerate(per)})
    return mean, log_times


def _runs_half(dev_base: np.ndarray, dev_new: np.ndarray) -> np.ndarray:
    """Half-width (log) of the run-to-run 95% interval of the difference of the two sides,
    from the runs' deviations from their side's centre (rows: points; a column per run): Student's
    t x the SD; from ROBUST_RUNS runs a side, t x the MAD-based scale x 1.2533 (a median's
    standard error over a mean's), so one run far off does not set it."""
    kb, kn = dev_base.shape[1], dev_new.shape[1]
    df = kb + kn - 2
    if kb + kn <= 2:
        return np.zeros(dev_base.shape[0])
    both = np.hstack([dev_base, dev_new])
    if min(kb, kn) >= ROBUST_RUNS:
        scale = 1.4826 * np.median(np.abs(both), axis=1) * 1.2533
    else:
        scale = np.sqrt((both ** 2).sum(axis=1) / df)
    return t975(df) * scale * math.sqrt(1 / kb + 1 / kn)


def _as_runs(side) -> list[pd.DataFrame]:
    return list(side) if isinstance(side, (list, tuple)) else [side]


@dataclass(frozen=True)
class Comparison:
    """NEW against BASE: the points (one row each, `compare_points`) and what the collective
    verdicts need besides: the runs per side and each run's deviation from its side's mean."""
    points: pd.DataFrame
    match: tuple
    runs: tuple[int, int]
    dev_base: np.ndarray
    """ln time of each base run minus the base side's mean (rows as points, a column per run)."""
    dev_new: np.ndarray
    noise: NoiseModel


def compare_points(base, new, match=DEFAULT_MATCH, noise: NoiseModel = NoiseModel()) -> Comparison:
    """One row per aligned point: the log ratio ln(time_new / time_base), the noise half-width,
    the verdict (same, faster, slower). BASE and NEW: a run's records, or a list of runs (one side)."""
    sides = _side(_as_runs(base), match, noise.statistic), _side(_as_runs(new), match, noise.statistic)
    (b, b_runs), (n, n_runs) = sides
    joined = b.merge(n, how="inner", left_index=True, right_index=True, suffixes=("_base", "_new"))
    if joined.empty:
        raise CompareError(f"no point of the new run matches the base on {', '.join(match)}: check they measured the "
                           f"same collectives and sizes, or loosen --match")
    idx = joined.index
    dev_b = b_runs.loc[idx].to_numpy() - joined[["log_time_base"]].to_numpy()
    dev_n = n_runs.loc[idx].to_numpy() - joined[["log_time_new"]].to_numpy()
    sb = joined["spread_pct_base"].fillna(noise.point_floor_pct)
    sn = joined["spread_pct_new"].fillna(noise.point_floor_pct)
    own_pct = noise.ci_scale * np.hypot(sb, sn).to_numpy()
    runs_pct = 100 * np.expm1(_runs_half(dev_b, dev_n))
    out = idx.to_frame(index=False)
    out["log_ratio"] = (joined["log_time_new"] - joined["log_time_base"]).to_numpy()
    for metric, col in (("time_us", "log_time"), ("busbw_gbps", "log_busbw_gbps"), ("algbw_gbps", "log_algbw_gbps")):
        out[f"{metric}_base"] = np.exp(joined[f"{col}_base"].to_numpy())
        out[f"{metric}_new"] = np.exp(joined[f"{col}_new"].to_numpy())
    out["own_noise_pct"], out["runs_noise_pct"] = own_pct, runs_pct
    out["noise_pct"] = np.maximum.reduce([own_pct, runs_pct, np.full(len(out), noise.point_floor_pct)])
    out["fallback"] = (joined["fallback_base"].astype(bool) | joined["fallback_new"].astype(bool)).to_numpy()
    beyond = np.abs(out["log_ratio"]) > np.log1p(out["noise_pct"] / 100)
    out["verdict"] = np.where(~beyond, "same", np.where(out["log_ratio"] > 0, "slower", "faster"))
    return Comparison(points=out, match=tuple(match), runs=(b_runs.shape[1], n_runs.shape[1]), dev_base=dev_b,
                      dev_new=dev_n, noise=noise)


@dataclass(frozen=True)
class CollectiveVerdict:
    """One collective's points pooled: the median log ratio over its sizes and rank counts, its
    95% interval, and the verdict (same, faster, slower, or regressed: slower past a rule)."""
    key: tuple
    n_points: int
    log_median: float
    log_lo: float
    log_hi: float
    verdict: str
    failed_rules: tuple[str, ...] = ()

    def change_pct(self, metric: str = "time_us") -> float:
        return change_pct(self.log_median, metric)

    def interval_pct(self, metric: str = "time_us") -> tuple[float, float]:
        ends = sorted((change_pct(self.log_lo, metric), change_pct(self.log_hi, metric)))
        return ends[0], ends[1]


def group_fields(match) -> list[str]:
    """The match fields that name a collective's group (all but sizes and rank counts)."""
    return [f for f in match if f not in POOLED_OUT]


def collective_verdicts(cmp: Comparison, rules=()) -> list[CollectiveVerdict]:
    """Per collective: median of its points' log ratios; its interval, the sign-test 95% interval
    of that median widened to at least +-the collective floor (and +-the run-to-run interval of
    the collective's level with 2 runs a side); beyond noise when 0 is outside it."""
    points, fields = cmp.points, group_fields(cmp.match)
    floor = math.log1p(cmp.noise.collective_floor_pct / 100)
    grouped = points.groupby(fields, dropna=False, sort=True) if fields else [((), points)]
    verdicts = []
    for key, g in grouped:
        ratios = np.sort(g["log_ratio"].to_numpy())
        med = float(np.median(ratios))
        lo, hi = median_ci95(ratios)
        half = max(floor, _level_half(cmp, g.index.to_numpy()))
        lo, hi = min(lo, med - half), max(hi, med + half)
        verdict = "slower" if lo > 0 else ("faster" if hi < 0 else "same")
        failed = tuple(f"{r.metric}:{r.threshold_pct:+g}%" for r in rules
                       if verdict == "slower" and r.fails(change_pct(med, r.metric)))
        verdicts.append(CollectiveVerdict(key=key if isinstance(key, tuple) else (key,), n_points=len(ratios),
                                          log_median=med, log_lo=lo, log_hi=hi,
                                          verdict="regressed" if failed else verdict, failed_rules=failed))
    return verdicts


def _level_half(cmp: Comparison, rows) -> float:
    """With 2 runs on a side (a median of two is their mean: one bad run moves it), the t
    interval of the runs' levels (each run's median deviation over the collective's points);
    from ROBUST_RUNS a side none: the median over runs outvotes a bad run, and the floor
    measured for that many runs stands for the rest."""
    if min(cmp.runs) >= ROBUST_RUNS:
        return 0.0
    lvl_b = np.median(cmp.dev_base[rows], axis=0)[None, :]
    lvl_n = np.median(cmp.dev_new[rows], axis=0)[None, :]
    return float(_runs_half(lvl_b, lvl_n)[0])


def compare(base, new, match=DEFAULT_MATCH, noise: NoiseModel = NoiseModel()) -> pd.DataFrame:
    """One row per aligned point and metric (the long form compare.csv holds): base, new, ratio,
    change_pct, noise_pct, verdict ("better", "worse", "same" by the metric's direction)."""
    return long_form(compare_points(base, new, match, noise))


def long_form(cmp: Comparison) -> pd.DataFrame:
    rows = []
    for _, r in cmp.points.iterrows():
        for metric in METRICS:
            vb, vn = r[f"{metric}_base"], r[f"{metric}_new"]
            if pd.isna(vb) or pd.isna(vn):
                continue
            verdict = {"same": "same", "faster": "better", "slower": "worse"}[r["verdict"]]
            rows.append({**{f: r[f] for f in cmp.match}, "metric": metric, "base": vb, "new": vn, "ratio": vn / vb,
                         "change_pct": change_pct(r["log_ratio"], metric), "noise_pct": r["noise_pct"],
                         "verdict": verdict})
    return pd.DataFrame(rows)


def one_sided(base, new, match=DEFAULT_MATCH) -> tuple[list[tuple], list[tuple]]:
    """The points (keys on `match`) only BASE has, and only NEW has: not compared, and said so."""
    b, n = _side(_as_runs(base), match, "mean")[0].index, _side(_as_runs(new), match, "mean")[0].index
    return [k if isinstance(k, tuple) else (k,) for k in b.difference(n)], \
        [k if isinstance(k, tuple) else (k,) for k in n.difference(b)]


def describe_keys(keys: list[tuple]) -> str:
    """'140 points (all_gather 28, broadcast 28, ...)': counted by the first match field."""
    if not keys:
        return "0 points"
    counts = pd.Series([str(k[0]) for k in keys]).value_counts().sort_index()
    return f"{len(keys)} points ({', '.join(f'{name} {n}' for name, n in counts.items())})"

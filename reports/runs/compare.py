"""Compare runs point by point: NEW / BASE ratios, flagged only beyond the runs' own noise.
The method: docs/methods.md (`reports/runs/compare.py`)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_MATCH = ("collective", "backend", "fabric", "dtype", "size_bytes", "nranks")
METRICS = {"time_us": -1, "busbw_gbps": +1, "algbw_gbps": +1}
"""metric -> +1 if higher is better, -1 if lower is better. time_us is the median where
recorded, else the mean."""
FLOOR_PCT = 2.0


class CompareError(ValueError):
    """Bad rule or nothing to compare; the message names the problem and the fix."""


@dataclass(frozen=True)
class Rule:
    metric: str
    threshold_pct: float

    def fails(self, change_pct: float, noise_pct: float) -> bool:
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
    return Rule(metric, value)


def _points(df: pd.DataFrame, match) -> pd.DataFrame:
    df = df[df["status"] == "ok"].copy()
    df["time_us"] = df["time_us_median"].fillna(df["time_us_mean"])
    df["spread_pct"] = df["median_ci95_rel_pct"]
    for col in match:
        df[col] = df[col].fillna("-") if df[col].dtype == object else df[col]
    return df.groupby(list(match), dropna=False)[["time_us", "busbw_gbps", "algbw_gbps", "spread_pct"]].mean()


def compare(base: pd.DataFrame, new: pd.DataFrame, match=DEFAULT_MATCH, floor_pct=FLOOR_PCT) -> pd.DataFrame:
    """One row per aligned point and metric."""
    b, n = _points(base, match), _points(new, match)
    joined = b.join(n, how="inner", lsuffix="_base", rsuffix="_new")
    if joined.empty:
        raise CompareError(f"no point of the new run matches the base on {', '.join(match)}: check they measured the "
                           f"same collectives and sizes, or loosen --match")
    rows = []
    for key, r in joined.iterrows():
        sb = r["spread_pct_base"] if not pd.isna(r["spread_pct_base"]) else floor_pct
        sn = r["spread_pct_new"] if not pd.isna(r["spread_pct_new"]) else floor_pct
        noise = max(math.hypot(sb, sn), floor_pct)
        for metric, sign in METRICS.items():
            vb, vn = r[f"{metric}_base"], r[f"{metric}_new"]
            if not (vb and vn) or pd.isna(vb) or pd.isna(vn):
                continue
            change = 100 * (vn / vb - 1)
            verdict = "same" if abs(change) <= noise else ("better" if sign * change > 0 else "worse")
            rows.append({**dict(zip(match, key if isinstance(key, tuple) else (key,))), "metric": metric,
                         "base": vb, "new": vn, "ratio": vn / vb, "change_pct": change, "noise_pct": noise,
                         "verdict": verdict})
    return pd.DataFrame(rows)


def one_sided(base: pd.DataFrame, new: pd.DataFrame, match=DEFAULT_MATCH) -> tuple[list[tuple], list[tuple]]:
    """The points (keys on `match`) only BASE has, and only NEW has: not compared, and said so."""
    b, n = _points(base, match).index, _points(new, match).index
    return [k if isinstance(k, tuple) else (k,) for k in b.difference(n)], \
        [k if isinstance(k, tuple) else (k,) for k in n.difference(b)]


def describe_keys(keys: list[tuple]) -> str:
    """'140 points (all_gather 28, broadcast 28, ...)': counted by the first match field."""
    if not keys:
        return "0 points"
    counts = pd.Series([str(k[0]) for k in keys]).value_counts().sort_index()
    return f"{len(keys)} points ({', '.join(f'{name} {n}' for name, n in counts.items())})"


def failures(table: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    if not rules or table.empty:
        return table.iloc[0:0]
    mask = np.zeros(len(table), dtype=bool)
    for rule in rules:
        m = (table["metric"] == rule.metric).to_numpy()
        hits = [rule.fails(c, z) for c, z in zip(table["change_pct"], table["noise_pct"])]
        mask |= m & np.array(hits)
    return table[mask]

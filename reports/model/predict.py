"""Predictions at scales not measured: a point model per size and a predictive interval.
The method: docs/methods.md (`reports/model/predict.py`)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from collectives.domains import INTER_NODE, TIER_NAMES
from collectives.registry import get_collective
from collectives.sizes import format_size

from reports.model.fit import TIME_FIELD, fit_frame
from reports.model.tiers import DOMAIN, NETWORK, NODE, fit_tiers

PRIOR_FILE = Path(__file__).resolve().parent / "data" / "predict_prior.json"
LEVEL = 0.9
NEAR_SIZES = 8.0
"""own-record errors are taken at the sizes within this factor below the target's"""
MIN_OWN_STEPS, MIN_OWN_ERRORS = 3, 9
NOISE_FLOOR = 0.02
"""the narrowest half-width on log time: 2%, run-to-run noise of a collective's time"""
SIZE_SLACK = 1.02
"""a size within 2% of a measured one counts as measured (all_to_all rounds to the ranks)"""


class PredictError(ValueError):
    """The runs cannot support this prediction; the message names the problem and the fix."""


@dataclass(frozen=True)
class Scale:
    """One measured group shape of a key: its sizes and median times."""
    nnodes: int
    nranks: int
    ranks_per_node: int
    tier: int
    sizes: np.ndarray = field(repr=False)
    times: np.ndarray = field(repr=False)

    @property
    def units(self) -> int:
        """What the trend grows with: ranks inside one node, nodes beyond it."""
        return self.nranks if self.tier == NODE else self.nnodes

    def time_at(self, n: float) -> tuple[float, bool]:
        """(time at n bytes, whether n is inside the measured sizes)."""
        x, y = self.sizes, self.times
        if n < x[0] / SIZE_SLACK:
            return float(y[0]), False  # latency-bound below: the smallest point's time
        if n > x[-1] * SIZE_SLACK:
            return float(y[-1] * n / x[-1]), False  # bandwidth-bound above: busbw held
        n = min(max(n, x[0]), x[-1])
        return float(np.exp(np.interp(math.log(n), np.log(x), np.log(y)))), True


def tier_of(nnodes: int, domain_size: int | None) -> int:
    """NODE, DOMAIN or NETWORK: the outermost tier a group of whole nodes crosses."""
    if nnodes <= 1:
        return NODE
    if domain_size is None:
        return NETWORK
    return DOMAIN if nnodes <= domain_size else NETWORK


def tier_name(k: int, domain_size: int | None) -> str:
    return INTER_NODE if k == NETWORK and domain_size is None else TIER_NAMES[k]


def scales_of(rows: pd.DataFrame, domain_size: int | None) -> list[Scale]:
    """The measured shapes of one key's usable records, fewest nodes first."""
    out = []
    rows = rows[rows["nnodes"].notna()]
    for (nn, p), part in rows.groupby(["nnodes", "nranks"], sort=True):
        g = part["ranks_per_node"].dropna()
        by = part.groupby("size_bytes")[TIME_FIELD].median()
        out.append(Scale(int(nn), int(p), int(g.iloc[0]) if len(g) else max(1, int(p) // int(nn)),
                         tier_of(int(nn), domain_size), by.index.to_numpy(float), by.to_numpy(float)))
    return sorted(out, key=lambda s: (s.nnodes, s.nranks))


def phi(collective: str, nnodes: int, nranks: int) -> float:
    """Bytes through the busiest link per byte of n, up to a constant (module docstring)."""
    if collective == "all_to_all" and nnodes > 1:
        return (nnodes - 1) / nnodes
    return float(get_collective(collective).busbw_factor(int(nranks)))


GROWTH = {"ring": lambda N: float(N), "tree": lambda N: math.log2(max(N, 1))}
"""latency growth with the node count: name -> g(N)"""


@dataclass(frozen=True)
class Trend:
    """t(N) = c phi + a g(N) at one size."""
    collective: str
    growth: str | None
    c: float
    a: float

    def time(self, nnodes: int, nranks: int) -> float:
        g = GROWTH[self.growth](nranks if nnodes <= 1 else nnodes) if self.growth else 0.0
        return self.c * phi(self.collective, nnodes, nranks) + self.a * g


def _fit_growth(collective, pts, growth) -> Trend:
    f = np.array([phi(collective, N, P) for N, P, _ in pts])
    t = np.array([x[2] for x in pts])
    carry = Trend(collective, None, float(np.sum(f / t) / np.sum((f / t) ** 2)), 0.0)
    if growth is None or len(pts) < 2:
        return carry
    X = np.column_stack([f, [GROWTH[growth](P if N <= 1 else N) for N, P, _ in pts]]) / t[:, None]
    sol, *_ = np.linalg.lstsq(X, np.ones(len(t)), rcond=None)
    return Trend(collective, growth, float(sol[0]), float(sol[1])) if np.all(sol >= 0) else carry


def fit_trend(collective: str, pts: list[tuple[int, int, float]]) -> Trend:
    """The trend over (nodes, ranks, time) points at one size (module docstring)."""
    if len(pts) < 2:
        return _fit_growth(collective, pts, None)
    if len(pts) == 2:
        return _fit_growth(collective, pts, "tree")
    last, rest = pts[-1], pts[:-1]

    def miss(growth):
        tr = _fit_growth(collective, rest, growth)
        return abs(math.log(max(tr.time(last[0], last[1]), 1e-300) / last[2]))
    return _fit_growth(collective, pts, min(GROWTH, key=miss))


def point(collective: str, scales: list[Scale], n: float, nnodes: int, nranks: int) -> tuple[float, Trend, bool]:
    """(predicted time, its trend, whether every scale measured n) from `scales`."""
    pts, inside = [], True
    for s in scales:
        t, ok = s.time_at(n)
        pts.append((s.nnodes, s.nranks, t))
        inside &= ok
    trend = fit_trend(collective, pts)
    return trend.time(nnodes, nranks), trend, inside


def own_errors(collective: str, scales: list[Scale], n: float, factor: float) -> tuple[np.ndarray, int]:
    """|log(predicted / measured)| of each scale predicted from the scales at least
    `factor` times smaller, at its measured sizes within NEAR_SIZES below n; and the count
    of scales so predicted."""
    errors, steps = [], 0
    for k, s in enumerate(scales):
        base = [b for b in scales[:k] if b.units * max(factor, 1.0) <= s.units * 1.0001]
        near = s.sizes[(s.sizes >= n / NEAR_SIZES) & (s.sizes <= n * SIZE_SLACK)]
        if not base or not len(near):
            continue
        steps += 1
        for x in near:
            t_pred = point(collective, base, x, s.nnodes, s.nranks)[0]
            errors.append(abs(math.log(t_pred / s.time_at(x)[0])))
    return np.array(errors), steps


def conformal(scores, weights, level: float, plus_one: bool = True) -> float:
    """The weighted split-conformal quantile: the smallest score q with the weight of
    scores <= q at least `level` of the total, one more average weight counted at +inf
    (`plus_one`; without it, the plain weighted quantile)."""
    scores, weights = np.asarray(scores, float), np.asarray(weights, float)
    if not len(scores):
        return math.inf
    order = np.argsort(scores)
    cum = np.cumsum(weights[order]) / (weights.sum() + (weights.mean() if plus_one else 0.0))
    hit = np.nonzero(cum >= level - 1e-12)[0]
    return float(scores[order][hit[0]]) if len(hit) else math.inf


def doublings(factor: float) -> float:
    """max(1, log2 f): the prior's errors grow with the doublings extrapolated."""
    return max(1.0, math.log2(max(factor, 1.0)))


@lru_cache(maxsize=4)
def load_prior(path: str = str(PRIOR_FILE)) -> tuple:
    """The corpus rows: ({series, extrapolation, crossed, error}), or () without the file."""
    p = Path(path)
    if not p.is_file():
        return ()
    return tuple(json.loads(p.read_text(encoding="utf-8"))["errors"])


def _weighted_by_series(rows, scores, level: float) -> float:
    """The weighted quantile (no +1) of one score per corpus row, each series weighing 1
    whatever its placements."""
    per = pd.Series([r["series"] for r in rows]).value_counts()
    weights = [1.0 / per[r["series"]] for r in rows]
    return conformal(scores, weights, level, plus_one=False)


def prior_quantile(factor: float, level: float, exclude: str | None = None, prior=None) -> tuple[float, int]:
    """(the corpus' half-width on log time at this extrapolation factor, series counted):
    the weighted quantile of the corpus' errors, each divided by max(1, log2 f) of its own
    extrapolation, each series weighing 1 whatever its placements, times max(1, log2 f) of
    the target. Without split conformal's +1 (with 16 series it would make the 90% quantile
    the corpus' largest error): the coverage is checked on series left out instead
    (python -m benchmarks.real_series). `exclude`: a series id left out."""
    rows = [r for r in (load_prior() if prior is None else prior)
            if not r["crossed"] and r["series"] != exclude]
    if not rows:
        return math.inf, 0
    scores = [r["error"] / doublings(r["extrapolation"]) for r in rows]
    return _weighted_by_series(rows, scores, level) * doublings(factor), len({r["series"] for r in rows})


def crossed_quantile(level: float, prior=None) -> float:
    """The corpus' half-width on log time for a prediction across a tier no run measured
    (its errors there: 25% to 14x), for the callers that need a finite draw (crossover,
    plan); `predict` itself leaves such an interval unbounded."""
    rows = [r for r in (load_prior() if prior is None else prior) if r["crossed"]]
    if not rows:
        return math.log(100.0)
    return _weighted_by_series(rows, [r["error"] for r in rows], level)


def error_halfwidth(nnodes: int, tier: str, measured: dict, level: float = LEVEL, prior=None) -> float:
    """The half-width on log time the model's own error adds at `nnodes`: 0 inside the
    measured node counts of its tier, the corpus prior at its extrapolation factor beyond
    them, crossed_quantile where no run measured its tier. `measured`: tier -> the largest
    node count measured there."""
    if tier not in measured:
        return crossed_quantile(level, prior)
    factor = nnodes / measured[tier]
    return 0.0 if factor <= 1 else prior_quantile(factor, level, prior=prior)[0]


@dataclass(frozen=True)
class Prediction:
    collective: str
    in_place: bool | None
    nodes: int
    ranks_per_node: int
    nranks: int
    size_bytes: int
    time_us: float
    time_interval_us: list
    busbw_gbps: float
    busbw_interval_gbps: list
    level: float
    extrapolation: float
    tier: str
    basis: str
    warning: str | None
    method: str
    interval_from: str
    heldout_error_pct: float | None = None
    """|error| predicting the largest measured scale of the tier from the smaller (%)"""
    unmeasured_tier: bool = False
    """the target crosses a tier no run measured: the interval is unbounded"""

    def to_json(self) -> dict:
        return asdict(self)


def _words(scales: list[Scale]) -> str:
    nodes = ",".join(str(k) for k in dict.fromkeys(s.nnodes for s in scales))
    ranks = sorted({s.nranks for s in scales})
    span = str(ranks[0]) if len(ranks) == 1 else f"{ranks[0]}-{ranks[-1]}"
    return f"{nodes} node{'s' if nodes != '1' else ''} ({span} ranks)"


def busbw_gbps(collective: str, nranks: int, n: float, t_us: float) -> float:
    """nccl-tests' busbw of n bytes in t_us on nranks (inf for a time of 0)."""
    if t_us <= 0:
        return math.inf
    return float(get_collective(collective).busbw_factor(int(nranks)) * n / (t_us * 1e3))


@dataclass(frozen=True, eq=False)
class KeyModel:
    """One key's usable records, ready to predict from: their scales and domain size."""
    key: dict
    scales: tuple
    domain_size: int | None
    rows: pd.DataFrame = field(repr=False, default=None)
    largest_size: int = 0

    @property
    def collective(self) -> str:
        return self.key["collective"]

    @cached_property
    def _pooled_fit(self):
        """("tiers", HierFit), ("flat", KeyFit) or None: the model `fit` gives these records,
        fitted once for every prediction that needs it."""
        if self.rows["nnodes"].fillna(1).gt(1).any():
            hier = fit_tiers(self.rows, samples=0)
            if hier:
                return "tiers", hier[0]
        fits = fit_frame(self.rows, samples=0)
        return ("flat", fits[0]) if fits else None

    def pooled(self, n: float, nnodes: int, g: int) -> float | None:
        """The time the model `fit` gives these records (tiered where they span tiers,
        else flat) at n bytes on nnodes x g; None where it fits nothing."""
        if self._pooled_fit is None:
            return None
        kind, fit = self._pooled_fit
        return float(fit.predict(n, nnodes, g)[0]) if kind == "tiers" else fit.predict(n, nnodes * g)


def key_model(key: dict, rows: pd.DataFrame) -> KeyModel:
    said = rows["domain_size_nodes"].dropna() if "domain_size_nodes" in rows else []
    domain_size = int(said.max()) if len(said) else None
    return KeyModel(key, tuple(scales_of(rows, domain_size)), domain_size, rows, int(rows["size_bytes"].max()))


def predict(model: KeyModel, nodes: int, size: float, ranks_per_node: int | None = None, level: float = LEVEL,
            exclude: str | None = None, prior=None) -> Prediction:
    """One prediction (module docstring). `exclude`, `prior`: see prior_quantile."""
    scales = list(model.scales)
    if not scales:
        raise PredictError("no measured scale with a known node count: import with --nnodes")
    g = ranks_per_node or scales[-1].ranks_per_node
    P, coll, n = nodes * g, model.collective, float(size)
    target = tier_of(nodes, model.domain_size)
    same = [s for s in scales if s.tier == target and (target == NODE or s.ranks_per_node == g)] or \
           [s for s in scales if s.tier == target]
    units = P if target == NODE else nodes
    factor = units / max(s.units for s in same) if same else nodes / max(s.nnodes for s in scales)
    tier = tier_name(target, model.domain_size)
    warning, heldout = None, None
    if same:
        t, trend, inside = point(coll, same, n, nodes, P)
        method = (f"scale trend over {len(same)} scale{'s' if len(same) > 1 else ''}: "
                  + (f"latency {trend.growth} (a {'N' if trend.growth == 'ring' else 'log2 N'})"
                     if trend.growth else "busbw carried forward"))
        if not inside:
            warning = f"extrapolates in size: {format_size(int(n))} is outside the sizes measured at {_words(same)}"
        errors, steps = own_errors(coll, same, n, factor)
        if steps >= MIN_OWN_STEPS and len(errors) >= MIN_OWN_ERRORS:
            q = conformal(errors, np.ones(len(errors)), level)
            source = f"this series' own errors ({len(errors)} at {steps} scales, each from ones >= {factor:.3g}x smaller)"
        else:
            q, count = prior_quantile(factor, level, exclude, prior)
            source = f"the corpus prior ({count} real series), at {factor:.3g}x"
        if len(same) >= 2:
            t_last = point(coll, same[:-1], n, same[-1].nnodes, same[-1].nranks)[0]
            heldout = abs(t_last / same[-1].time_at(n)[0] - 1) * 100
        bounded = True
    else:
        t = model.pooled(n, nodes, g)
        if t is None:
            raise PredictError(f"the runs measure no {tier} group and fit no model to carry across: "
                               f"measure at least one group of that tier")
        method = "the pooled fit (no scale measured this tier)"
        below = sorted({tier_name(s.tier, model.domain_size) for s in scales})
        warning = (f"crosses the {tier} tier, which no run measured (measured: {', '.join(below)}): "
                   f"the interval is unbounded; measure a group of that tier")
        source, q, bounded = "none: unmeasured tier", math.inf, False
    q = max(q, NOISE_FLOOR)
    lo_t, hi_t = (t * math.exp(-q), t * math.exp(q)) if bounded and math.isfinite(q) else (0.0, None)
    bw = busbw_gbps(coll, P, n, t)
    return Prediction(coll, model.key.get("in_place"), int(nodes), int(g), int(P), int(n), float(t),
                      [float(lo_t), None if hi_t is None else float(hi_t)], bw,
                      [busbw_gbps(coll, P, n, hi_t) if hi_t is not None else 0.0,
                       None if lo_t <= 0 else busbw_gbps(coll, P, n, lo_t)],
                      level, round(factor, 4), tier, _words(same or scales), warning, method, source, heldout,
                      not bounded)

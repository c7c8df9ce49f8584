"""The tiered (hierarchical) model: one set of alpha and bandwidth per tier a group crosses.
The method: docs/methods.md (`reports/model/tiers.py`)."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collectives.domains import INTER_NODE, TIER_NAMES, for_node_count
from collectives.registry import get_collective

from .fit import BOOTSTRAP, HIER_KEY, MAX_REGIMES, MIN_SIZES_PER_REGIME, TIME_FIELD, heldout_errors, segment, usable
from .stats import bootstrap, fit_stats, nnls, per_rank_count, seed_of

SCOPES = ("nodes", "ranks")
"""A tier's kind: "nodes" hierarchical (B(q) n with q its own members), "ranks" flat
(B(Q) n with Q every rank under it)."""
NODE, DOMAIN, NETWORK = 0, 1, 2
"""Tier indices: inside a node, inside a domain, across domains (or across nodes)."""


@dataclass(frozen=True)
class Shapes:
    """Each point's group shape: ranks per node g, nodes per domain m, domains d, ranks P,
    and its outermost tier o (NODE, DOMAIN or NETWORK)."""
    g: np.ndarray
    m: np.ndarray
    d: np.ndarray
    P: np.ndarray
    o: np.ndarray

    def take(self, mask) -> "Shapes":
        return Shapes(self.g[mask], self.m[mask], self.d[mask], self.P[mask], self.o[mask])


def shape_at(nnodes: int, g: int, domain_size: int | None) -> Shapes:
    """The shape of N nodes of g ranks for a prediction: domains filled in order where the
    domain size is known, else every node its own (the two-tier model)."""
    if nnodes <= 1:
        return Shapes(*(np.array([v]) for v in (g, 1, 1, g, NODE)))
    if domain_size is None:
        return Shapes(*(np.array([v]) for v in (g, 1, nnodes, nnodes * g, NETWORK)))
    d, _ = for_node_count(nnodes, domain_size)
    m = math.ceil(nnodes / d)
    return Shapes(*(np.array([v]) for v in (g, m, d, nnodes * g, DOMAIN if d == 1 else NETWORK)))


def tier_design(family, n, s: Shapes, tiers: tuple[int, ...], scopes: dict, bandwidth_only=False) -> np.ndarray:
    """Columns [A, B n] per tier in `tiers` (their order): each point adds the tiers on its
    path (module docstring). `scopes`: tier -> "nodes" or "ranks" for DOMAIN and NETWORK."""
    n = np.asarray(n, dtype=float)
    X = np.zeros((len(n), 2 * len(tiers)))
    below = np.ones(len(n), dtype=bool)  # still descending: every tier passed so far was hierarchical
    for k in (NETWORK, DOMAIN, NODE):
        on_path = below & (s.o >= k)
        if k == NODE:
            q = s.g
        elif scopes.get(k) == "ranks":
            q = s.P if k == NETWORK else s.g * s.m
        else:
            q = s.d if k == NETWORK else s.m
        if k in tiers and on_path.any():
            j = tiers.index(k)
            X[on_path, 2 * j] = per_rank_count(family.steps, q[on_path])
            X[on_path, 2 * j + 1] = per_rank_count(family.data, q[on_path]) * n[on_path]
        if k != NODE and scopes.get(k) == "ranks":
            below &= s.o < k  # a flat tier stops the descent of the points that reach it
    if bandwidth_only:
        X[:, 0::2] = 0.0
    return X


def _choose(families, n, s, t, tiers, bandwidth_only):
    """(family, scopes, theta, rss) with the smallest residual over every family and kind."""
    outer = [k for k in tiers if k != NODE]
    best = None
    for family in families:
        for kinds in itertools.product(SCOPES, repeat=len(outer)):
            scopes = dict(zip(outer, kinds))
            theta, rss = nnls(tier_design(family, n, s, tiers, scopes, bandwidth_only), t)
            if best is None or rss < best[3] - 1e-12:
                best = (family, scopes, theta, rss)
    return best


@dataclass(frozen=True)
class Tier:
    name: str
    """intra_node, intra_domain, inter_domain, or inter_node (domains unknown)"""
    scope: str | None
    """"nodes" (hierarchical), "ranks" (flat); None for intra_node"""
    fabric: str
    nnodes: tuple
    """the node counts of the points whose outermost tier this is"""
    nranks: tuple
    points: int


@dataclass(frozen=True)
class TierRegime:
    """The tiers over one range of sizes (libraries switch protocol with size, as in the
    flat fit's regimes), with their family and kinds."""
    size_lo: int
    size_hi: int
    family: object
    scopes: dict
    """tier index -> "nodes" or "ranks" for the tiers beyond the node"""
    theta: np.ndarray
    """[alpha_us, beta_us_per_byte] per tier, in the order of `tiers`"""
    boot: np.ndarray = field(repr=False, default=None)
    tiers: tuple = ()
    """Tier per fitted tier, innermost first"""
    r2: float = math.nan
    mape_pct: float = math.nan
    points: int = 0

    @property
    def indices(self) -> tuple:
        return tuple(_INDEX[t.name] for t in self.tiers)


@dataclass(frozen=True)
class HierFit:
    key: dict
    ranks_per_node: int
    regimes: tuple
    """TierRegime per size range, smallest sizes first"""
    domain_size_nodes: int | None = None
    """nodes per domain for predictions (None: domains unknown, two tiers)"""
    alpha_identified: bool = True
    r2: float = math.nan
    mape_pct: float = math.nan
    heldout_mape_pct: float | None = None
    heldout_nnodes: int | None = None
    heldout_note: str = ""
    points: int = 0
    nnodes: tuple = ()

    @property
    def top(self) -> TierRegime:
        """The regime of the largest sizes: the bandwidths a reader asks for."""
        return self.regimes[-1]

    family = property(lambda self: self.top.family)
    theta = property(lambda self: self.top.theta)
    boot = property(lambda self: self.top.boot)
    tiers = property(lambda self: self.top.tiers)

    @property
    def inter(self) -> str:
        """The outermost tier's kind ("nodes" or "ranks") at the largest sizes."""
        return self.tiers[-1].scope or "nodes"

    @property
    def fabric_intra(self) -> str:
        return self.tiers[0].fabric

    @property
    def fabric_inter(self) -> str:
        return self.tiers[-1].fabric

    def regime_for(self, n: float) -> TierRegime:
        """The regime whose size range holds n (the nearest one outside them all)."""
        return next((r for r in self.regimes if n <= r.size_hi), self.regimes[-1])

    def tier_at(self, nnodes: int) -> str:
        """The outermost tier a group of `nnodes` whole nodes crosses."""
        o = int(shape_at(nnodes, self.ranks_per_node, self.domain_size_nodes).o[0])
        return _name(o, self.domain_size_nodes is not None)

    def _row(self, n: float, nnodes, ranks_per_node) -> tuple[np.ndarray, TierRegime]:
        r = self.regime_for(n)
        s = shape_at(int(nnodes), int(ranks_per_node), self.domain_size_nodes)
        return tier_design(r.family, [n], s, r.indices, r.scopes, not self.alpha_identified)[0], r

    def predict(self, n, nnodes, ranks_per_node) -> np.ndarray:
        """Predicted time (us) of each size in `n` at nnodes x ranks_per_node."""
        out = []
        for x in np.atleast_1d(n):
            row, r = self._row(float(x), nnodes, ranks_per_node)
            out.append(float(row @ r.theta))
        return np.array(out)

    def predict_samples(self, n, nnodes, ranks_per_node):
        row, r = self._row(float(n), nnodes, ranks_per_node)
        return row @ r.boot.T


_INDEX = {"intra_node": NODE, "intra_domain": DOMAIN, "inter_domain": NETWORK, INTER_NODE: NETWORK}


def _name(k: int, domains_known: bool) -> str:
    return INTER_NODE if k == NETWORK and not domains_known else TIER_NAMES[k]


def hier_design(family, n, nnodes, g, inter="nodes") -> np.ndarray:
    """The two-tier design (domains unknown): columns [A, B n] inside the node and across
    nodes, the tier across nodes hierarchical ("nodes") or flat ("ranks")."""
    nnodes = np.asarray(nnodes, dtype=int)
    g = np.broadcast_to(np.asarray(g, dtype=int), nnodes.shape)
    multi = nnodes > 1
    s = Shapes(g, np.ones_like(nnodes), np.maximum(nnodes, 1), np.maximum(nnodes, 1) * g,
               np.where(multi, NETWORK, NODE))
    return tier_design(family, n, s, (NODE, NETWORK), {NETWORK: inter})


def _shapes(rows: pd.DataFrame, domains_known: bool) -> Shapes:
    nn = rows["nnodes"].to_numpy(int)
    multi = nn > 1
    g = np.where(multi, rows["ranks_per_node"].fillna(1).to_numpy(int), rows["nranks"].to_numpy(int))
    if domains_known:
        d = np.where(multi, rows["ndomains"].fillna(1).to_numpy(float), 1).astype(int)
        per = rows["nodes_per_domain"].to_numpy(float)
        m = np.where(np.isnan(per), np.ceil(nn / np.maximum(d, 1)), per).astype(int)
        m = np.where(multi, m, 1)
        o = np.where(~multi, NODE, np.where(d > 1, NETWORK, DOMAIN))
    else:
        d, m = np.maximum(nn, 1), np.ones_like(nn)
        o = np.where(multi, NETWORK, NODE)
    return Shapes(g, m, d, rows["nranks"].to_numpy(int), o)


def _domain_size(rows: pd.DataFrame, s: Shapes) -> int | None:
    """The whole domain's node count: the records' where they say it, else the most nodes
    seen in one domain (a lower bound: predictions then cross the boundary no later)."""
    said = rows["domain_size_nodes"].dropna()
    if len(said):
        return int(said.max())
    return int(s.m.max())


def _rows(group: pd.DataFrame) -> tuple[pd.DataFrame, bool] | None:
    """A key's points for the tiered fit and whether the domains are known; None where they
    span fewer than two tiers."""
    multi = group[(group["nnodes"] > 1) & group["ranks_per_node"].notna()]
    single = group[group["nnodes"] == 1]  # an unknown node count (NaN) is in neither
    if multi.empty:
        return None
    single = single[single["nranks"] <= int(multi["ranks_per_node"].max())]
    known = bool(multi["ndomains"].notna().all())
    rows = pd.concat([single, multi])
    nd = rows["ndomains"].fillna(1).to_numpy(float)
    tiers_seen = {0} if len(single) else set()
    tiers_seen |= ({2} if not known else set(np.where(nd[len(single):] > 1, 2, 1)))
    return (rows, known) if len(tiers_seen) >= 2 else None


def fit_tiers(df: pd.DataFrame, samples=BOOTSTRAP) -> list[HierFit]:
    """One HierFit per (collective, backend, device, dtype, timing) whose points cross at
    least two tiers (whole hosts: the same ranks on each)."""
    fits = []
    for values, group in usable(df).groupby(list(HIER_KEY), sort=True):
        found = _rows(group)
        if found is None:
            continue
        rows, known = found
        fits.append(_fit_key(dict(zip(HIER_KEY, values)), rows, known, samples))
    return fits


@dataclass(frozen=True)
class _Points:
    """One key's points as the tiered fit takes them."""
    n: np.ndarray
    t: np.ndarray
    nn: np.ndarray
    s: Shapes
    fabrics: np.ndarray

    def take(self, mask) -> "_Points":
        return _Points(self.n[mask], self.t[mask], self.nn[mask], self.s.take(mask), self.fabrics[mask])


def _cuts(families, pts: _Points, tiers, bw_only) -> list[tuple]:
    """[(lo, hi, (family, scopes))]: the sizes cut into regimes by BIC as the flat fit does
    (reports/model/fit.py: segment), each with its own family and kinds; one regime under 3 sizes."""
    if bw_only:
        family, scopes, _, _ = _choose(families, pts.n, pts.s, pts.t, tiers, bw_only)
        return [(pts.n.min(), pts.n.max(), (family, scopes))]

    def cost(mask):
        family, scopes, _, rss = _choose(families, pts.n[mask], pts.s.take(mask), pts.t[mask], tiers, bw_only)
        return rss, (family, scopes)
    return segment(pts.n, cost, MAX_REGIMES, params_per_regime=2 * len(tiers))


def _regimes(families, pts: _Points, tiers, bw_only, known, samples, rng) -> tuple:
    """The TierRegimes of one key: cuts, then per regime theta, bootstrap and statistics."""
    out = []
    for lo, hi, (family, scopes) in _cuts(families, pts, tiers, bw_only):
        r = pts.take((pts.n >= lo) & (pts.n <= hi))
        X = tier_design(family, r.n, r.s, tiers, scopes, bw_only)
        theta, _ = nnls(X, r.t)
        boot = bootstrap(X, r.t, rng, samples) if samples else theta[None, :]
        r2, mape_pct = fit_stats(r.t, X @ theta)
        out.append(TierRegime(int(lo), int(hi), family, scopes, theta, boot, _tier_info(r, tiers, scopes, known),
                              r2, mape_pct, len(r.t)))
    return tuple(out)


def _tier_info(pts: _Points, tiers, scopes, known) -> tuple:
    out = []
    for k in tiers:
        mine = pts.s.o == k
        out.append(Tier(_name(k, known), scopes.get(k), ",".join(sorted(set(pts.fabrics[mine]))),
                        tuple(int(v) for v in np.unique(pts.nn[mine])),
                        tuple(int(v) for v in np.unique(pts.s.P[mine])), int(mine.sum())))
    return tuple(out)


def _predict(regimes, pts: _Points, bw_only) -> np.ndarray:
    """Each point's time from the regime holding its size."""
    pred = np.empty(len(pts.n))
    for i, x in enumerate(pts.n):
        r = next((r for r in regimes if x <= r.size_hi), regimes[-1])
        pred[i] = tier_design(r.family, [x], pts.s.take([i]), r.indices, r.scopes, bw_only)[0] @ r.theta
    return pred


def _fit_key(key: dict, rows: pd.DataFrame, known: bool, samples: int) -> HierFit:
    s = _shapes(rows, known)
    pts = _Points(rows["size_bytes"].to_numpy(float), rows[TIME_FIELD].to_numpy(float),
                  rows["nnodes"].to_numpy(float), s, rows["fabric"].fillna("").to_numpy(str))
    tiers = tuple(sorted(set(int(k) for k in s.o)))
    families = get_collective(key["collective"]).families
    bw_only = len(np.unique(pts.n)) < MIN_SIZES_PER_REGIME
    regimes = _regimes(families, pts, tiers, bw_only, known, samples, np.random.default_rng(seed_of(key)))
    r2, mape_pct = fit_stats(pts.t, _predict(regimes, pts, bw_only))
    held = _held_out(families, pts, tiers, bw_only, known)
    g_multi = int(rows.loc[rows["nnodes"] > 1, "ranks_per_node"].max())
    return HierFit(key, g_multi, regimes, domain_size_nodes=_domain_size(rows, s) if known else None,
                   alpha_identified=not bw_only, r2=r2, mape_pct=mape_pct, points=len(pts.t),
                   nnodes=tuple(int(v) for v in np.unique(pts.nn)), **held)


def _held_out(families, pts: _Points, tiers, bw_only, known) -> dict:
    """HierFit's held-out fields: the largest node count predicted by a fit (regime cuts,
    family and kinds chosen again) made without it, where its tier is measured without it."""
    top = pts.nn.max()
    top_tier = int(pts.s.o[pts.nn == top][0])
    name = _name(top_tier, known)
    if not np.any(pts.s.o[pts.nn < top] == top_tier):
        counts = ", ".join(str(int(v)) for v in np.unique(pts.nn[pts.s.o == top_tier]))
        return {"heldout_note": f"no held-out error: the {name} tier is measured at one node count ({counts}), so "
                                f"none can be predicted from the others"}

    def refit(rest, top):
        regimes = _regimes(families, pts.take(rest), tiers, bw_only, known, 0, None)
        return _predict(regimes, pts.take(~rest), bw_only)
    errors, top, _ = heldout_errors(pts.nn, pts.t, refit)
    mape = float(np.mean(errors) * 100)
    return {"heldout_mape_pct": mape, "heldout_nnodes": int(top),
            "heldout_note": f"held-out error {mape:.1f}% predicting {int(top)} nodes ({name}) from the fewer"}

"""What crossover and plan price communication with: the CommModel protocol, and its
implementations from the fits (FlatModel, TieredModel; choose_model picks one) with the
model's own error past the measured scale (WithModelError). The stated-rates model is
reports/planning/stated_rates.py. docs/model.md (crossover) has the method."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from statistics import NormalDist
from typing import Protocol, runtime_checkable

import numpy as np

from reports.model.fit import KeyFit
from reports.model.predict import error_halfwidth, tier_name, tier_of as tier_index
from reports.model.tiers import HierFit


class CrossoverError(ValueError):
    """The runs cannot answer for this workload; the message names the problem and the fix."""


@runtime_checkable
class CommModel(Protocol):
    """A collective's time at n bytes on nnodes x gpus_per_node, with its uncertainty."""
    describe: str
    domain_size_nodes: int | None

    def predict_us(self, n: float, nnodes: int, gpus_per_node: int) -> float:
        """The predicted time (us)."""

    def samples_us(self, n: float, nnodes: int, gpus_per_node: int) -> np.ndarray:
        """One time (us) per bootstrap sample."""

    def fabric(self, nnodes: int) -> str:
        """The fabric the prediction at that scale rests on."""

    def tier(self, nnodes: int) -> str | None:
        """The outermost tier a step at that scale crosses; None for a flat model."""

    def heldout_pct(self, n: float) -> float | None:
        """The held-out MAPE (%) of the fit used at that message size."""

    def heldout_note(self, n: float) -> str | None:
        """What was held out and predicted from what, or why nothing could be."""

    def error_halfwidth(self, nnodes: int) -> float | None:
        """The half-width on log time the model's own error adds there; None where not priced in."""


@dataclass(frozen=True)
class TieredModel:
    """A tiered fit (reports/model/tiers.py) as a CommModel."""
    fit: HierFit
    describe: str

    @property
    def domain_size_nodes(self) -> int | None:
        return self.fit.domain_size_nodes

    def predict_us(self, n, nnodes, gpus_per_node) -> float:
        return float(self.fit.predict(n, nnodes, gpus_per_node)[0])

    def samples_us(self, n, nnodes, gpus_per_node) -> np.ndarray:
        return self.fit.predict_samples(n, nnodes, gpus_per_node)

    def fabric(self, nnodes) -> str:
        return {t.name: t.fabric for t in self.fit.tiers}.get(self.fit.tier_at(nnodes), self.fit.fabric_inter)

    def tier(self, nnodes) -> str | None:
        return self.fit.tier_at(nnodes)

    def heldout_pct(self, n) -> float | None:
        return self.fit.heldout_mape_pct

    def heldout_note(self, n) -> str | None:
        return self.fit.heldout_note

    def error_halfwidth(self, nnodes) -> float | None:
        return None


@dataclass(frozen=True)
class FlatModel:
    """Flat fits (reports/model/fit.py) as a CommModel: `one` on one node, `many` (the
    network's, where measured) across nodes, at p = nnodes x gpus_per_node ranks."""
    one: KeyFit
    many: KeyFit | None
    describe: str
    domain_size_nodes: int | None = None

    def _fit(self, nnodes) -> KeyFit:
        return self.one if nnodes == 1 or self.many is None else self.many

    def predict_us(self, n, nnodes, gpus_per_node) -> float:
        return self._fit(nnodes).predict(n, nnodes * gpus_per_node)

    def samples_us(self, n, nnodes, gpus_per_node) -> np.ndarray:
        return self._fit(nnodes).predict_samples(n, nnodes * gpus_per_node)

    def fabric(self, nnodes) -> str:
        return self._fit(nnodes).key["fabric"]

    def tier(self, nnodes) -> str | None:
        return None

    def heldout_pct(self, n) -> float | None:
        return (self.many or self.one).regime_for(n).heldout_mape_pct

    def heldout_note(self, n) -> str | None:
        fit = self.many or self.one
        regime = fit.regime_for(n)
        if regime.heldout_mape_pct is not None:
            return (f"held-out error {regime.heldout_mape_pct:.1f}% predicting {regime.heldout_nranks} ranks from a "
                    f"fit on {', '.join(map(str, fit.heldout_from))}")
        counts = sorted({q for r in fit.regimes for q in r.nranks})
        if len(counts) == 1:
            return f"no held-out error: one rank count measured ({counts[0]})"
        return f"no held-out error at this size: its regime has no points at the largest rank count ({counts[-1]})"

    def error_halfwidth(self, nnodes) -> float | None:
        return None


@dataclass(frozen=True)
class WithModelError:
    """`model` whose samples also carry its error when it extrapolates (reports/model/predict.py:
    error_halfwidth): each bootstrap sample's time times exp(z sigma), z one standard normal
    per sample (the same at every node count, so the draws stay coherent across scales),
    sigma the half-width at `level` over its normal quantile. Predictions are unchanged."""
    model: CommModel
    measured: dict
    """tier name -> the largest node count measured in it"""
    level: float = 0.9
    _z: dict = field(default_factory=dict, repr=False, compare=False)

    describe = property(lambda self: self.model.describe)
    domain_size_nodes = property(lambda self: self.model.domain_size_nodes)

    def predict_us(self, n, nnodes, gpus_per_node) -> float:
        return self.model.predict_us(n, nnodes, gpus_per_node)

    def fabric(self, nnodes) -> str:
        return self.model.fabric(nnodes)

    def tier(self, nnodes) -> str | None:
        return self.model.tier(nnodes)

    def heldout_pct(self, n) -> float | None:
        return self.model.heldout_pct(n)

    def heldout_note(self, n) -> str | None:
        return self.model.heldout_note(n)

    @cached_property
    def z_level(self) -> float:
        """The standard normal quantile of `level`'s two-sided interval."""
        return NormalDist().inv_cdf((1 + self.level) / 2)

    def error_halfwidth(self, nnodes) -> float:
        return error_halfwidth(int(nnodes), _tier_of(self.model, int(nnodes)), self.measured, self.level)

    def samples_us(self, n, nnodes, gpus_per_node) -> np.ndarray:
        base = np.asarray(self.model.samples_us(n, nnodes, gpus_per_node), dtype=float)
        q = self.error_halfwidth(nnodes)
        if q <= 0:
            return base
        z = self._z.setdefault(base.shape, np.random.default_rng(0).standard_normal(base.shape))
        return base * np.exp(z * q / self.z_level)


def _tier_of(model: CommModel, nnodes: int) -> str:
    """The model's tier at that scale; a flat model's from the node count alone."""
    return model.tier(nnodes) or tier_name(tier_index(nnodes, model.domain_size_nodes), model.domain_size_nodes)


def with_model_error(model: CommModel, measured_nodes, level: float = 0.9) -> WithModelError:
    """`model` with its own error past the largest node count measured in each tier."""
    measured = {}
    for k in sorted({int(v) for v in measured_nodes}):
        measured[_tier_of(model, k)] = k
    return WithModelError(model, measured, level)


def _backend(fits, hier, collective: str, backend: str | None) -> str:
    mine = [f for f in fits if f.key["collective"] == collective]
    backends = sorted({f.key["backend"] for f in mine} | {h.key["backend"] for h in hier if h.key["collective"] == collective})
    if not backends:
        raise CrossoverError(f"the runs have no fitted {collective}: sweep it (--collectives {collective}) and fit again")
    if backend is None:
        if len(backends) > 1:
            raise CrossoverError(f"the runs fit {collective} on {', '.join(backends)}: choose one with --backend")
        return backends[0]
    if backend not in backends:
        raise CrossoverError(f"no {collective} fit for backend {backend!r} (have {', '.join(backends)}): choose one of those")
    return backend


def choose_model(fits: list[KeyFit], hier: list[HierFit], collective: str, backend: str | None,
                 dtype: str) -> CommModel:
    """The hierarchical fit for the collective if there is one, else the flat fit(s)."""
    backend = _backend(fits, hier, collective, backend)

    def pick(items):
        same = [i for i in items if i.key["dtype"] == dtype]
        return (same or items)[0]

    hiers = [h for h in hier if h.key["collective"] == collective and h.key["backend"] == backend]
    if hiers:
        h = pick(hiers)
        tiers = ", ".join(f"{t.name} {t.fabric}" for t in h.tiers)
        return TieredModel(h, f"hierarchical {collective}/{backend}/{h.key['dtype']} ({h.family.name}; {tiers})")
    flat = [f for f in fits if f.key["collective"] == collective and f.key["backend"] == backend]
    net = [f for f in flat if f.key["fabric"] == "net"]
    local = [f for f in flat if f.key["fabric"] != "net"] or net
    one, many = pick(local), pick(net) if net else None
    describe = (f"flat {collective}/{backend}/{one.key['dtype']}: {one.key['fabric']} on one node, "
                + (f"{many.key['fabric']} across nodes" if many else
                   f"{one.key['fabric']} beyond one node too (no multi-node points: the network is not in this model)"))
    return FlatModel(one, many, describe)

"""A training plan: the step of an `llm` workload (reports/planning/llm.py) priced by the fitted
models of the collectives it calls, at each node count asked for.
The method: docs/methods.md (`reports/planning/training_plan.py`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from reports.model.stats import ci95
from reports.planning.pricing import CommModel, CrossoverError, choose_model
from reports.planning.results import KindCost, PlanResult, PlanRow
from reports.planning.llm import KINDS_ORDER, LLM, bubble, communications, group_shape, layout_at, window_fraction

STAND_INS = {
    "reduce_scatter": (("all_reduce", 0.5),),
    "all_gather": (("all_reduce", 0.5),),
    "all_to_all": (("all_gather", 1.0), ("all_reduce", 0.5)),
    "sendrecv": (("all_reduce", 1.0),),
    "all_reduce": (("reduce_scatter", 2.0), ("all_gather", 2.0)),
}
"""A collective the runs lack -> (the one priced instead, the factor on its time), in order of preference."""


@dataclass(frozen=True)
class Priced:
    collective: str
    model: CommModel
    factor: float
    stand_in: str | None
    """The collective measured in its place (None: measured itself)."""
    ranks_per_node: int | None = None
    """Ranks per node of its measurements across nodes (None: none, or the model scales itself)."""

    def network_share(self, nnodes: int, ranks_per_node: int, rails: int) -> float:
        """The fraction of the measured network a group of this shape crosses nodes through."""
        if nnodes < 2 or not self.ranks_per_node or ranks_per_node >= self.ranks_per_node:
            return 1.0
        return min(ranks_per_node, rails) / min(self.ranks_per_node, rails)


def pricing(fits, hier, collectives, backend, dtype, choose=choose_model, ranks_per_node=None) -> dict[str, Priced]:
    """The model used for each collective (`choose`: crossover.choose_model's signature); a
    missing one is priced by its stand-in. `ranks_per_node`: collective -> ranks per node
    of its measurements across nodes."""
    rpn = ranks_per_node or {}
    def model_of(name):
        try:
            return choose(fits, hier, name, backend, dtype)
        except CrossoverError:
            return None

    out = {}
    for name in collectives:
        model = model_of(name)
        if model is not None:
            out[name] = Priced(name, model, 1.0, None, rpn.get(name))
            continue
        for other, factor in STAND_INS.get(name, ()):
            model = model_of(other)
            if model is not None:
                out[name] = Priced(name, model, factor, other, rpn.get(other))
                break
        else:
            raise CrossoverError(f"the runs have no fitted {name} nor a stand-in for it: sweep it "
                                 f"(--collectives {name}) and fit again")
    return out


def needed_collectives(w: LLM, nodes, gpus_per_node: int) -> list[str]:
    seen = {}
    for n in nodes:
        lay = layout_at(w, n, gpus_per_node)
        if lay.problem is None:
            seen.update(dict.fromkeys(c.collective for c in communications(w, lay)))
    return list(seen)


def plan_row(w: LLM, nnodes: int, gpus_per_node: int, priced: dict, rate_tflops: float, peak_tflops: float,
             measured_nodes: int, rails: int | None = None) -> PlanRow:
    """One node count's step: every figure of the module docstring (seconds as ms)."""
    lay = layout_at(w, nnodes, gpus_per_node)
    head = dict(nnodes=nnodes, nranks=lay.ranks, dp=lay.dp, microbatches=lay.microbatches,
                extrapolation=nnodes / measured_nodes if measured_nodes else None)
    if lay.problem:
        return PlanRow(**head, problem=lay.problem)
    flops = w.step_flops()
    compute_s = flops["hardware"] / lay.ranks / (rate_tflops * 1e12)
    kinds, draws, calls = {}, {}, []
    for c in communications(w, lay):
        N, G = group_shape(c.group, c.stride, gpus_per_node)
        pr = priced[c.collective]
        share = pr.network_share(N, G, rails or gpus_per_node)
        one_us = pr.factor * pr.model.predict_us(c.size_bytes / share, N, G)
        samples_us = pr.factor * np.asarray(pr.model.samples_us(c.size_bytes / share, N, G), dtype=float)
        kinds[c.kind] = kinds.get(c.kind, 0.0) + c.count * one_us * 1e-6
        draws[c.kind] = draws.get(c.kind, 0.0) + c.count * samples_us * 1e-6
        tier = pr.model.tier(N) or pr.model.fabric(N)
        calls.append({"kind": c.kind, "collective": c.collective, "priced_as": pr.stand_in, "size_bytes": c.size_bytes,
                      "count": c.count, "group_ranks": c.group, "group_nodes": N, "ranks_per_node": G, "tier": tier,
                      "network_share": share,
                      "time_us": one_us, "source": "fit, measured range" if N <= measured_nodes else "extrapolated"})
    size = min((len(np.atleast_1d(v)) for v in draws.values()), default=1)
    draws = {k: np.atleast_1d(v)[:size] for k, v in draws.items()}
    b = bubble(w, lay)

    def step(comm):
        """(step, exposed per kind, the pipeline's busy time: compute and the exposed tp, ep, pp)."""
        exposed = {k: np.maximum(0.0, comm[k] - w.overlap[k] * window_fraction(w, k, lay) * compute_s) for k in comm}
        busy = compute_s + sum((exposed[k] for k in exposed if k != "dp"), 0.0)
        return busy * (1 + b) + exposed.get("dp", 0.0), exposed, busy

    step_s, exposed, busy = step(kinds)
    step_draws = step(draws)[0] if draws else np.array([step_s])
    tokens = w.global_batch * w.seq
    return PlanRow(
        **head, compute_ms=compute_s * 1e3, bubble=b, bubble_ms=busy * b * 1e3,
        step_ms=step_s * 1e3, step_ms_ci=[v * 1e3 for v in ci95(step_draws)],
        tokens_per_s=tokens / step_s, tokens_per_s_ci=sorted(tokens / v for v in ci95(step_draws)),
        tflops_per_gpu=flops["hardware"] / lay.ranks / step_s / 1e12,
        mfu=flops["model"] / lay.ranks / step_s / (peak_tflops * 1e12),
        kinds={k: KindCost(comm_ms=kinds[k] * 1e3, comm_ms_ci=[v * 1e3 for v in ci95(draws[k])],
                           window_ms=window_fraction(w, k, lay) * compute_s * 1e3, overlap=w.overlap[k],
                           exposed_ms=float(exposed[k]) * 1e3, hidden_ms=(kinds[k] - float(exposed[k])) * 1e3)
               for k in KINDS_ORDER if k in kinds},
        calls=tuple(calls))


def first_nodes(rows: list[PlanRow]) -> dict:
    """Per kind, the first node count where it exceeds its window and where it is exposed."""
    out = {}
    for k in KINDS_ORDER:
        seen = [r for r in rows if k in r.kinds]
        if not seen:
            continue
        over = next((r.nnodes for r in seen if r.kinds[k].comm_ms > r.kinds[k].window_ms), None)
        shown = next((r.nnodes for r in seen if r.kinds[k].exposed_ms > 0), None)
        out[k] = {"exceeds_window_nodes": over, "exposed_nodes": shown}
    return out


def plan(w: LLM, priced: dict, rate_tflops: float, peak_tflops: float, gpus_per_node: int, nodes,
         measured_nodes: int, rails: int | None = None) -> PlanResult:
    """The whole plan: a row per node count, the models used, the first scales per kind."""
    rows = tuple(plan_row(w, n, gpus_per_node, priced, rate_tflops, peak_tflops, measured_nodes, rails) for n in nodes)
    return PlanResult(
        workload=asdict(w), params=w.params(), step_flops=w.step_flops(),
        compute_tflops=rate_tflops, peak_tflops=peak_tflops, gpus_per_node=gpus_per_node,
        rails=rails or gpus_per_node, measured_nodes=measured_nodes,
        models={name: {"model": pr.model.describe, "priced_as": pr.stand_in, "factor": pr.factor,
                       "measured_ranks_per_node": pr.ranks_per_node}
                for name, pr in priced.items()},
        first=first_nodes([r for r in rows if r.fits]), rows=rows)

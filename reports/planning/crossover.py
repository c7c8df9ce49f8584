"""Where communication overtakes compute: the crossover node count of a workload.
The method: docs/methods.md (`reports/planning/crossover.py`)."""
from __future__ import annotations

import math

import numpy as np

from reports.planning.workloads import Workload

from .pricing import CommModel
from .results import EXTRAPOLATED, MEASURED, CrossoverResult, CrossoverRow


def boundary_words(tier: str | None, domain_size_nodes: int | None) -> str:
    """Where a tier starts, in words: 'beyond one domain (18 nodes)'."""
    return {"intra_node": "within one node", "inter_node": "beyond one node",
            "intra_domain": f"beyond one node, inside one domain ({domain_size_nodes} nodes)",
            "inter_domain": f"beyond one domain ({domain_size_nodes} nodes)"}.get(tier, "")


def _first_over(exceeds: np.ndarray) -> np.ndarray:
    """Index of the first True along the last axis; -1 where there is none."""
    first = np.argmax(exceeds, axis=-1)
    return np.where(exceeds.any(axis=-1), first, -1)


def _nodes_ci(first_idx: np.ndarray) -> list:
    nodes = np.where(first_idx >= 0, first_idx + 1.0, math.inf)
    with np.errstate(invalid="ignore"):  # inf - inf between two samples past the limit: nan, "beyond the limit"
        lo, hi = np.percentile(nodes, [2.5, 97.5])
    return [None if not math.isfinite(v) else int(round(v)) for v in (lo, hi)]


def crossover(workload: Workload, model: CommModel, rate_tflops: float, gpus_per_node: int, limit: int,
              measured_nodes: int, measured_ranks: int, overlap: float | None = None) -> CrossoverResult:
    """Every figure of the crossover (see the module docstring)."""
    overlap = workload.overlap if overlap is None else overlap
    N = np.arange(1, limit + 1)
    steps = [workload.step(int(k), gpus_per_node) for k in N]
    flops = np.array([s[0] for s in steps])
    count = np.array([s[1] for s in steps], dtype=float)
    nbytes = np.array([s[2] for s in steps])
    compute_s = flops / (rate_tflops * 1e12)
    comm_s = np.array([c * model.predict_us(b, int(k), gpus_per_node) * 1e-6 for c, b, k in zip(count, nbytes, N)])
    samples = np.array([c * model.samples_us(b, int(k), gpus_per_node) * 1e-6
                        for c, b, k in zip(count, nbytes, N)]).T  # (bootstrap, limit)
    cross, hidden = _first_over(comm_s > compute_s), _first_over(comm_s > overlap * compute_s)
    at = cross if cross >= 0 else limit - 1  # the message size the answer rests on
    crossing = int(cross + 1) if cross >= 0 else None
    tier = model.tier(crossing) if crossing else None
    shown = {2 ** i for i in range(limit.bit_length()) if 2 ** i <= limit} | {measured_nodes}
    shown |= {v for v in (crossing, int(hidden + 1) if hidden >= 0 else None) if v}
    rows = tuple(_row(k, model, gpus_per_node, rate_tflops, measured_nodes, measured_ranks, compute_s[k - 1],
                      comm_s[k - 1], samples[:, k - 1], count[k - 1], nbytes[k - 1], flops[k - 1])
                 for k in sorted(v for v in shown if 1 <= v <= limit))
    return CrossoverResult(
        workload={"name": workload.name, "kind": workload.kind, "scaling": workload.scaling, "dtype": workload.dtype,
                  **workload.fields},
        collective=workload.collective, model=model.describe, heldout_mape_pct=model.heldout_pct(nbytes[at]),
        heldout_note=model.heldout_note(nbytes[at]),
        compute_tflops=rate_tflops, gpus_per_node=gpus_per_node, overlap=overlap, limit_nodes=limit,
        measured_nodes=measured_nodes, measured_ranks=measured_ranks, crossover_nodes=crossing,
        crossover_nodes_ci=_nodes_ci(_first_over(samples > compute_s)),
        hidden_crossover_nodes=int(hidden + 1) if hidden >= 0 else None,
        hidden_crossover_nodes_ci=_nodes_ci(_first_over(samples > overlap * compute_s)),
        domain_size_nodes=model.domain_size_nodes, crossover_tier=tier,
        crossover_boundary=boundary_words(tier, model.domain_size_nodes) or None, rows=rows)


def _error_pct(halfwidth: float | None) -> float | None:
    return None if halfwidth is None else (math.exp(halfwidth) - 1) * 100


def _row(k, model, gpus_per_node, rate_tflops, measured_nodes, measured_ranks, compute_s, comm_s, samples, count,
         nbytes, flops) -> CrossoverRow:
    """The crossover table's row at k nodes, from that scale's compute, communication and samples."""
    lo, hi = np.percentile(samples, [2.5, 97.5])
    comm_bytes = count * nbytes
    measured = k <= measured_nodes and k * gpus_per_node <= measured_ranks
    return CrossoverRow(
        nnodes=k, nranks=k * gpus_per_node, fabric=model.fabric(k), tier=model.tier(k),
        source=MEASURED if measured else EXTRAPOLATED, extrapolation=k / measured_nodes,
        model_error_pct=_error_pct(model.error_halfwidth(k)),
        compute_ms=compute_s * 1e3, comm_ms=comm_s * 1e3, comm_ms_ci=[lo * 1e3, hi * 1e3],
        comm_over_compute=comm_s / compute_s, bytes_per_message=nbytes, messages=int(count),
        workload_flops_per_byte=flops / comm_bytes if comm_bytes else None,
        needed_flops_per_byte=rate_tflops * 1e12 * comm_s / comm_bytes if comm_bytes else None)

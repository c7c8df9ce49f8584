"""Analytical cost families: T(n, p) = alpha * A(p) + n * B(p) / bandwidth.

n is the nccl-tests size in bytes (`size_bytes`), p the ranks taking part, alpha the
per-step latency and bandwidth the per-link rate (the Hockney model: beta = 1/bandwidth).
Each family is an algorithm a library may use; a collective's spec lists its candidates
(`CollectiveSpec.families`) and the fit (reports/model/fit.py) picks among them.

Sources for the step counts A(p) and data factors B(p):
- R. Thakur, R. Rabenseifner, W. Gropp, "Optimization of Collective Communication
  Operations in MPICH", IJHPCA 19(1), 2005 (Thakur 2005): binomial tree, recursive
  doubling/halving, Rabenseifner's reduce-scatter + all-gather, Bruck, pairwise exchange,
  scatter + all-gather broadcast. Their reduction compute term (gamma) is folded into the
  bandwidth here: the fit measures the sum.
- P. Patarasuk, X. Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
  workstations", JPDC 69(2), 2009: the ring all-reduce, 2(p-1) steps of n/p bytes.
- NCCL's rings pipeline broadcast and reduce: p-1 hops of latency, the buffer through
  each link once; nccl-tests doc/PERFORMANCE.md gives the matching bus-bandwidth factors.

log2 p is rounded up (Thakur 2005 uses ceil(lg p)) so non-powers of two cost a full step.
Where B(p) equals the collective's busbw factor (the ring families), the fitted bandwidth
is exactly the busbw asymptote of large messages.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


def lg(p: int) -> int:
    """ceil(log2 p): the rounds of a doubling or halving algorithm."""
    return max(0, math.ceil(math.log2(p))) if p >= 1 else 0


@dataclass(frozen=True, slots=True)
class CostFamily:
    name: str
    steps: Callable[[int], float]
    """A(p): latency-bound steps on the critical path."""
    data: Callable[[int], float]
    """B(p): bytes through the busiest link per byte of n."""
    source: str


def _ring_ar(p): return 2 * (p - 1)
def _ring_ar_data(p): return 2 * (p - 1) / p
def _frac(p): return (p - 1) / p


# all_reduce
RING_ALL_REDUCE = CostFamily("ring", _ring_ar, _ring_ar_data,
                             "Patarasuk & Yuan 2009: reduce-scatter + all-gather rings, 2(p-1) steps of n/p")
RABENSEIFNER = CostFamily("rabenseifner", lambda p: 2 * lg(p), _ring_ar_data,
                          "Thakur 2005 sec. 4.5: recursive halving reduce-scatter + recursive doubling all-gather")
RECURSIVE_DOUBLING_ALL_REDUCE = CostFamily("recursive_doubling", lg, lg,
                                           "Thakur 2005 sec. 4.5: lg p rounds exchanging the whole buffer")
# all_gather / reduce_scatter (n: the whole gathered / scattered array)
RING_GATHER = CostFamily("ring", lambda p: p - 1, _frac, "Thakur 2005 sec. 4.1 / 4.4: p-1 steps of n/p")
RECURSIVE_GATHER = CostFamily("recursive_doubling", lg, _frac,
                              "Thakur 2005 sec. 4.1 / 4.4: recursive doubling (halving), lg p steps, (p-1)/p n")
# all_to_all (n: a rank's whole array, p chunks)
PAIRWISE = CostFamily("pairwise", lambda p: p - 1, _frac,
                      "Thakur 2005 sec. 4.6: pairwise exchange, p-1 steps of n/p")
BRUCK = CostFamily("bruck", lg, lambda p: lg(p) / 2, "Thakur 2005 sec. 4.6 (Bruck et al. 1997): lg p steps of n/2")
# broadcast / reduce (n: the buffer)
BINOMIAL = CostFamily("binomial_tree", lg, lg, "Thakur 2005 sec. 4.2 / 4.3: binomial tree, lg p steps of n")
SCATTER_ALLGATHER = CostFamily("scatter_allgather", lambda p: lg(p) + p - 1, _ring_ar_data,
                               "Thakur 2005 sec. 4.2 (van de Geijn): binomial scatter + ring all-gather")
REDUCE_SCATTER_GATHER = CostFamily("rabenseifner", lambda p: 2 * lg(p), _ring_ar_data,
                                   "Thakur 2005 sec. 4.3: recursive halving reduce-scatter + binomial gather")
PIPELINE = CostFamily("pipeline_ring", lambda p: p - 1, lambda p: 1.0,
                      "NCCL ring pipeline: p-1 hops, the buffer once per link (nccl-tests PERFORMANCE.md)")
# sendrecv
POINT_TO_POINT = CostFamily("point_to_point", lambda p: 1.0, lambda p: 1.0,
                            "one message of n over one link (Hockney)")

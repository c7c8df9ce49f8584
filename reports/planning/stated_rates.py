"""A communication model from stated rates instead of measurements: per tier, a bus
bandwidth and a latency, as a datasheet or a paper gives them.

A collective of n bytes (nccl-tests' size) over N nodes x G ranks takes
    T = latency_us x steps + factor(p) x n / busbw
with p = N G, factor the collective's busbw factor (nccl-tests: all_reduce 2(p-1)/p,
all_gather, reduce_scatter, all_to_all (p-1)/p, sendrecv 1), steps a ring's (p - 1 for
all_gather, reduce_scatter and all_to_all, 2(p - 1) for all_reduce, 1 for sendrecv) and
busbw the slowest tier's the group crosses: the node's inside one node; beyond, the
network's per GPU times the group's ranks per node (each GPU with its own NIC, a ring
crossing a node boundary spreads over the NICs of the group's ranks there), at most the
node's. It has no uncertainty: its samples are its one prediction. It stands in for a
fit where nothing was measured (the published-results check, benchmarks/published/).
"""
from __future__ import annotations

import numpy as np

from collectives.registry import get_collective

from reports.planning.crossover import CommModel

_STEPS = {"all_reduce": lambda p: 2 * (p - 1), "sendrecv": lambda p: 1}


def rates_model(collective: str, intra_busbw_gbps: float, net_busbw_gbps_per_gpu: float,
                intra_latency_us: float = 0.0, inter_latency_us: float = 0.0) -> CommModel:
    factor = get_collective(collective).busbw_factor
    steps = _STEPS.get(collective, lambda p: p - 1)

    def predict_us(n, nnodes, ranks_per_node):
        p = nnodes * ranks_per_node
        if p < 2:
            return 0.0
        inside = nnodes == 1
        bw = intra_busbw_gbps if inside else min(intra_busbw_gbps, ranks_per_node * net_busbw_gbps_per_gpu)
        alpha = intra_latency_us if inside else inter_latency_us
        return alpha * steps(p) + factor(p) * n / (bw * 1e3)

    return CommModel(f"stated rates {collective}: busbw {intra_busbw_gbps:g} GB/s in a node, "
                     f"{net_busbw_gbps_per_gpu:g} GB/s per GPU across nodes",
                     predict_us, lambda n, N, G: np.array([predict_us(n, N, G)]),
                     lambda N: "nvlink" if N == 1 else "net", lambda n: None,
                     lambda n: "stated rates: nothing held out",
                     lambda N: "intra_node" if N == 1 else "inter_node", None)

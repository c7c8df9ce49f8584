"""A communication model from stated rates instead of measurements: per tier, a bus
bandwidth and a latency, as a datasheet or a paper gives them.
The method: docs/methods.md (`reports/planning/stated_rates.py`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collectives.registry import get_collective

_STEPS = {"all_reduce": lambda p: 2 * (p - 1), "sendrecv": lambda p: 1}


@dataclass(frozen=True)
class RatesModel:
    """A CommModel (reports/planning/pricing.py) from stated rates: no uncertainty."""
    collective: str
    intra_busbw_gbps: float
    net_busbw_gbps_per_gpu: float
    intra_latency_us: float = 0.0
    inter_latency_us: float = 0.0
    domain_size_nodes: int | None = None

    @property
    def describe(self) -> str:
        return (f"stated rates {self.collective}: busbw {self.intra_busbw_gbps:g} GB/s in a node, "
                f"{self.net_busbw_gbps_per_gpu:g} GB/s per GPU across nodes")

    def predict_us(self, n, nnodes, ranks_per_node) -> float:
        p = nnodes * ranks_per_node
        if p < 2:
            return 0.0
        inside = nnodes == 1
        bw = self.intra_busbw_gbps if inside else min(self.intra_busbw_gbps, ranks_per_node * self.net_busbw_gbps_per_gpu)
        alpha = self.intra_latency_us if inside else self.inter_latency_us
        steps = _STEPS.get(self.collective, lambda q: q - 1)
        return alpha * steps(p) + get_collective(self.collective).busbw_factor(p) * n / (bw * 1e3)

    def samples_us(self, n, nnodes, ranks_per_node) -> np.ndarray:
        return np.array([self.predict_us(n, nnodes, ranks_per_node)])

    def fabric(self, nnodes) -> str:
        return "nvlink" if nnodes == 1 else "net"

    def tier(self, nnodes) -> str | None:
        return "intra_node" if nnodes == 1 else "inter_node"

    def heldout_pct(self, n) -> float | None:
        return None

    def heldout_note(self, n) -> str | None:
        return "stated rates: nothing held out"

    def error_halfwidth(self, nnodes) -> float | None:
        return None


def rates_model(collective: str, intra_busbw_gbps: float, net_busbw_gbps_per_gpu: float,
                intra_latency_us: float = 0.0, inter_latency_us: float = 0.0) -> RatesModel:
    get_collective(collective)  # an unknown collective fails here, not at the first prediction
    return RatesModel(collective, intra_busbw_gbps, net_busbw_gbps_per_gpu, intra_latency_us, inter_latency_us)

"""all_reduce: every rank ends with the reduction of all ranks' buffers.

size_bytes is the send buffer (count x itemsize), as nccl-tests.
busbw factor 2(p-1)/p: a ring all-reduce is a reduce-scatter then an all-gather; each
moves (p-1)/p of the buffer through every rank's link, so 2(p-1)/p of it in all
(nccl-tests doc/PERFORMANCE.md).
"""
import numpy as np

from .cost import RING_ALL_REDUCE, RABENSEIFNER, RECURSIVE_DOUBLING_ALL_REDUCE
from .spec import CollectiveSpec, one_hot_inputs, weights, whole_buffer_layout


def _expected(rank, nranks, layout, op):
    return weights(np.arange(layout.recv_numel)).astype(np.float64)


SPEC = CollectiveSpec(
    name="all_reduce", reduces=True, busbw_factor=lambda p: 2 * (p - 1) / p,
    layout=whole_buffer_layout, inputs=one_hot_inputs, expected=_expected, in_place="same",
    families=(RING_ALL_REDUCE, RABENSEIFNER, RECURSIVE_DOUBLING_ALL_REDUCE),
)

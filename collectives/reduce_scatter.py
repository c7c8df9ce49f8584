"""reduce_scatter: the reduction of all ranks' arrays, rank r keeping the r-th chunk.

size_bytes is the full send array (chunk x p x itemsize), as nccl-tests; the chunk is
rounded down to a multiple of 4 elements.
busbw factor (p-1)/p: each rank's chunk needs the p-1 other ranks' contributions, (p-1)/p
of the array through its link (nccl-tests doc/PERFORMANCE.md).
"""
import numpy as np

from .cost import RING_GATHER, RECURSIVE_GATHER
from .spec import CollectiveSpec, Layout, aligned_chunk, one_hot_inputs, weights


def _layout(size_bytes, nranks, itemsize):
    chunk = aligned_chunk(size_bytes, nranks, itemsize)
    return Layout(chunk * nranks, chunk, chunk * nranks * itemsize, chunk * nranks)


def _expected(rank, nranks, layout, op):
    chunk = layout.recv_numel
    return weights(np.arange(rank * chunk, (rank + 1) * chunk)).astype(np.float64)


SPEC = CollectiveSpec(
    name="reduce_scatter", reduces=True, busbw_factor=lambda p: (p - 1) / p,
    layout=_layout, inputs=one_hot_inputs, expected=_expected, in_place="recv_in_send",
    families=(RING_GATHER, RECURSIVE_GATHER),
)

"""all_gather: every rank ends with the concatenation of all ranks' chunks.

size_bytes is the gathered array (chunk x p x itemsize), as nccl-tests; the chunk is
rounded down to a multiple of 4 elements.
busbw factor (p-1)/p: each rank must receive the p-1 chunks it lacks, (p-1)/p of the
array (nccl-tests doc/PERFORMANCE.md).
"""
import numpy as np

from .cost import RING_GATHER, RECURSIVE_GATHER
from .spec import SENTINEL, CollectiveSpec, Layout, aligned_chunk, values


def _layout(size_bytes, nranks, itemsize):
    chunk = aligned_chunk(size_bytes, nranks, itemsize)
    return Layout(chunk, chunk * nranks, chunk * nranks * itemsize, chunk * nranks)


def _inputs(rank, nranks, layout, op):
    chunk = layout.send_numel
    return values(np.arange(rank * chunk, (rank + 1) * chunk)), np.full(layout.recv_numel, SENTINEL)


def _expected(rank, nranks, layout, op):
    return values(np.arange(layout.recv_numel)).astype(np.float64)


SPEC = CollectiveSpec(
    name="all_gather", reduces=False, busbw_factor=lambda p: (p - 1) / p,
    layout=_layout, inputs=_inputs, expected=_expected, in_place="send_in_recv",
    families=(RING_GATHER, RECURSIVE_GATHER),
)

"""reduce: the root ends with the reduction of all ranks' buffers.

size_bytes is the buffer (count x itemsize), as nccl-tests. busbw factor 1: a pipelined
reduce passes the whole buffer once through every link (nccl-tests doc/PERFORMANCE.md).
Root 0; only the root's output is defined, so only the root is checked.
"""
import numpy as np

from .cost import BINOMIAL, PIPELINE, REDUCE_SCATTER_GATHER
from .spec import CollectiveSpec, one_hot_inputs, weights, whole_buffer_layout

ROOT = 0


def _expected(rank, nranks, layout, op):
    if rank != ROOT:
        return None
    return weights(np.arange(layout.recv_numel)).astype(np.float64)


SPEC = CollectiveSpec(
    name="reduce", reduces=True, busbw_factor=lambda p: 1.0,
    layout=whole_buffer_layout, inputs=one_hot_inputs, expected=_expected, in_place="same", root=ROOT,
    families=(PIPELINE, BINOMIAL, REDUCE_SCATTER_GATHER),
)

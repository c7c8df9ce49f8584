"""broadcast: the root's buffer ends up on every rank.

size_bytes is the buffer (count x itemsize), as nccl-tests. busbw factor 1: a pipelined
broadcast forwards the whole buffer once through every link (nccl-tests
doc/PERFORMANCE.md). Root 0, as nccl-tests' default.
"""
import numpy as np

from .cost import BINOMIAL, PIPELINE, SCATTER_ALLGATHER
from .spec import SENTINEL, CollectiveSpec, values, whole_buffer_layout

ROOT = 0


def _inputs(rank, nranks, layout, op):
    index = np.arange(layout.send_numel)
    send = values(index) if rank == ROOT else np.full(layout.send_numel, SENTINEL)
    return send, np.full(layout.recv_numel, SENTINEL)


def _expected(rank, nranks, layout, op):
    return values(np.arange(layout.recv_numel)).astype(np.float64)


SPEC = CollectiveSpec(
    name="broadcast", reduces=False, busbw_factor=lambda p: 1.0,
    layout=whole_buffer_layout, inputs=_inputs, expected=_expected, in_place="same", root=ROOT,
    families=(PIPELINE, BINOMIAL, SCATTER_ALLGATHER),
)

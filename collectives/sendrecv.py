"""sendrecv: rank r sends its buffer to rank r+1 and receives rank r-1's (mod p).

size_bytes is the buffer (count x itemsize), as nccl-tests. busbw factor 1: each link
carries the buffer once. No in-place form.
"""
import numpy as np

from .cost import POINT_TO_POINT
from .spec import SENTINEL, CollectiveSpec, values, whole_buffer_layout


def _payload(rank, count):
    return values(np.arange(rank * count, (rank + 1) * count))


def _inputs(rank, nranks, layout, op):
    return _payload(rank, layout.send_numel), np.full(layout.recv_numel, SENTINEL)


def _expected(rank, nranks, layout, op):
    return _payload((rank - 1) % nranks, layout.recv_numel).astype(np.float64)


SPEC = CollectiveSpec(
    name="sendrecv", reduces=False, busbw_factor=lambda p: 1.0,
    layout=whole_buffer_layout, inputs=_inputs, expected=_expected, in_place=None,
    families=(POINT_TO_POINT,),
)

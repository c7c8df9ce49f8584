"""all_to_all: rank r sends its k-th chunk to rank k and receives rank k's r-th chunk.

size_bytes is the whole per-rank array (chunk x p x itemsize), as nccl-tests; the chunk is
rounded down to a multiple of 4 elements.
busbw factor (p-1)/p: of its array, a rank keeps 1/p and exchanges the rest
(nccl-tests doc/PERFORMANCE.md). No in-place form: send and receive must differ.
"""
import numpy as np

from .cost import BRUCK, PAIRWISE
from .spec import SENTINEL, CollectiveSpec, Layout, aligned_chunk, values


def _layout(size_bytes, nranks, itemsize):
    chunk = aligned_chunk(size_bytes, nranks, itemsize)
    return Layout(chunk * nranks, chunk * nranks, chunk * nranks * itemsize, chunk * nranks)


def _block(sender, receiver, nranks, chunk):
    """Values sender puts in its chunk for receiver: unique per (sender, receiver, offset)."""
    start = (sender * nranks + receiver) * chunk
    return values(np.arange(start, start + chunk))


def _inputs(rank, nranks, layout, op):
    chunk = layout.send_numel // nranks
    send = np.concatenate([_block(rank, k, nranks, chunk) for k in range(nranks)])
    return send, np.full(layout.recv_numel, SENTINEL)


def _expected(rank, nranks, layout, op):
    chunk = layout.recv_numel // nranks
    return np.concatenate([_block(k, rank, nranks, chunk) for k in range(nranks)]).astype(np.float64)


SPEC = CollectiveSpec(
    name="all_to_all", reduces=False, busbw_factor=lambda p: (p - 1) / p,
    layout=_layout, inputs=_inputs, expected=_expected, in_place=None,
    families=(PAIRWISE, BRUCK),
)

"""What one collective IS, independent of the library that runs it.

A `CollectiveSpec` is the nccl-tests idea of a table of small functions per collective
(see `collectives/<name>.py`): how a requested size maps to buffer lengths, how to fill the
inputs and what the exact output must be, and the bus-bandwidth factor. Backends
(`collectives/backends/`) know how to *call* a collective; the harness in `benchmarks/`
owns warm-up, timing and checking.

Data patterns
-------------
Every value used is a small integer (|v| <= 100), so it is exact in every dtype we sweep
(int8, bfloat16 with its 8-bit significand, float16, ...) and every partial sum stays exact
whatever order a backend reduces in. Outputs start as `SENTINEL`, which no correct output
contains, so an element a collective forgot to write is counted wrong.

- `values(g)`: position-dependent payload for data that is moved, not reduced.
- Reductions use a one-hot layout: element g of the full array is owned by rank g % p,
  which contributes `weights(g)`; every other rank contributes the op's neutral filler
  (0 for sum and max, `MIN_FILLER` for min). The exact result is `weights(g)` for sum, max
  and min alike, a missing contributor leaves its positions wrong, and a no-op leaves
  every position not owned by the caller wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

SENTINEL = -100
MIN_FILLER = 100
REDUCE_OPS = ("sum", "max", "min")

#: How an in-place operation aliases its buffers.
#: "same": send and receive are one buffer; "send_in_recv": the send buffer is the
#: caller's slice of the receive buffer (all_gather); "recv_in_send": the receive buffer
#: is the caller's slice of the send buffer (reduce_scatter).
IN_PLACE_KINDS = ("same", "send_in_recv", "recv_in_send")


def values(index: np.ndarray) -> np.ndarray:
    """Payload for moved data: distinct for offsets that are not multiples of 97."""
    return (index * 7 + 3) % 97 - 48


def weights(index: np.ndarray) -> np.ndarray:
    """Exact reduction result at each global index: 1..13."""
    return index % 13 + 1


def one_hot_contribution(rank: int, nranks: int, index: np.ndarray, op: str) -> np.ndarray:
    """What `rank` contributes at each global index so that op over ranks == weights(index)."""
    filler = MIN_FILLER if op == "min" else 0
    return np.where(index % nranks == rank, weights(index), filler)


@dataclass(frozen=True, slots=True)
class Layout:
    """Buffer lengths for one point, in elements, and the size nccl-tests would print."""

    send_numel: int
    recv_numel: int
    size_bytes: int
    """The nccl-tests size: bytes of the per-rank buffer named in DESIGN.md."""
    count: int
    """size_bytes / itemsize: the nccl-tests `count` column."""


@dataclass(frozen=True, slots=True)
class CollectiveSpec:
    name: str
    """Registry name, used in records and on the command line."""
    reduces: bool
    """Takes a reduction op (sum, max, min)."""
    busbw_factor: Callable[[int], float]
    """busbw = algbw * busbw_factor(nranks); the derivation is in the collective's file."""
    layout: Callable[[int, int, int], Layout]
    """(requested size_bytes, nranks, itemsize) -> Layout; may round down like nccl-tests."""
    inputs: Callable[[int, int, Layout, str], tuple[np.ndarray, np.ndarray]]
    """(rank, nranks, layout, op) -> (send values, receive buffer's initial values)."""
    expected: Callable[[int, int, Layout, str], "np.ndarray | None"]
    """(rank, nranks, layout, op) -> exact receive buffer after the call, None if unchecked."""
    in_place: str | None
    """One of IN_PLACE_KINDS, or None where an in-place form is not defined."""
    root: int | None = None
    """Root rank for rooted collectives (nccl-tests default 0), else None."""
    families: tuple = ()
    """Candidate cost families (collectives/cost.py) the scaling model chooses among."""


def whole_buffer_layout(size_bytes: int, nranks: int, itemsize: int) -> Layout:
    """Layout of collectives whose size is one rank's whole buffer (all_reduce, broadcast,
    reduce, sendrecv): count = size_bytes // itemsize on both sides."""
    count = size_bytes // itemsize
    return Layout(count, count, count * itemsize, count)


def one_hot_inputs(rank: int, nranks: int, layout: Layout, op: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of a reduction over the whole send buffer (see `one_hot_contribution`); the
    output starts at SENTINEL."""
    index = np.arange(layout.send_numel)
    return one_hot_contribution(rank, nranks, index, op), np.full(layout.recv_numel, SENTINEL)


def aligned_chunk(size_bytes: int, nranks: int, itemsize: int, align: int = 4) -> int:
    """Elements per rank for collectives whose buffer is split across ranks.

    nccl-tests rounds count / nranks down to a multiple of 4 elements (ALIGN in
    all_gather.cu, reduce_scatter.cu, alltoall.cu); we do the same, so the size recorded
    can be smaller than the size requested.
    """
    count = size_bytes // itemsize
    return (count // (align * nranks)) * align


def build_buffers(spec: CollectiveSpec, layout: Layout, rank: int, nranks: int, op: str,
                  in_place: bool, to_buffer: Callable[[np.ndarray], object]):
    """Make (send, recv) buffers for a point, aliased as the spec's in-place kind says.

    `to_buffer` turns a numpy array of values into the backend's buffer (a torch tensor, a
    typed numpy array). Buffers must support slicing into views.
    """
    send_values, recv_values = spec.inputs(rank, nranks, layout, op)
    if not in_place:
        return to_buffer(send_values), to_buffer(recv_values)
    if spec.in_place == "same":
        buf = to_buffer(send_values)
        return buf, buf
    if spec.in_place == "send_in_recv":
        offset = rank * layout.send_numel
        recv_values = recv_values.copy()
        recv_values[offset:offset + layout.send_numel] = send_values
        recv = to_buffer(recv_values)
        return recv[offset:offset + layout.send_numel], recv
    if spec.in_place == "recv_in_send":
        offset = rank * layout.recv_numel
        send = to_buffer(send_values)
        return send, send[offset:offset + layout.recv_numel]
    raise ValueError(f"{spec.name} has no in-place form")


def count_wrong(result: np.ndarray, expected: np.ndarray | None) -> int:
    """Elements of `result` that differ from `expected` (0 when the rank is unchecked)."""
    if expected is None:
        return 0
    result = np.asarray(result, dtype=np.float64)
    if result.shape != expected.shape:
        return int(max(result.size, expected.size))
    return int(np.count_nonzero(result != expected))

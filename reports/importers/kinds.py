"""What nccl-tests and OSU print for each collective: the busbw factor, whether it
reduces, whether it has a root, and how the printed size relates to the printed count.

From nccl-tests' src/<collective>.cu (getCollByteCount, getBw): all_gather, alltoall,
reduce_scatter, scatter, gather and hypercube print the size of the whole exchanged
buffer and the count of one rank's part (size = count x itemsize x ranks); the others
print size = count x itemsize. scatter, gather and hypercube are not collectives
commscale runs: they import, report and compare, and fit says it has no model for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Kind:
    name: str
    factor: Callable[[int], float]
    """busbw / algbw for p ranks"""
    factor_name: str
    reduces: bool
    rooted: bool
    per_rank: bool
    """size = count x itemsize x ranks (else size = count x itemsize)"""
    binaries: tuple = ()
    osu_per_rank: bool = False
    """OSU prints one rank's chunk (allgather, alltoall, gather, scatter)"""


def _ring2(p): return 2 * (p - 1) / p
def _ring(p): return (p - 1) / p
def _one(p): return 1.0


KINDS = {k.name: k for k in (
    Kind("all_reduce", _ring2, "2(p-1)/p", True, False, False, ("all_reduce_perf",)),
    Kind("all_gather", _ring, "(p-1)/p", False, False, True, ("all_gather_perf",), osu_per_rank=True),
    Kind("reduce_scatter", _ring, "(p-1)/p", True, False, True, ("reduce_scatter_perf",)),
    Kind("all_to_all", _ring, "(p-1)/p", False, False, True, ("alltoall_perf", "alltoallv_perf"), osu_per_rank=True),
    Kind("broadcast", _one, "1", False, True, False, ("broadcast_perf",)),
    Kind("reduce", _one, "1", True, True, False, ("reduce_perf",)),
    Kind("sendrecv", _one, "1", False, False, False, ("sendrecv_perf",)),
    Kind("scatter", _ring, "(p-1)/p", False, True, True, ("scatter_perf",), osu_per_rank=True),
    Kind("gather", _ring, "(p-1)/p", False, True, True, ("gather_perf",), osu_per_rank=True),
    Kind("hypercube", _one, "1", False, False, True, ("hypercube_perf",)),
)}
BINARIES = {b: k.name for k in KINDS.values() for b in k.binaries}
WORDS = {"all_reduce": "all_reduce", "allreduce": "all_reduce", "all_gather": "all_gather",
         "allgather": "all_gather", "alltoall": "all_to_all", "all_to_all": "all_to_all",
         "reduce_scatter": "reduce_scatter", "reducescatter": "reduce_scatter", "sendrecv": "sendrecv",
         "broadcast": "broadcast", "hypercube": "hypercube"}
"""Bare names that, alone in a file, say which collective ran (never 'reduce', 'gather')."""

ITEMSIZE = {"float": 4, "float32": 4, "half": 2, "float16": 2, "bfloat16": 2, "double": 8, "float64": 8,
            "int8": 1, "char": 1, "uint8": 1, "int32": 4, "int": 4, "uint32": 4, "int64": 8, "uint64": 8,
            "f8e4m3": 1, "f8e5m2": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}
REDUCE_OPS = {"sum", "prod", "max", "min", "avg", "mulsum", "premulsum"}

# nccl-tests' own pass mark for the old `error` column (the largest deviation from the
# expected values): CheckData fails a point when maxDelta > DeltaMaxValue(type) * (nranks - 1)
# (src/common.cu, from the initial commit b188a15 to the last version with the column,
# 51af557^; DeltaMaxValue: half and bfloat16 1e-2, float 1e-5, double 1e-12, integers 1e-200).
DELTA_MAX = {"half": 1e-2, "float16": 1e-2, "bfloat16": 1e-2, "float": 1e-5, "float32": 1e-5,
             "double": 1e-12, "float64": 1e-12}
DELTA_MAX_INTEGER = 1e-200


def deviation_fails(deviation: float, dtype: str, nranks: int) -> bool:
    return deviation > DELTA_MAX.get(dtype, DELTA_MAX_INTEGER) * (nranks - 1)

"""Record fields for one imported point."""
from __future__ import annotations

from collectives.dtypes import get_dtype

TYPES = {"float": "float32", "half": "float16", "double": "float64", "bfloat16": "bfloat16", "int8": "int8",
         "int32": "int32", "int": "int32", "char": "int8", "uint8": "uint8", "int64": "int64", "uint64": "uint64",
         "uint32": "uint32"}


def dtype_name(name: str) -> str:
    try:
        return get_dtype(TYPES.get(name, name)).name
    except KeyError:
        return TYPES.get(name, name)  # kept as the tool named it (f8e4m3, ...)


def point(collective, dtype, op, in_place, size, count, time_us, algbw, busbw, status, n_wrong, reason, nranks,
          nnodes, backend, device, timing, fabric="auto") -> dict:
    """`timing`: how the tool timed: nccl-tests a batch of calls between two stream
    synchronisations ("batch"), OSU each call alone ("call")."""
    return dict(status=status, reason=reason, collective=collective, backend=backend, device=device, fabric=fabric,
                transport=None, dtype=dtype_name(dtype), reduce_op=None if op in (None, "none") else op,
                in_place=in_place, size_bytes=None if size is None else int(size), count=int(count),
                nranks=nranks, nnodes=nnodes,
                ranks_per_node=nranks // nnodes if nranks and nnodes and nranks % nnodes == 0 else None,
                timing=timing, time_us_mean=float(time_us), algbw_gbps=algbw, busbw_gbps=busbw, n_wrong=n_wrong)

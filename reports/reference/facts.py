"""A run's own facts, the key `match.place` compares on: from its records and meta.json,
one key per collective and rank count (a run of several node counts has several)."""
from __future__ import annotations

import pandas as pd

from .build import chosen_points, fingerprint
from .devices import classify, device_name
from .match import RunKey

_TRANSPORT_CLASSES = (("NET/IB", "ib"), ("NET/SOCKET", "tcp"), ("LIBFABRIC", "efa"), ("OFI", "efa"),
                      ("FASTSOCKET", "tcpx"), ("GPUDIRECTTCPX", "tcpx"))


def network_class(records: pd.DataFrame, nnodes: int | None) -> str:
    """'none' inside one node; else what NCCL's transport says ('NET/IB' is InfiniBand or
    RoCE: taken as 'ib'); else 'unknown'."""
    if nnodes == 1:
        return "none"
    labels = " ".join(str(t) for t in records.get("transport", pd.Series(dtype=object)).dropna()).upper()
    return next((cls for text, cls in _TRANSPORT_CLASSES if text in labels), "unknown")


def _dtype(group: pd.DataFrame) -> pd.DataFrame:
    """One dtype: float32 (nccl-tests' default) when measured, else the one with most points."""
    dtypes = group["dtype"].dropna()
    if dtypes.empty:
        return group
    if (dtypes == "float32").any():  # with the points whose dtype is unknown
        return group[group["dtype"].isna() | (group["dtype"] == "float32")]
    return group[group["dtype"] == dtypes.value_counts().index[0]]


def run_keys(records: pd.DataFrame, meta: dict, network: str | None = None, device: str | None = None) -> list[RunKey]:
    """One key per (collective, ranks, nodes) of the run's ok records, busbw from the mean
    time as nccl-tests prints it; `network`, `device`: what the user says of the run, over
    what its records and meta.json say."""
    keys = []
    memory = "host" if (records["device"].dropna() == "cpu").all() and records["device"].notna().any() else "device"
    device = classify(device or device_name(meta), memory)
    ok = records[(records["status"] == "ok") & records["nranks"].notna()]
    for (coll, nranks), group in ok.groupby(["collective", "nranks"], sort=True):
        nodes = group["nnodes"].dropna()
        nnodes = int(nodes.iloc[0]) if len(nodes) else None
        points = chosen_points(_dtype(group).to_dict("records"))
        if not points:
            continue
        per_node = int(nranks) // nnodes if nnodes and int(nranks) % nnodes == 0 else None
        keys.append(RunKey(
            label=f"{coll} at {int(nranks)} ranks" + (f" on {nnodes} node{'s' * (nnodes > 1)}" if nnodes else ""),
            collective=str(coll), device=device, memory=memory, nranks=int(nranks), nnodes=nnodes,
            gpus_per_node=per_node,
            network_class="none" if nnodes == 1 else (network or network_class(group, nnodes)),
            sizes_bytes=tuple(int(p["size_bytes"]) for p in points),
            busbw_gbps=tuple(float(p["busbw_gbps"]) for p in points),
            fingerprint=fingerprint(str(coll), int(nranks), [(p["size_bytes"], p["time_us_mean"]) for p in points])))
    return keys

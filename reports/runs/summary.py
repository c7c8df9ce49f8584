"""A run at a glance: per collective and group size, the smallest-size latency and the peak
bus bandwidth, with point counts and wrong elements. Printed at the end of a dry run."""
from __future__ import annotations

import pandas as pd


KEYS = ["collective", "backend", "fabric", "nranks", "nnodes"]


def summarize_run(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (collective, backend, fabric, nranks, nnodes) of `df` (records)."""
    rows = []
    for key, g in df.groupby(KEYS, sort=False, dropna=False):
        ok = g[g.status != "skipped"]
        row = dict(zip(KEYS, key), points_ok=int((g.status == "ok").sum()),
                   points_skipped=int((g.status == "skipped").sum()),
                   points_failed=int((g.status == "failed").sum()), n_wrong=int(g.n_wrong.fillna(0).sum()),
                   min_size_bytes=None, min_size_time_us=None, peak_busbw_gbps=None, peak_at_size_bytes=None)
        ok = ok[ok.size_bytes.notna() & (ok.size_bytes.fillna(0) > 0)]  # 0-byte rows and unknown sizes say nothing here
        if len(ok):
            small = ok.loc[ok.size_bytes.idxmin()]
            row.update(min_size_bytes=int(small.size_bytes),
                       min_size_time_us=float(small.time_us_mean if pd.isna(small.time_us_median) else small.time_us_median))
        if len(ok) and ok.busbw_gbps.notna().any():
            peak = ok.loc[ok.busbw_gbps.idxmax()]
            row.update(peak_busbw_gbps=float(peak.busbw_gbps), peak_at_size_bytes=int(peak.size_bytes))
        rows.append(row)
    return pd.DataFrame(rows)

"""A run at a glance: per collective and group size, the smallest-size latency and the peak
bus bandwidth, with point counts and wrong elements. Printed at the end of a dry run."""
from __future__ import annotations

import pandas as pd

from collectives.sizes import format_size

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


def format_summary(summary: pd.DataFrame) -> str:
    """Fixed-width text with units in the headers."""
    header = (f"# {'collective':<15} {'backend':<7} {'fabric':<12} {'nranks':>6} {'nnodes':>6} {'ok':>4} {'skip':>4} "
              f"{'fail':>4} {'#wrong':>6} {'latency (median, smallest size)':>32} {'peak busbw_gbps (at size)':>26}")
    lines = [header]
    for r in summary.itertuples():
        latency = "-" if r.min_size_time_us is None or pd.isna(r.min_size_time_us) else \
            f"{r.min_size_time_us:.1f} us @ {format_size(r.min_size_bytes)}"
        peak = "-" if r.peak_busbw_gbps is None or pd.isna(r.peak_busbw_gbps) else \
            f"{r.peak_busbw_gbps:.3f} @ {format_size(r.peak_at_size_bytes)}"
        lines.append(f"  {r.collective:<15} {r.backend:<7} {r.fabric:<12} {r.nranks:>6} {r.nnodes:>6} {r.points_ok:>4} "
                     f"{r.points_skipped:>4} {r.points_failed:>4} {r.n_wrong:>6} {latency:>32} {peak:>26}")
    return "\n".join(lines)

"""The run at a glance as printed after a sweep (format_summary), from
reports/runs/summary.py's table. docs/reports.md."""
from __future__ import annotations

import pandas as pd

from .format import MISSING, missing, size


def format_summary(summary: pd.DataFrame) -> str:
    """Fixed-width text with units in the headers."""
    header = (f"# {'collective':<15} {'backend':<7} {'fabric':<12} {'nranks':>6} {'nnodes':>6} {'ok':>4} {'skip':>4} "
              f"{'fail':>4} {'#wrong':>6} {'latency (median, smallest size)':>32} {'peak busbw_gbps (at size)':>26}")
    lines = [header]
    for r in summary.itertuples():
        latency = MISSING if missing(r.min_size_time_us) else f"{r.min_size_time_us:.1f} us @ {size(r.min_size_bytes)}"
        peak = MISSING if missing(r.peak_busbw_gbps) else f"{r.peak_busbw_gbps:.3f} @ {size(r.peak_at_size_bytes)}"
        lines.append(f"  {r.collective:<15} {r.backend:<7} {r.fabric:<12} {r.nranks:>6} {r.nnodes:>6} {r.points_ok:>4} "
                     f"{r.points_skipped:>4} {r.points_failed:>4} {r.n_wrong:>6} {latency:>32} {peak:>26}")
    return "\n".join(lines)

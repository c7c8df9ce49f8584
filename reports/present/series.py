"""The report's view of a node-count series: where runs of one key span several node
counts, the model `commscale predict` uses (reports/model/predict.py) read as a table of busbw
by node count, predictions at 2x, 4x and 8x the largest, and one headline sentence
(docs/reports.md, "Scaling across node counts")."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reports.model.fit import usable
from reports.model.predict import LEVEL, PredictError, busbw_gbps, key_model, predict

from .format import fixed, interval, num, size

FACTORS = (2, 4, 8)


@dataclass(frozen=True)
class SeriesView:
    collective: str
    sentence: str
    measured: pd.DataFrame
    """busbw by node count at the largest size every scale measured"""
    predicted: pd.DataFrame
    model: str = ""
    """the model in words: its trend, the scales it rests on, where its interval comes from"""


def _common_size(rows: pd.DataFrame) -> int | None:
    """The largest size measured at every node count (within 2%: all_to_all rounds to the ranks)."""
    per = [sorted(part["size_bytes"].unique()) for _, part in rows.groupby("nnodes")]
    for n in reversed(per[-1]):
        if all(any(abs(x / n - 1) <= 0.02 for x in sizes) for sizes in per):
            return int(n)
    return None


def _key_rows(df: pd.DataFrame, collective: str) -> pd.DataFrame:
    """One key of the collective: out of place where both were measured, the most points."""
    rows = usable(df)
    rows = rows[(rows["collective"] == collective) & rows["nnodes"].notna()]
    if rows["in_place"].eq(False).any():
        rows = rows[rows["in_place"] == False]  # noqa: E712 (a pandas mask)
    keys = rows.groupby(["backend", "dtype", "timing"], dropna=False).size()
    if keys.empty:
        return rows
    backend, dtype, timing = keys.idxmax()
    return rows[(rows["backend"] == backend) & (rows["dtype"] == dtype) & (rows["timing"] == timing)]


def series_view(df: pd.DataFrame, collective: str, level: float = LEVEL) -> SeriesView | None:
    """The view of one collective's series; None where its runs span fewer than 2 node counts."""
    rows = _key_rows(df, collective)
    if rows["nnodes"].nunique() < 2:
        return None
    n = _common_size(rows)
    if n is None:
        return None
    model = key_model({"collective": collective, "in_place": bool(rows["in_place"].iloc[0])}, rows)
    measured = [{"nodes": s.nnodes, "ranks": s.nranks, "size": size(n),
                 "busbw_gbps": round(busbw_gbps(collective, s.nranks, n, s.time_at(n)[0]), 4)}
                for s in model.scales]
    top = max(s.nnodes for s in model.scales)
    preds = []
    for f in FACTORS:
        try:
            preds.append(predict(model, top * f, n, level=level))
        except PredictError:
            return None
    table = pd.DataFrame([{"nodes": p.nodes, "ranks": p.nranks, "size": size(p.size_bytes),
                           "busbw_gbps": round(p.busbw_gbps, 4),
                           f"{level:.0%} interval": interval(p.busbw_interval_gbps, open_high="unbounded"),
                           "x": p.extrapolation,
                           "tier": p.tier, "interval from": p.interval_from.split(" (")[0],
                           "warning": p.warning or ""} for p in preds])
    first = preds[0]
    held = first.heldout_error_pct
    sentence = (f"{collective} at {first.nodes} nodes ({size(n)}): {num(first.busbw_gbps)} GB/s busbw "
                f"{interval(first.busbw_interval_gbps, open_high='unbounded')}, {level:.0%}"
                + (f"; leave-one-scale-out error on this series {fixed(held, 0)}% "
                   f"(predicting {top} nodes from the fewer)"
                   if held is not None else "; no held-out error: one scale in this tier")
                + (f"; {first.warning}" if first.warning else ""))
    model_words = (f"Model ({'in' if model.key['in_place'] else 'out of'} place, {size(n)}): {first.method}, "
                   f"over {first.basis}; at {first.nodes} nodes the interval comes from {first.interval_from}.")
    return SeriesView(collective, sentence, pd.DataFrame(measured), table, model_words)

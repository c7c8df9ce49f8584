"""What a report leads with, as plain sentences and numbers: the points per run, each fit's
quality in a word with its measured points against the model's 95% band, the crossover in
a sentence, and a note when CPU ranks stand in for GPUs. report.py lays them out;
docs/reports.md says what each means and where the fit-quality words change."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.planning.results import CrossoverResult

from .format import count, fixed, size

QUALITY = ((10.0, "good"), (25.0, "fair"))
"""(largest MAPE %, word); above the last: poor."""


def fit_quality(mape_pct: float | None) -> str:
    if mape_pct is None or not np.isfinite(mape_pct):
        return "unknown"
    for limit, word in QUALITY:
        if mape_pct <= limit:
            return word
    return "poor"


@dataclass(frozen=True)
class Coverage:
    """How the measured points of one fit sit against its 95% band."""
    points: int
    outside: int
    worst_ranks: int | None
    """The rank count with the largest share of points outside (None when none are)."""
    worst_outside: int
    worst_points: int
    mape_pct: float | None
    """The fit's mean absolute percentage error over these points (all regimes together)."""


def band_coverage(points: pd.DataFrame, fit) -> Coverage:
    """`points`: the ok records the fit describes (size_bytes, nranks, time_us)."""
    outside, total, errors = {}, {}, []
    for n, p, t in zip(points["size_bytes"], points["nranks"], points["time_us"]):
        if p < 2 or not t > 0:
            continue
        lo, hi = np.percentile(fit.predict_samples(float(n), int(p)), [2.5, 97.5])
        total[int(p)] = total.get(int(p), 0) + 1
        outside[int(p)] = outside.get(int(p), 0) + int(not lo <= t <= hi)
        errors.append(abs(fit.predict(float(n), int(p)) - t) / t)
    n_out = sum(outside.values())
    worst = max(total, key=lambda p: (outside[p] / total[p], p)) if n_out else None
    return Coverage(sum(total.values()), n_out, worst, outside.get(worst, 0), total.get(worst, 0),
                    float(np.mean(errors) * 100) if errors else None)


def fit_errors(entries: list[dict], coverage: Coverage | None) -> tuple[float | None, dict | None]:
    """(MAPE %, the regime entry with the worst held-out error) of a fit: one regime's own
    MAPE, or over several regimes the MAPE of all their points (`coverage`)."""
    mape = entries[0]["mape_pct"] if len(entries) == 1 else (coverage.mape_pct if coverage else None)
    held = [e for e in entries if e.get("heldout_mape_pct") is not None]
    return mape, max(held, key=lambda e: e["heldout_mape_pct"]) if held else None


def judged(mape: float | None, worst: dict | None) -> float | None:
    """The error the fit-quality word is given: the worse of the in-sample MAPE and the
    held-out error where there is one (a fit that only describes its points is not good)."""
    held = worst["heldout_mape_pct"] if worst else None
    return mape if held is None else held if mape is None else max(mape, held)


def fit_note(entries: list[dict], coverage: Coverage | None) -> str:
    """One sentence on a fit (its model.json entries, one per regime), for beside its figure."""
    one = entries[0] if len(entries) == 1 else None
    mape, worst = fit_errors(entries, coverage)
    words = [f"model fit {fit_quality(judged(mape, worst))}"
             + (f": MAPE {fixed(mape, 1)}%" if mape is not None else "")]
    if len(entries) > 1:
        words[0] += f" over {len(entries)} regimes"
    if one and one.get("r2") is not None:
        words.append(f"R\u00b2 {fixed(one['r2'], 2)}")
    if worst:
        frm = worst.get("heldout_from_nranks") or []
        words.append(f"held-out {fixed(worst['heldout_mape_pct'], 1)}% predicting {worst['heldout_nranks']} ranks "
                     f"from a fit on {', '.join(map(str, frm)) or 'the rest'}")
    text = ", ".join(words)
    if coverage and coverage.outside:
        text += (f"; {coverage.outside} of {coverage.points} measured points lie outside the 95% band of the fitted "
                 f"curve (most at {coverage.worst_ranks} ranks: {coverage.worst_outside} of {coverage.worst_points})")
        text += (": the band is the curve's uncertainty, not the points' scatter" if fit_quality(judged(mape, worst)) == "good"
                 else ": the model's form does not describe them")
    elif coverage:
        text += f"; all {coverage.points} measured points lie inside the 95% band of the fitted curve"
    return text


def point_counts(df: pd.DataFrame) -> dict:
    status = df["status"].value_counts()
    return {"points": int(len(df)), "ok": int(status.get("ok", 0)), "skipped": int(status.get("skipped", 0)),
            "failed": int(status.get("failed", 0)), "n_wrong": int(df["n_wrong"].fillna(0).sum())}


def points_sentence(counts: dict) -> str:
    return (f"{counts['points']} points: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed; "
            f"{counts['n_wrong']} wrong elements in the data check")


def cpu_note(df: pd.DataFrame) -> str | None:
    """Said when CPU ranks stand in for GPUs (a dry run, gloo or MPI on host buffers); not
    of imported logs, which come from real clusters (a CPU cluster's OSU run is its own)."""
    df = df[~df["run_id"].fillna("").str.startswith("import-")]
    cpu = int((df["device"].fillna("") == "cpu").sum())
    if not cpu:
        return None
    share = "All" if cpu == len(df) else f"{cpu} of {len(df)}"
    return (f"{share} points were measured on CPU ranks standing in for GPUs: the bandwidths are this host's "
            f"loopback and memory, and the crossover uses CPU GEMM rates. Read them as a check of the pipeline, "
            f"not as a GPU cluster's figures.")


def unplotted_sentence(df: pd.DataFrame) -> str | None:
    """Healthy points the figures and fits leave out, and why (imported logs only have them)."""
    ok = df[df["status"] == "ok"]
    unknown = int((ok["size_bytes"].isna() | ok["busbw_gbps"].isna()).sum())
    zero = int((ok["size_bytes"].fillna(-1) == 0).sum())
    parts = ([f"{unknown} without a size or busbw (their rank count is unknown: import again with --nranks N)"]
             if unknown else []) + ([f"{zero} at 0 bytes"] if zero else [])
    if not parts:
        return None
    return f"Not in the figures or the fit: {' and '.join(parts)}; they are in the records and the summary."


def key_row(collective: str, run: str, key: dict, points: pd.DataFrame, entries: list[dict],
            coverage: Coverage) -> dict:
    """One fitted key for the headline table: its peak busbw and its fit in a word."""
    ok = points[points["busbw_gbps"].notna()]
    best = ok.loc[ok["busbw_gbps"].idxmax()] if not ok.empty else None
    mape, worst = fit_errors(entries, coverage)
    return {"collective": collective, "run": run, "backend": key["backend"], "fabric": key["fabric"],
            "dtype": key["dtype"], "peak busbw_gbps": None if best is None else float(best["busbw_gbps"]),
            "at size": "-" if best is None else size(best["size_bytes"]),
            "on ranks": None if best is None else int(best["nranks"]),
            "model fit": fit_quality(judged(mape, worst)), "MAPE %": mape, "held-out MAPE %": worst["heldout_mape_pct"] if worst else None,
            "outside 95% band": f"{coverage.outside} of {coverage.points}"}


def crossover_sentence(crossing: CrossoverResult) -> str:
    """The crossover in one sentence: where, measured or extrapolated how far, held-out error."""
    name, limit = crossing.workload["name"], crossing.limit_nodes
    measured = crossing.measured_nodes
    cross, ci = crossing.crossover_nodes, crossing.crossover_nodes_ci
    held = crossing.heldout_mape_pct
    held_text = crossing.heldout_note or (f"the fit's held-out error was {fixed(held, 1)}%" if held is not None
                                                 else "no held-out error")
    if cross is None:
        return (f"{name}: communication stays below compute up to the limit of {limit} nodes "
                f"(extrapolated {fixed(limit / measured, 0)} x past the largest measured scale, "
                f"{count(measured, 'node')}); "
                f"{held_text}")
    hi = "beyond the limit" if ci[1] is None else ci[1]
    where = ("measured: within the measured scale" if cross <= measured else
             f"extrapolated {fixed(cross / measured, 0)} x past the largest measured scale ({count(measured, 'node')})")
    return (f"{name}: communication exceeds compute from {cross} nodes (95% interval {ci[0]} to {hi}), "
            f"{where}; {held_text}")


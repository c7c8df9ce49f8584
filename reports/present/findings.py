"""What a report leads with, as plain sentences and numbers: the points per run, each fit's
quality in a word with its measured points against the model's 95% band, the crossover in
a sentence, and a note when CPU ranks stand in for GPUs. report.py lays them out;
docs/reports.md says what each means and where the fit-quality words change."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.planning.results import CrossoverResult

from .crossover_text import answer_row, crossover_where
from .format import count, fixed, pct, size

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


@dataclass(frozen=True)
class Errors:
    """A fit's errors as the report states them, the same number in every sentence and table."""
    mape_pct: float | None
    """in-sample: one regime's own MAPE, or over several regimes the MAPE of all their points"""
    heldout_pct: float | None
    """held-out, all sizes: MAPE predicting every point at the largest rank count from a fit
    made without them (KeyFit.heldout_mape_pct; None where one rank count was measured)"""
    heldout_nranks: int | None = None
    heldout_from: tuple = ()

    @property
    def judged_on(self) -> str:
        """What the quality word is given: the held-out error where there is one."""
        return "in-sample MAPE" if self.heldout_pct is None else "held-out MAPE"

    @property
    def quality(self) -> str:
        return fit_quality(self.mape_pct if self.heldout_pct is None else self.heldout_pct)

    @property
    def heldout_words(self) -> str:
        """'held-out MAPE 66.8% (all sizes, predicting 4 ranks from a fit on 2)'."""
        return (f"held-out MAPE {pct(self.heldout_pct)} (all sizes, predicting {self.heldout_nranks} ranks from a "
                f"fit on {', '.join(map(str, self.heldout_from)) or 'the rest'})")


def fit_errors(entries: list[dict], coverage: Coverage | None) -> Errors:
    """The errors of a fit (its model.json entries, one per regime)."""
    mape = entries[0]["mape_pct"] if len(entries) == 1 else (coverage.mape_pct if coverage else None)
    first = entries[0]
    return Errors(mape, first.get("key_heldout_mape_pct"), first.get("key_heldout_nranks"),
                  tuple(first.get("heldout_from_nranks") or ()))


def fit_note(entries: list[dict], coverage: Coverage | None) -> str:
    """One sentence on a fit (its model.json entries, one per regime), for beside its figure:
    its quality word, the error the word was given on first, then the other."""
    one = entries[0] if len(entries) == 1 else None
    errors = fit_errors(entries, coverage)
    in_sample = (f"in-sample MAPE {pct(errors.mape_pct)}" + (f" over {len(entries)} regimes" if len(entries) > 1
                                                              else ""))
    if errors.heldout_pct is None:
        words = [f"model fit {errors.quality} on {in_sample} (nothing held out: one rank count)"]
    else:
        words = [f"model fit {errors.quality} on {errors.heldout_words}", in_sample]
    if one and one.get("r2") is not None:
        words.append(f"R\u00b2 {fixed(one['r2'], 2)}")
    text = ", ".join(words)
    if coverage and coverage.outside:
        text += (f"; {coverage.outside} of {coverage.points} measured points lie outside the 95% band of the fitted "
                 f"curve (most at {coverage.worst_ranks} ranks: {coverage.worst_outside} of {coverage.worst_points})")
        text += (": the band is the curve's uncertainty, not the points' scatter" if errors.quality == "good"
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


PEAK_BUSBW = "peak busbw_gbps (mean time)"
"""The records' busbw is size / the mean time of the iterations (nccl-tests prints the same);
the fits' peak busbw (the scaling-model table) is from the time they fit, the median."""
HELDOUT = "held-out MAPE (all sizes)"


def key_row(collective: str, run: str, key: dict, points: pd.DataFrame, entries: list[dict],
            coverage: Coverage) -> dict:
    """One fitted key for the headline table: its peak busbw and its fit in a word, with the
    error the word was given on."""
    ok = points[points["busbw_gbps"].notna()]
    best = ok.loc[ok["busbw_gbps"].idxmax()] if not ok.empty else None
    errors = fit_errors(entries, coverage)
    return {"collective": collective, "run": run, "backend": key["backend"], "fabric": key["fabric"],
            "dtype": key["dtype"], PEAK_BUSBW: None if best is None else float(best["busbw_gbps"]),
            "at size": "-" if best is None else size(best["size_bytes"]),
            "on ranks": None if best is None else int(best["nranks"]),
            "model fit": errors.quality, "judged on": errors.judged_on, "in-sample MAPE": pct(errors.mape_pct),
            HELDOUT: pct(errors.heldout_pct), "outside 95% band": f"{coverage.outside} of {coverage.points}"}


def crossover_sentence(crossing: CrossoverResult, all_sizes_pct: float | None = None) -> str:
    """The crossover in one sentence: where, within the measured scale or extrapolated how
    far, and the held-out error at the message size it rests on. `all_sizes_pct`: the same
    fit's held-out error over all sizes (the findings table's), said beside it where it differs."""
    name, limit, cross, ci = crossing.workload["name"], crossing.limit_nodes, crossing.crossover_nodes, \
        crossing.crossover_nodes_ci
    where = crossover_where(crossing, lambda n: count(n, "node"))
    if cross is None:
        lead = f"{name}: communication stays below compute up to the limit of {limit} nodes ({where})"
    else:
        hi = "beyond the limit" if ci[1] is None else ci[1]
        lead = f"{name}: communication exceeds compute from {cross} nodes (95% interval {ci[0]} to {hi}); {where}"
    return f"{lead}; {crossover_heldout(crossing, all_sizes_pct)}"


def crossover_heldout(crossing: CrossoverResult, all_sizes_pct: float | None = None) -> str:
    """The held-out error the crossover rests on: its fit's, in the size regime of the
    messages at the crossover (or at the limit)."""
    held, row = crossing.heldout_mape_pct, answer_row(crossing)
    if held is None:
        return crossing.heldout_note or "no held-out error"
    at = f" of its {size(row.bytes_per_message)} messages" if row is not None else ""
    text = f"held-out MAPE {pct(held)} in the fit's size regime{at}"
    if all_sizes_pct is not None and pct(all_sizes_pct) != pct(held):
        text += f" ({HELDOUT} {pct(all_sizes_pct)}, as in the table)"
    return text

"""`commscale report`: reads one or more runs (fitting those the caller has not), computes
what the report shows (findings, tables, figures) and writes it as one document
(sections.py) rendered to report.md and report.html (document.py), beside the figures as
PNG and summary.csv. docs/reports.md describes the report."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from collectives.records import load_meta
from collectives.registry import COLLECTIVES, get_collective

from reports.present import figures, findings, straggler_text
from reports.doctor.result import DoctorResult
from reports.doctor.stats import DOCTOR_FILE
from reports.present.doctor_text import doctor_views
from reports.model.fit import BOOTSTRAP, fit_frame
from reports.model.store import current_model
from reports.runs.load import load_run
from reports.model.entries import fit_entries
from reports.planning.results import CrossoverResult, PlanResult
from reports.present.document import to_html, to_markdown
from reports.present.format import interval, num, pct, size
from reports.present.normal_view import normal_views
from reports.present.plan_text import plan_sentence, plan_view
from reports.present.sections import report_document
from reports.present.series import series_view
from reports.runs.summary import summarize_run

CSS = """body{font-family:sans-serif;margin:1.5em auto;max-width:1300px;padding:0 1em;color:#222}
h2{margin-top:1.4em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:.6em 0;max-width:100%}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee;overflow-wrap:anywhere}td.l,th.l{text-align:left}
tr.x td{color:#777;font-style:italic}
img{max-width:100%;border:1px solid #ddd}
.headline{background:#f4f8ff;border:1px solid #c9d9f2;padding:.4em 1.2em;margin:1em 0}
.headline li{margin:.25em 0}
.note{background:#fff4d6;border-left:5px solid #e0a800;padding:.5em 1em;margin:.6em 0}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1em;margin-bottom:1em}
.fit{font-size:13px;margin:.3em 0 .6em}.fit.poor{color:#a40000}
figure{margin:0}figcaption{font-size:12px;color:#555}
details{margin:0 0 .8em 2.5em}summary{cursor:pointer;color:#444}details ul{font-size:13px}"""


def _names(runs) -> list[str]:
    """Short, distinct labels for the runs (their directory names)."""
    names, seen = [], {}
    for run in runs:
        name = Path(run).resolve().name or str(run)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return names


def time_statistic(frame: pd.DataFrame) -> str:
    """The time a run's fits and smallest-size latency use: the median where the records
    carry one (commscale's), else the mean (imported logs print only that)."""
    return "median" if frame["time_us_median"].notna().any() else "mean"


def _statistic_words(statistics: dict) -> str:
    """The statistic of several runs in a header: 'median', or 'median; mean where imported'."""
    kinds = sorted(set(statistics.values()), reverse=True)
    return kinds[0] if len(kinds) == 1 else "median; mean where only that is known"


def summary_view(summary: pd.DataFrame, statistics: dict | None = None) -> pd.DataFrame:
    """The summary for reading: sizes in binary units, units and statistics in the column
    names (peak busbw from the records' mean time; the smallest-size time a median where known)."""
    time = _statistic_words(statistics or {"": "median"})
    return pd.DataFrame({
        "run": summary["run"], "collective": summary["collective"], "backend": summary["backend"],
        "fabric": summary["fabric"], "nranks": summary["nranks"], "nnodes": summary["nnodes"],
        "ok": summary["points_ok"], "skipped": summary["points_skipped"], "failed": summary["points_failed"],
        "wrong": summary["n_wrong"], "smallest size": summary["min_size_bytes"].map(size),
        f"time_us there ({time})": summary["min_size_time_us"], findings.PEAK_BUSBW: summary["peak_busbw_gbps"],
        "at size": summary["peak_at_size_bytes"].map(size)})


def _with_ci(value, ci) -> str:
    return f"{num(value)} {interval(ci)}" if ci else num(value)


def model_view(rows: list[tuple[str, dict]], statistics: dict | None = None) -> pd.DataFrame:
    """(run, model.json entry) pairs as a table with R² and the 95% intervals; `statistics`:
    run -> the time its fits used ("median" or "mean"), named beside the fits' peak busbw."""
    time = _statistic_words({run: (statistics or {}).get(run, "median") for run, _ in rows} or {"": "median"})
    return pd.DataFrame([{
        "run": run, "collective": e["collective"],
        "backend, fabric, dtype, place": f"{e['backend']}, {e['fabric']}, {e['dtype']}, " + _place(e),
        "regime: sizes": f"{e['regime']} of {e['regimes']}: {size(e['size_bytes_min'])}-{size(e['size_bytes_max'])}",
        "family": e["family"], "alpha_us [95%]": _with_ci(e["alpha_us"], e["alpha_us_ci"]),
        "bandwidth_gbps [95%]": _with_ci(e["bandwidth_gbps"], e["bandwidth_gbps_ci"]),
        "busbw asymptote GB/s [95%]": _with_ci(e["busbw_asymptote_gbps"], e["busbw_asymptote_gbps_ci"])
        + ("" if e.get("busbw_asymptote_reached", True) else ", not reached (extrapolated)"),
        f"peak busbw_gbps ({time} time)": (f"{num(e['peak_busbw_gbps'])} at {size(e['peak_at_size_bytes'])}"
                                          if e["peak_busbw_gbps"] is not None else "-"),
        "R\u00b2": e["r2"], "in-sample MAPE": pct(e["mape_pct"]),
        "held-out MAPE (this regime's sizes)": (f"{pct(e['heldout_mape_pct'])} ({e['heldout_nranks']} ranks from "
                                               f"{', '.join(map(str, e['heldout_from_nranks']))})"
                                               if e["heldout_mape_pct"] is not None else "-"),
        "points": e["points"]} for run, e in rows])


def _place(e: dict) -> str:
    return {True: "in", False: "out"}.get(e.get("in_place"), "-") + (" (batch)" if e.get("timing") == "batch" else "")


def timing_view(ok: pd.DataFrame) -> pd.DataFrame:
    """Points measured both per call and in batches (`--timing`): the two medians side by
    side, and batch / call. Empty when the runs hold one timing only."""
    keys = ["collective", "backend", "dtype", "in_place", "nranks", "size_bytes"]
    both = ok[ok["timing"].isin(["call", "batch"])]
    if both["timing"].nunique() < 2:
        return pd.DataFrame()
    wide = both.pivot_table(index=keys, columns="timing", values="time_us", aggfunc="median").dropna()
    return pd.DataFrame({
        "collective": wide.index.get_level_values("collective"), "backend": wide.index.get_level_values("backend"),
        "place": ["in" if v else "out" for v in wide.index.get_level_values("in_place")],
        "ranks": wide.index.get_level_values("nranks"),
        "size": [size(v) for v in wide.index.get_level_values("size_bytes")],
        "per call time_us": wide["call"].round(2).to_numpy(), "batch time_us": wide["batch"].round(2).to_numpy(),
        "batch / call": (wide["batch"] / wide["call"]).round(3).to_numpy()})


def crossover_view(crossing: CrossoverResult) -> pd.DataFrame:
    return pd.DataFrame([{
        "nodes": r.nnodes, "ranks": r.nranks, "fabric": r.fabric, "compute_ms": r.compute_ms,
        "comm_ms": r.comm_ms, "comm_ms 95%": interval(r.comm_ms_ci, 4), "comm / compute": r.comm_over_compute,
        "FLOP/B the step has": r.workload_flops_per_byte, "FLOP/B the fabric needs": r.needed_flops_per_byte,
        "source": r.source} for r in crossing.rows])



def busbw_factor(collective: str):
    """busbw / algbw for p ranks: commscale's collectives, and those only imported (scatter, ...)."""
    if collective in COLLECTIVES:
        return get_collective(collective).busbw_factor
    from reports.importers.kinds import KINDS
    return KINDS[collective].factor

@dataclass
class CollectiveSection:
    """One collective's story: its figures and a sentence per fit beside them."""
    collective: str
    notes: list = field(default_factory=list)
    """(run, fabric, sentence, quality word)"""
    figures: list = field(default_factory=list)
    """(title, path)"""


def _story(folder: Path, crossings: dict, plans: dict) -> list:
    """The crossover and training-plan figures, (title, path, wide) each: the plan's two
    panels take the page's width, the others half of it."""
    story = []
    for name, crossing in crossings.items():
        path = folder / f"crossover_{name}.png"
        figures.compute_vs_comm(crossing, path)
        story.append((f"{name}: compute vs communication ({crossing.workload['name']})", path, False))
        path = folder / f"roofline_{name}.png"
        figures.roofline(crossing, path)
        story.append((f"{name}: communication roofline", path, False))
    for name, res in plans.items():
        path = folder / f"plan_{name}.png"
        figures.plan_breakdown(res, path)
        story.append((f"{name}: training plan ({res.workload['name']}): the step and each communication", path, True))
    return story


@dataclass
class Runs:
    """What the runs hold, by run name: records, meta.json, fits, and the results beside them."""
    names: list
    paths: list
    frames: list = field(default_factory=list)
    metas: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)
    """(run, fabric, collective) -> KeyFit: the first dtype of each"""
    crossings: dict = field(default_factory=dict)
    plans: dict = field(default_factory=dict)
    doctors: dict = field(default_factory=dict)
    """run name -> doctor_views(doctor.json): the doctor's sentence, suspects and nodes."""


def _read_runs(runs, given: dict, results=()) -> Runs:
    """`given`: {run: [KeyFit]} for runs the caller has fitted already (others are fitted here);
    `results`: directories of crossover.json or plan.json that crossover and plan wrote
    outside the runs (their default), each shown under its directory's name."""
    read = Runs(_names(runs), [Path(r) for r in runs])
    for run, name in zip(runs, read.names):
        _read_run(Path(run), name, given.get(run), read)
    for place in map(Path, results):
        _read_results(place, place.name, read)
    return read


def _read_results(place: Path, name: str, read: Runs) -> None:
    """The crossover and the plan a directory holds, under `name`."""
    if (place / "crossover.json").exists():
        read.crossings[name] = CrossoverResult.from_json(json.loads((place / "crossover.json").read_text()))
    if (place / "plan.json").exists():
        read.plans[name] = PlanResult.from_json(json.loads((place / "plan.json").read_text()))


def _read_run(run: Path, name: str, fitted, read: Runs) -> None:
    df = load_run(run).assign(run=name)
    read.frames.append(df)
    read.metas[name] = load_meta(run) if (run / "meta.json").exists() else {}
    for fit in fitted or _fits([run], df):
        read.fits.setdefault((name, fit.key["fabric"], fit.key["collective"]), fit)  # first dtype of each
    _read_results(run, name, read)
    if (run / DOCTOR_FILE).exists():
        read.doctors[name] = doctor_views(DoctorResult.from_json(json.loads((run / DOCTOR_FILE).read_text())))


def _fits(runs: list[Path], df) -> list:
    """The flat fits of these runs' records: a current model.json's (in the runs, fitted on
    exactly these records with the one bootstrap setting), else fitted here."""
    stored = current_model(runs, runs, BOOTSTRAP)
    return stored.fits if stored else fit_frame(df, BOOTSTRAP)


def _points(frames) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All records, and the points figures and fits show: sized and ok (0-byte rows and points
    whose size or busbw is unknown, imported without a rank count, stay in the records and
    the summary table only)."""
    df = pd.concat(frames, ignore_index=True)
    df["time_us"] = df["time_us_median"].fillna(df["time_us_mean"])
    ok = df[(df["status"] == "ok") & (df["size_bytes"].fillna(0) > 0) & df["busbw_gbps"].notna()]
    return df, ok


def _collectives(read: Runs, df, ok, folder: Path, scale_sizes) -> tuple[list, list, list]:
    """Per collective: its section (a sentence per fit, the busbw figures), its latency figure
    (title, path) for the end, and the fits' headline rows."""
    pooled = {}  # several runs: one model fitted to all of them, for the scale figure
    if len(read.frames) > 1:
        for fit in _fits(read.paths, df):
            pooled.setdefault(fit.key["collective"], fit)
    sizes_for = (lambda g: scale_sizes) if scale_sizes else _scale_sizes
    sections, more, key_rows = [], [], []
    for collective in dict.fromkeys(ok["collective"]):
        sub = ok[ok["collective"] == collective]
        mine = {(r, f): fit for (r, f, c), fit in read.fits.items() if c == collective}
        section = CollectiveSection(collective)
        key_rows += _fit_notes(section, sub, mine)
        section.figures += _busbw_figures(collective, sub, mine, folder, sizes_for, pooled.get(collective))
        path = folder / f"latency_{collective}.png"
        figures.latency_vs_size(sub, collective, mine, path)
        more.append((f"{collective}: latency vs size with the model", path))
        sections.append(section)
    return sections, more, key_rows


def _fit_notes(section: CollectiveSection, sub, mine: dict) -> list[dict]:
    """A sentence on each fit of the collective into `section`; returns their headline rows."""
    rows = []
    for (run, fabric), fit in mine.items():
        fitted = sub[(sub["run"] == run) & (sub["fabric"] == fabric) & (sub["dtype"] == fit.key["dtype"])
                     & (sub["backend"] == fit.key["backend"])]
        entries, coverage = fit_entries([fit]), findings.band_coverage(fitted, fit)
        row = findings.key_row(section.collective, run, fit.key, fitted, entries, coverage)
        section.notes.append((run, fabric, findings.fit_note(entries, coverage), row["model fit"]))
        rows.append(row)
    return rows


def _busbw_figures(collective: str, sub, mine: dict, folder: Path, sizes_for, pooled) -> list:
    """busbw vs size, and vs scale where the group size or node count varies: (title, path) each."""
    factor = busbw_factor(collective)
    path = folder / f"busbw_{collective}.png"
    figures.busbw_vs_size(sub, collective, path, mine, factor)
    made = [(f"{collective}: busbw vs size with the model", path)]
    if sub["nranks"].nunique() > 1 or sub["nnodes"].nunique() > 1:
        path = folder / f"scale_{collective}.png"
        figures.busbw_vs_scale(sub, collective, mine, sizes_for, factor, path, pooled)
        marks = "; ".join(label for _, label in figures.tier_boundaries(sub)) if sub["nnodes"].nunique() > 1 else ""
        made.append((f"{collective}: busbw vs scale" + (f" (dotted: {marks})" if marks else ""), path))
    return made


def _summary(read: Runs, path: Path) -> pd.DataFrame:
    """Per run, collective and group (summary_run); written to `path` as CSV."""
    summary = pd.concat([summarize_run(f).assign(run=n) for f, n in zip(read.frames, read.names)], ignore_index=True)
    summary = summary[["run"] + [c for c in summary.columns if c != "run"]]
    summary.to_csv(path, index=False)
    return summary


def _headline(read: Runs, df, key_rows: list, series: list) -> Headline:
    points = [findings.points_sentence(findings.point_counts(f)) for f in read.frames]
    if len(read.names) > 1:
        points = [f"{name}: {p}" for name, p in zip(read.names, points)]
    points += [s for s in [findings.unplotted_sentence(df)] if s] + straggler_text.sentences(read.metas)
    return Headline(cpu=findings.cpu_note(df), points=points,
                    crossovers=[findings.crossover_sentence(c, _all_sizes_heldout(read, name, c))
                                for name, c in read.crossings.items()],
                    keys=pd.DataFrame(key_rows), series=[v.sentence for v in series],
                    plans=[plan_sentence(p) for p in read.plans.values()])


def _all_sizes_heldout(read: Runs, name: str, crossing: CrossoverResult) -> float | None:
    """The held-out error over all sizes (the findings table's) of the fit the crossover
    priced with: the run's fit of its collective one of whose regimes has the crossover's
    held-out error. None where no fit of the report is that one (a tiered model)."""
    held = crossing.heldout_mape_pct
    for (run, _, collective), fit in read.fits.items():
        if run == name and collective == crossing.collective and held is not None and any(
                r.heldout_mape_pct is not None and math.isclose(r.heldout_mape_pct, held, rel_tol=1e-6)
                for r in fit.regimes):
            return fit.heldout_mape_pct
    return None


def _tables(read: Runs, summary, ok, series: list, normal: list) -> Tables:
    statistics = {name: time_statistic(frame) for name, frame in zip(read.names, read.frames)}
    model = model_view([(r, e) for (r, _, _), fit in read.fits.items() for e in fit_entries([fit])], statistics)
    return Tables(summary_view(summary, statistics), model,
                  {name: crossover_view(c) for name, c in read.crossings.items()},
                  timing_view(ok), read.doctors, {name: plan_view(p) for name, p in read.plans.items()}, series,
                  normal)


def build_report(runs, out: Path, scale_sizes=None, fits=None, results=()) -> dict:
    """Write every output into `out`; returns their paths and what the figures hold.
    `fits`: {run: [KeyFit]} for runs the caller has fitted already (others are fitted here);
    `results`: directories of crossover.json or plan.json written outside the runs."""
    out = Path(out)
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    read = _read_runs(runs, fits or {}, results)
    df, ok = _points(read.frames)
    sections, more, key_rows = _collectives(read, df, ok, folder, scale_sizes)
    series = [v for v in (series_view(df, c) for c in dict.fromkeys(ok["collective"])) if v is not None]
    story = _story(folder, read.crossings, read.plans)  # the crossover and plan figures lead
    summary = _summary(read, out / "summary.csv")
    normal = normal_views(read.names, read.frames, read.metas, folder)
    doc = report_document(read.names, read.metas, _headline(read, df, key_rows, series), story, sections,
                          _tables(read, summary, ok, series, normal), more, home=out)
    (out / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    (out / "report.html").write_text(to_html(doc, CSS), encoding="utf-8")
    made = [(t, p) for t, p, _ in story] + [f for s in sections for f in s.figures] + more + \
        [v.figure for v in normal if v.figure]
    return {"html": out / "report.html", "md": out / "report.md", "csv": out / "summary.csv",
            "figures": [p for _, p in made]}


@dataclass
class Headline:
    cpu: str | None
    points: list
    crossovers: list
    keys: pd.DataFrame
    """One row per fitted key (findings.key_row)."""
    series: list = ()
    """One sentence per collective measured at several node counts (reports/present/series.py)."""
    plans: list = ()
    """One sentence per training plan (plan_text.plan_sentence)."""


@dataclass
class Tables:
    summary: pd.DataFrame
    model: pd.DataFrame
    crossover: dict
    timing: pd.DataFrame
    """timing_view: per-call and batch medians of the same points, when both were measured."""
    doctor: dict = field(default_factory=dict)
    """run name -> doctor_views(doctor.json): the doctor's sentence, suspects and nodes."""
    plan: dict = field(default_factory=dict)
    """run name -> plan_view(plan.json): the training plan per node count."""
    series: list = field(default_factory=list)
    """SeriesView per collective measured at several node counts."""
    normal: list = field(default_factory=list)
    """NormalView per run and key: where it sits among comparable published runs."""


def _scale_sizes(df) -> list[int]:
    """Two sizes every group size of a run measured: the largest and one about 1000 times
    smaller."""
    common = set.intersection(*(set(g["size_bytes"]) for _, g in df.groupby("nranks")))
    if not common:
        return []
    big = max(common)
    small = min(common, key=lambda n: abs(n - big / 1024))
    return sorted({small, big})

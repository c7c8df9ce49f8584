"""`commscale report`: report.html (self-contained: figures inline as data: URIs, no
scripts, no fetches), report.md (to paste into a ticket), the figures as PNG and
summary.csv, for one or more runs side by side."""
from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from collectives.records import load_meta
from collectives.registry import COLLECTIVES, get_collective
from collectives.sizes import format_size

from reports.present import figures, findings
from reports.doctor.result import DoctorResult
from reports.doctor.stats import DOCTOR_FILE
from reports.present.doctor_text import doctor_views
from reports.model.fit import fit_frame
from reports.runs.load import load_run
from reports.model.entries import fit_entries
from reports.planning.results import CrossoverResult, PlanResult
from reports.present.format import interval
from reports.present.plan_text import plan_sentence, plan_view
from reports.present.series import series_view
from reports.runs.summary import summarize_run

BOOTSTRAP = 200
SERIES_TEXT = ("The runs taken together as one node-count series, with the model commscale predict uses "
               "(docs/model.md#predictions): measured busbw by node count at the largest size every scale "
               "measured, then predictions at 2x, 4x and 8x the largest with their predictive intervals. "
               "The per-run fits below describe each run alone.")
CSS = """body{font-family:sans-serif;margin:1.5em auto;max-width:1300px;padding:0 1em;color:#222}
h2{margin-top:1.4em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:.6em 0;max-width:100%}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee;overflow-wrap:anywhere}td.l,th.l{text-align:left}
tr.x td{color:#777;font-style:italic}
img{max-width:100%;border:1px solid #ddd}
.headline{background:#f4f8ff;border:1px solid #c9d9f2;padding:.4em 1.2em;margin:1em 0}
.headline li{margin:.25em 0}
.note{background:#fff4d6;border-left:5px solid #e0a800;padding:.5em 1em;margin:.6em 0}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1em}
.fit{font-size:13px;margin:.3em 0 .6em}.fit.poor{color:#a40000}
figure{margin:0}figcaption{font-size:12px;color:#555}"""


def _names(runs) -> list[str]:
    """Short, distinct labels for the runs (their directory names)."""
    names, seen = [], {}
    for run in runs:
        name = Path(run).resolve().name or str(run)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return names


def _text(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _table_html(df: pd.DataFrame, dim=None) -> str:
    """`dim`: a boolean per row, drawn grey and italic (extrapolated rows)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for i, row in enumerate(df.itertuples(index=False)):
        cells = "".join(f"<td{' class=l' if isinstance(v, str) else ''}>{html.escape(_text(v))}</td>" for v in row)
        body.append(f"<tr{' class=x' if dim is not None and dim[i] else ''}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _table_md(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_text(v).replace("|", "\\|") for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _size(v) -> str:
    return "-" if v is None or pd.isna(v) else format_size(int(v))


def _ci(ci, fmt="{:.3g}") -> str:
    if not ci or ci[0] is None:
        return "-"
    return f"[{fmt.format(ci[0])}, {fmt.format(ci[1]) if ci[1] is not None else 'inf'}]"


def summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary for reading: sizes in binary units, units in the column names."""
    return pd.DataFrame({
        "run": summary["run"], "collective": summary["collective"], "backend": summary["backend"],
        "fabric": summary["fabric"], "nranks": summary["nranks"], "nnodes": summary["nnodes"],
        "ok": summary["points_ok"], "skipped": summary["points_skipped"], "failed": summary["points_failed"],
        "wrong": summary["n_wrong"], "smallest size": summary["min_size_bytes"].map(_size),
        "time_us there": summary["min_size_time_us"], "peak busbw_gbps": summary["peak_busbw_gbps"],
        "at size": summary["peak_at_size_bytes"].map(_size)})


def model_view(rows: list[tuple[str, dict]]) -> pd.DataFrame:
    """(run, model.json entry) pairs as a table with R² and the 95% intervals."""
    return pd.DataFrame([{
        "run": run, "collective": e["collective"], "backend": e["backend"], "fabric": e["fabric"],
        "dtype": e["dtype"], "regime": f"{e['regime']} of {e['regimes']}",
        "place": {True: "in", False: "out"}.get(e.get("in_place"), "-") + (" (batch)" if e.get("timing") == "batch" else ""),
        "sizes": f"{format_size(e['size_bytes_min'])}-{format_size(e['size_bytes_max'])}", "family": e["family"],
        "alpha_us": e["alpha_us"], "alpha_us 95%": _ci(e["alpha_us_ci"]), "bandwidth_gbps": e["bandwidth_gbps"],
        "bandwidth_gbps 95%": _ci(e["bandwidth_gbps_ci"]), "busbw asymptote GB/s": e["busbw_asymptote_gbps"],
        "busbw asymptote 95%": _ci(e["busbw_asymptote_gbps_ci"]),
        "asymptote reached": {True: "yes", False: "no (extrapolated)"}.get(e.get("busbw_asymptote_reached"), "-"),
        "peak busbw (at size)": (f"{e['peak_busbw_gbps']:.3g} at {format_size(e['peak_at_size_bytes'])}"
                                 if e["peak_busbw_gbps"] is not None else "-"),
        "R\u00b2": e["r2"], "MAPE %": e["mape_pct"],
        "held-out MAPE %": (f"{e['heldout_mape_pct']:.1f} at {e['heldout_nranks']} ranks from "
                            f"{', '.join(map(str, e['heldout_from_nranks']))}"
                            if e["heldout_mape_pct"] is not None else "-"),
        "points": e["points"]} for run, e in rows])


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
        "size": [format_size(int(v)) for v in wide.index.get_level_values("size_bytes")],
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
class Section:
    """One collective's story: its figures and a sentence per fit beside them."""
    collective: str
    notes: list = field(default_factory=list)
    """(run, fabric, sentence, quality word)"""
    figures: list = field(default_factory=list)
    """(title, path)"""


def _story(folder: Path, crossings: dict, plans: dict) -> list:
    """The crossover and training-plan figures, (title, path) each."""
    story = []
    for name, crossing in crossings.items():
        path = folder / f"crossover_{name}.png"
        figures.compute_vs_comm(crossing, path)
        story.append((f"{name}: compute vs communication ({crossing.workload['name']})", path))
        path = folder / f"roofline_{name}.png"
        figures.roofline(crossing, path)
        story.append((f"{name}: communication roofline", path))
    for name, res in plans.items():
        path = folder / f"plan_{name}.png"
        figures.plan_breakdown(res, path)
        story.append((f"{name}: training plan ({res.workload['name']}): the step and each communication", path))
    return story


def build_report(runs, out: Path, scale_sizes=None, fits=None) -> dict:
    """Write every output into `out`; returns their paths and what the figures hold.
    `fits`: {run: [KeyFit]} for runs the caller has fitted already (others are fitted here)."""
    given = fits or {}
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    names = _names(runs)
    frames, metas, fits, crossings, doctors, plans = [], {}, {}, {}, {}, {}  # fits: (run, fabric, collective) -> KeyFit
    for run, name in zip(runs, names):
        df = load_run(run).assign(run=name)
        frames.append(df)
        meta_path = Path(run) / "meta.json"
        metas[name] = load_meta(run) if meta_path.exists() else {}
        for fit in given.get(run) or fit_frame(df, BOOTSTRAP):
            key = (name, fit.key["fabric"], fit.key["collective"])
            fits.setdefault(key, fit)  # first dtype of each
        crossing = Path(run) / "crossover.json"
        if crossing.exists():
            crossings[name] = CrossoverResult.from_json(json.loads(crossing.read_text()))
        if (Path(run) / "plan.json").exists():
            plans[name] = PlanResult.from_json(json.loads((Path(run) / "plan.json").read_text()))
        if (Path(run) / DOCTOR_FILE).exists():
            doctors[name] = doctor_views(DoctorResult.from_json(json.loads((Path(run) / DOCTOR_FILE).read_text())))
    df = pd.concat(frames, ignore_index=True)
    df["time_us"] = df["time_us_median"].fillna(df["time_us_mean"])
    # figures and fits show sized points: 0-byte rows and points whose size or busbw is unknown
    # (imported without a rank count) stay in the records and the summary table only
    ok = df[(df["status"] == "ok") & (df["size_bytes"].fillna(0) > 0) & df["busbw_gbps"].notna()]
    sections, more, key_rows = [], [], []  # more: (title, path) after the tables
    pooled = {}  # several runs: one model fitted to all of them, for the scale figure
    if len(frames) > 1:
        for fit in fit_frame(df, BOOTSTRAP):
            pooled.setdefault(fit.key["collective"], fit)
    for collective in dict.fromkeys(ok["collective"]):
        sub = ok[ok["collective"] == collective]
        mine = {(r, f): fit for (r, f, c), fit in fits.items() if c == collective}
        factor = busbw_factor(collective)
        section = Section(collective)
        for (run, fabric), fit in mine.items():
            fitted = sub[(sub["run"] == run) & (sub["fabric"] == fabric) & (sub["dtype"] == fit.key["dtype"])
                         & (sub["backend"] == fit.key["backend"])]
            entries, coverage = fit_entries([fit]), findings.band_coverage(fitted, fit)
            row = findings.key_row(collective, run, fit.key, fitted, entries, coverage)
            section.notes.append((run, fabric, findings.fit_note(entries, coverage), row["model fit"]))
            key_rows.append(row)
        path = out / "figures" / f"busbw_{collective}.png"
        figures.busbw_vs_size(sub, collective, path, mine, factor)
        section.figures.append((f"{collective}: busbw vs size with the model", path))
        if sub["nranks"].nunique() > 1 or sub["nnodes"].nunique() > 1:
            path = out / "figures" / f"scale_{collective}.png"
            figures.busbw_vs_scale(sub, collective, mine, (lambda g: scale_sizes) if scale_sizes else _scale_sizes,
                                   factor, path, pooled.get(collective))
            marks = "; ".join(label for _, label in figures.tier_boundaries(sub)) if sub["nnodes"].nunique() > 1 else ""
            section.figures.append((f"{collective}: busbw vs scale" + (f" (dotted: {marks})" if marks else ""), path))
        path = out / "figures" / f"latency_{collective}.png"
        figures.latency_vs_size(sub, collective, mine, path)
        more.append((f"{collective}: latency vs size with the model", path))
        sections.append(section)
    series = [v for v in (series_view(df, c) for c in dict.fromkeys(ok["collective"])) if v is not None]
    story = _story(out / "figures", crossings, plans)  # the crossover and plan figures lead
    summary = pd.concat([summarize_run(f).assign(run=n) for f, n in zip(frames, names)], ignore_index=True)
    summary = summary[["run"] + [c for c in summary.columns if c != "run"]]
    summary.to_csv(out / "summary.csv", index=False)
    headline = Headline(
        cpu=findings.cpu_note(df),
        points=[f"{name}: {findings.points_sentence(findings.point_counts(f))}" if len(names) > 1
                else findings.points_sentence(findings.point_counts(f)) for f, name in zip(frames, names)]
        + [s for s in [findings.unplotted_sentence(df)] if s],
        crossovers=[findings.crossover_sentence(c) for c in crossings.values()]
        + [plan_sentence(p) for p in plans.values()], keys=pd.DataFrame(key_rows),
        series=[v.sentence for v in series])
    tables = Tables(summary_view(summary), model_view([(r, e) for (r, _, _), fit in fits.items() for e in fit_entries([fit])]),
                    {name: crossover_view(c) for name, c in crossings.items()}, timing_view(ok), doctors,
                    {name: plan_view(p) for name, p in plans.items()}, series)
    _write_md(out, names, metas, headline, story, sections, tables, more)
    _write_html(out, names, metas, headline, story, sections, tables, more)
    made = story + [f for s in sections for f in s.figures] + more
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


def _scale_sizes(df) -> list[int]:
    """Two sizes every group size of a run measured: the largest and one about 1000 times
    smaller."""
    common = set.intersection(*(set(g["size_bytes"]) for _, g in df.groupby("nranks")))
    if not common:
        return []
    big = max(common)
    small = min(common, key=lambda n: abs(n - big / 1024))
    return sorted({small, big})


def _run_lines(names, metas):
    for name in names:
        m = metas[name]
        versions = m.get("versions", {})
        what = ", ".join(f"{k} {v}" for k, v in versions.items() if k in ("torch", "nccl", "mpi_library") and v)
        parts = [f"imported from {m['tool']}" if "tool" in m else f"launcher {m.get('launcher', '?')}"]
        if m.get("world_size"):
            parts.append(f"world {m['world_size']}")
        if m.get("hosts"):
            parts.append(f"hosts {', '.join(map(str, m['hosts']))}")
        parts += [what] if what else []
        parts.append(f"status {m.get('status', '?')}")
        yield name, "; ".join(parts)


def _write_md(out, names, metas, headline, story, sections, tables, more):
    lines = [f"# commscale report: {', '.join(names)}", ""]
    lines += [f"- **{name}**: {text}" for name, text in _run_lines(names, metas)]
    lines += ["", "## Findings", ""]
    lines += [f"> **Note:** {headline.cpu}", ""] if headline.cpu else []
    lines += [f"- {t}" for t in headline.points]
    lines += [f"- **Scaling** {t}" for t in headline.series]
    lines += [f"- **Crossover** {t}" for t in headline.crossovers]
    lines += ["", _table_md(headline.keys)] if not headline.keys.empty else []
    for v in tables.series:
        lines += ["", f"## Scaling across node counts: {v.collective}", "", SERIES_TEXT, "", v.model, "",
                  _table_md(v.measured), "", _table_md(v.predicted)]
    lines += ["", "## Figures", ""] + [f"- {title}: `figures/{p.name}`" for title, p in story]
    for s in sections:
        lines += ["", f"### {s.collective}", ""] + [f"- {run}, {fabric}: {note}" for run, fabric, note, _ in s.notes]
        lines += [f"- {title}: `figures/{p.name}`" for title, p in s.figures]
    lines += ["", "## Summary (latency at the smallest size, peak busbw)", "", _table_md(tables.summary), ""]
    if not tables.model.empty:
        lines += ["## Scaling model (95% bootstrap intervals; held-out error predicting the largest group)", "",
                  _table_md(tables.model), ""]
    for name, table in tables.crossover.items():
        lines += [f"## Crossover: {name}", "", _table_md(table), ""]
    for name, table in tables.plan.items():
        lines += [f"## Training plan: {name} (per GPU per step; exposed in brackets)", "", _table_md(table), ""]
    for name, (sentence, suspects, nodes) in tables.doctor.items():
        lines += [f"## Slow nodes and links (doctor): {name}", "", sentence, ""]
        lines += [_table_md(suspects), ""] if not suspects.empty else []
        lines += [_table_md(nodes), ""]
    if not tables.timing.empty:
        lines += ["## Per-call vs batch timing (medians; batch / call under 1: the per-call clock adds cost)", "",
                  _table_md(tables.timing), ""]
    lines += ["## More figures", ""] + [f"- {title}: `figures/{p.name}`" for title, p in more]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _img(title, path) -> str:
    e = html.escape
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img alt='{e(title, quote=True)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{e(title)}</figcaption></figure>")


def _write_html(out, names, metas, headline, story, sections, tables, more):
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>commscale report: {e(', '.join(names))}"
             f"</title><style>{CSS}</style></head><body>", f"<h1>commscale report: {e(', '.join(names))}</h1><ul>"]
    parts += [f"<li><b>{e(name)}</b>: {e(text)}</li>" for name, text in _run_lines(names, metas)]
    parts.append("</ul><section class=headline><h2>Findings</h2>")
    if headline.cpu:
        parts.append(f"<p class=note><b>CPU ranks stand in for GPUs.</b> {e(headline.cpu)}</p>")
    parts.append("<ul>" + "".join(f"<li>{e(t)}</li>" for t in headline.points))
    parts += [f"<li><b>Scaling</b> {e(t)}</li>" for t in headline.series]
    parts += [f"<li><b>Crossover</b> {e(t)}</li>" for t in headline.crossovers]
    parts.append("</ul>")
    if not headline.keys.empty:
        parts += ["<p>Per fitted collective: the peak busbw measured, and the model's fit in a word (good: MAPE up to "
                  "10%, fair: up to 25%, poor: above; the held-out error where it is worse), with how many measured points lie outside its 95% band.</p>",
                  _table_html(headline.keys)]
    parts.append("</section>")
    for v in tables.series:
        parts += [f"<h2>Scaling across node counts: {e(v.collective)}</h2><p>{e(SERIES_TEXT)}</p><p>{e(v.model)}</p>",
                  _table_html(v.measured), _table_html(v.predicted)]
    if story:
        parts.append("<h2>Compute vs communication</h2><p>Solid lines and filled markers: the measured scale; "
                     "dashed lines, hollow markers and the hatched background: extrapolated by the model.</p>"
                     "<div class=grid>" + "".join(_img(t, p) for t, p in story) + "</div>")
    parts.append("<h2>Bandwidth by collective</h2><p>Points: measured busbw (GB/s = 1e9 B/s). Lines: the fitted "
                 "model, its band the 95% bootstrap interval of the fitted curve.</p>")
    for s in sections:
        parts.append(f"<h3>{e(s.collective)}</h3>")
        parts += [f"<p class='fit {q}'>{e(run)}, {e(fabric)}: {e(note)}</p>" for run, fabric, note, q in s.notes]
        parts.append("<div class=grid>" + "".join(_img(t, p) for t, p in s.figures) + "</div>")
    parts += ["<h2>Summary</h2><p>Per collective and group: points, wrong elements, the median time at the smallest "
              "size and the peak busbw with the size it was reached at.</p>", _table_html(tables.summary)]
    if not tables.model.empty:
        parts += ["<h2>Scaling model</h2><p>T(n, p) = alpha A(p) + n B(p) / bandwidth per collective, fitted on time "
                  "with 95% bootstrap intervals; held-out: MAPE predicting the largest group size from the others."
                  "</p>", _table_html(tables.model)]
    for name, table in tables.crossover.items():
        parts += [f"<h2>Crossover: {e(name)}</h2><p>Grey rows are extrapolated past the measured scale.</p>",
                  _table_html(table, list(table["source"] == "extrapolated"))]
    for name, table in tables.plan.items():
        parts += [f"<h2>Training plan: {e(name)}</h2><p>Per GPU per step: compute, each communication with the part "
                  "left exposed in brackets, the pipeline bubble, the step with its 95% interval, tokens/s and MFU. "
                  "Grey rows are extrapolated past the measured scale.</p>",
                  _table_html(table, list(table["source"] == "extrapolated"))]
    for name, (sentence, suspects, nodes) in tables.doctor.items():
        parts += [f"<h2>Slow nodes and links (doctor): {e(name)}</h2><p>{e(sentence)} A node's capacity is the "
                  "best of its pair rates; a suspect lies below the reference by more than the "
                  "threshold and 3 robust spreads, in at least 80% of the bootstrap resamples.</p>"]
        parts += [_table_html(suspects)] if not suspects.empty else []
        parts.append(_table_html(nodes))
    if not tables.timing.empty:
        parts += ["<h2>Per-call vs batch timing</h2><p>The same points timed each call alone (the max over ranks "
                  "per call) and in batches of calls between two synchronisations (as nccl-tests times): medians, "
                  "and batch / call. On hosts they agree within noise at large sizes; on GPUs batches hide the "
                  "launch cost.</p>", _table_html(tables.timing)]
    parts.append("<h2>More figures</h2><div class=grid>" + "".join(_img(t, p) for t, p in more) + "</div>")
    parts.append("</body></html>")
    (out / "report.html").write_text("\n".join(parts), encoding="utf-8")

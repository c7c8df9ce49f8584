"""`commscale report`: report.html (self-contained: figures inline as data: URIs, no
scripts, no fetches), report.md (to paste into a ticket), the figures as PNG and
summary.csv, for one or more runs side by side."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from collectives.registry import get_collective

from . import figures
from .crossover import format_crossover
from .fit import fit_frame
from .load import load_meta, load_run
from .model import fit_entries
from .summary import summarize_run

BOOTSTRAP = 200
CSS = """body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#eee}td.l,th.l{text-align:left}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
pre{background:#f6f6f6;padding:.6em;font-size:11px;overflow-x:auto}"""


def _names(runs) -> list[str]:
    """Short, distinct labels for the runs (their directory names)."""
    names, seen = [], {}
    for run in runs:
        name = Path(run).resolve().name or str(run)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return names


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            text = "-" if v is None or (isinstance(v, float) and pd.isna(v)) else \
                (f"{v:.4g}" if isinstance(v, float) else str(v))
            cells.append(f"<td{' class=l' if isinstance(v, str) else ''}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _table_md(df: pd.DataFrame) -> str:
    def cell(v):
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return "-"
        return (f"{v:.4g}" if isinstance(v, float) else str(v)).replace("|", "\\|")
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def build_report(runs, out: Path, scale_sizes=None, fits=None) -> dict:
    """Write every output into `out`; returns their paths and what the figures hold.
    `fits`: {run: [KeyFit]} for runs the caller has fitted already (others are fitted here)."""
    given = fits or {}
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    names = _names(runs)
    frames, metas, fits, crossings = [], {}, {}, {}  # fits: (run name, fabric, collective) -> KeyFit
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
            crossings[name] = json.loads(crossing.read_text())
    df = pd.concat(frames, ignore_index=True)
    df["time_us"] = df["time_us_median"].fillna(df["time_us_mean"])
    ok = df[df["status"] == "ok"]
    made = []  # (title, path, description)
    for collective in dict.fromkeys(ok["collective"]):
        sub = ok[ok["collective"] == collective]
        mine = {(r, f): fit for (r, f, c), fit in fits.items() if c == collective}
        path = out / "figures" / f"busbw_{collective}.png"
        figures.busbw_vs_size(sub, collective, path)
        made.append((f"{collective}: busbw vs size", path))
        path = out / "figures" / f"latency_{collective}.png"
        figures.latency_vs_size(sub, collective, mine, path)
        made.append((f"{collective}: latency vs size with the model", path))
        if sub["nranks"].nunique() > 1 or sub["nnodes"].fillna(1).nunique() > 1:
            path = out / "figures" / f"scale_{collective}.png"
            figures.busbw_vs_scale(sub, collective, mine, (lambda g: scale_sizes) if scale_sizes else _scale_sizes,
                                   get_collective(collective).busbw_factor, path)
            made.append((f"{collective}: busbw vs scale", path))
    for name, crossing in crossings.items():
        path = out / "figures" / f"crossover_{name}.png"
        figures.compute_vs_comm(crossing, path)
        made.append((f"{name}: compute vs communication ({crossing['workload']['name']})", path))
        path = out / "figures" / f"roofline_{name}.png"
        figures.roofline(crossing, path)
        made.append((f"{name}: communication roofline", path))

    summary = pd.concat([summarize_run(f).assign(run=n) for f, n in zip(frames, names)], ignore_index=True)
    summary = summary[["run"] + [c for c in summary.columns if c != "run"]]
    summary.to_csv(out / "summary.csv", index=False)
    fit_table = pd.DataFrame([{"run": r, **{k: e[k] for k in ("collective", "backend", "fabric", "dtype", "regime",
                                                               "family", "alpha_us", "bandwidth_gbps", "mape_pct",
                                                               "heldout_mape_pct")}}
                              for (r, _, _), fit in fits.items() for e in fit_entries([fit])])
    texts = {name: format_crossover(c) for name, c in crossings.items()}
    _write_md(out, names, metas, summary, fit_table, texts, made)
    _write_html(out, names, metas, summary, fit_table, texts, made)
    return {"html": out / "report.html", "md": out / "report.md", "csv": out / "summary.csv",
            "figures": [p for _, p in made]}


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


def _write_md(out, names, metas, summary, fit_table, texts, made):
    lines = [f"# commscale report: {', '.join(names)}", ""]
    lines += [f"- **{name}**: {text}" for name, text in _run_lines(names, metas)]
    lines += ["", "## Summary (latency at the smallest size, peak busbw)", "", _table_md(summary), ""]
    if not fit_table.empty:
        lines += ["## Scaling model (alpha_us, bandwidth_gbps; held-out error predicting the largest group)", "",
                  _table_md(fit_table), ""]
    for name, text in texts.items():
        lines += [f"## Crossover: {name}", "", "```", text, "```", ""]
    lines += ["## Figures", ""] + [f"- {title}: `figures/{p.name}`" for title, p in made]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_html(out, names, metas, summary, fit_table, texts, made):
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>commscale report: {e(', '.join(names))}"
             f"</title><style>{CSS}</style></head><body>", f"<h1>commscale report: {e(', '.join(names))}</h1><ul>"]
    parts += [f"<li><b>{e(name)}</b>: {e(text)}</li>" for name, text in _run_lines(names, metas)]
    parts += ["</ul><h2>Summary</h2><p>Latency: median time at the smallest size; peak busbw: the highest bus "
              "bandwidth and the size it was reached at (GB/s = 1e9 B/s).</p>", _table_html(summary)]
    if not fit_table.empty:
        parts += ["<h2>Scaling model</h2><p>T(n, p) = alpha A(p) + n B(p) / bandwidth per collective; heldout: "
                  "MAPE (%) predicting the largest group size from the others.</p>", _table_html(fit_table)]
    for name, text in texts.items():
        parts.append(f"<h2>Crossover: {e(name)}</h2><pre>{e(text)}</pre>")
    parts.append("<h2>Figures</h2>")
    for title, path in made:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f"<h3>{e(title)}</h3><img alt='{e(title, quote=True)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    (out / "report.html").write_text("\n".join(parts), encoding="utf-8")

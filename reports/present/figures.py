"""The report's figures (matplotlib, Agg): one function per figure, each saving a PNG and
returning the Figure (for tests). Every axis has units; sizes are in binary units (KiB,
MiB). docs/reports.md lists the figures and what each draws."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import math

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from reports.present.format import size  # noqa: E402
from reports.planning.results import CrossoverResult, PlanResult  # noqa: E402

DPI = 100
LEGEND_PT = 9
"""The smallest text of any figure (legends, annotations), in points: 12.5 px in the PNG at
DPI 100, and above 10 px where the page shows it at 0.85 of its width or more (a figure in
the report's two columns at 1400 px shows at about 0.92; the plan's takes the page's width)."""


def _label(text) -> str:
    """A label as plain text: matplotlib would read $...$ as mathtext."""
    return str(text).replace("$", r"\$")


def _bytes_axis(ax) -> None:
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: size(v) if v >= 1 else ""))
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=4))
    for tick in ax.get_xticklabels():
        tick.set_rotation(30)


def _figure(width_in: float = 7, height_in: float = 4.2, ncols: int = 1):
    """A figure whose layout leaves room for a legend outside the axes (_legend_below)."""
    return plt.subplots(1, ncols, figsize=(width_in, height_in), layout="constrained")


def _legend_below(fig, axes, ncols: int = 2) -> None:
    """One legend for `axes` under them, outside the data, at LEGEND_PT; each label once."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if labels:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols, len(labels)), fontsize=LEGEND_PT,
                   frameon=False)


def regime_spans(fit, lo: float, hi: float, points: int = 60) -> list[np.ndarray]:
    """Sizes to draw `fit` at between lo and hi: a grid per regime over its own sizes only
    (one size where the regime has one), nothing over the gaps between regimes."""
    spans = []
    for regime in fit.regimes:
        a, b = max(float(lo), float(regime.size_lo)), min(float(hi), float(regime.size_hi))
        if a < b:
            spans.append(np.geomspace(a, b, points))
        elif a == b:
            spans.append(np.array([a]))
    return spans


def _regime_curves(ax, fit, g, p: int, colour, to_y) -> None:
    """The model and its 95% band over each regime's sizes within the group's (regime_spans);
    `to_y(sizes, times_us)` turns times into the figure's y (busbw or the time itself)."""
    for sizes in regime_spans(fit, g["size_bytes"].min(), g["size_bytes"].max()):
        model = to_y(sizes, np.array([fit.predict(n, p) for n in sizes]))
        q = np.array([np.percentile(fit.predict_samples(n, p), [2.5, 97.5]) for n in sizes])
        a, b = to_y(sizes, q[:, 0]), to_y(sizes, q[:, 1])
        if len(sizes) == 1:
            ax.plot(sizes, model, "_", color=colour, ms=12)
            ax.vlines(sizes, np.minimum(a, b), np.maximum(a, b), color=colour, alpha=0.3, lw=4)
            continue
        ax.plot(sizes, model, "-", color=colour, lw=1)
        ax.fill_between(sizes, np.minimum(a, b), np.maximum(a, b), color=colour, alpha=0.15, lw=0)


def _save(fig, path: Path):
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return fig


def _series(df):
    """(label, frame) per run, group size and fabric, sorted by size."""
    for (run, p, fabric), g in df.groupby(["run", "nranks", "fabric"], sort=True, dropna=False):
        yield _label(f"{run}: {'?' if pd.isna(p) else int(p)} ranks, {fabric}"), g.sort_values("size_bytes")


def busbw_vs_size(df, collective, path, fits=None, spec_factor=None):
    """fits: {(run, fabric): KeyFit} for this collective; with `spec_factor` (the busbw
    factor of p) the model's busbw = n factor(p) / T(n, p) is drawn with its 95% band, over
    each size regime's own sizes."""
    fig, ax = _figure(7, 4.2 + 0.25 * _legend_rows(df))
    for label, g in _series(df):
        line, = ax.plot(g["size_bytes"], g["busbw_gbps"], "o", ms=3, label=label)
        fit = (fits or {}).get((g["run"].iloc[0], g["fabric"].iloc[0]))
        p = int(g["nranks"].fillna(0).iloc[0])
        if fit is None or spec_factor is None or p < 2:
            continue
        _regime_curves(ax, fit, g, p, line.get_color(), lambda n, t: n * spec_factor(p) * 1e-3 / t)
    _bytes_axis(ax)
    ax.set_xlabel("size (bytes, nccl-tests semantics)")
    ax.set_ylabel("busbw (GB/s, from the mean time)")
    ax.set_title(_label(f"{collective}: bus bandwidth vs size; lines: model, bands: 95% interval"
                        if fits else f"{collective}: bus bandwidth vs size"), fontsize=11)
    ax.grid(True, alpha=0.3)
    _legend_below(fig, [ax])
    return _save(fig, path)


def _legend_rows(df, ncols: int = 2) -> int:
    """Rows of the legend under a figure of one entry per run, group size and fabric."""
    return -(-len(df.groupby(["run", "nranks", "fabric"], dropna=False)) // ncols)


def latency_vs_size(df, collective, fits, path):
    """fits: {(run, fabric): KeyFit} for this collective; the model and its band over each
    size regime's own sizes."""
    fig, ax = _figure(7, 4.2 + 0.25 * _legend_rows(df))
    for label, g in _series(df):
        line, = ax.plot(g["size_bytes"], g["time_us"], "o", ms=3, label=label)
        fit = fits.get((g["run"].iloc[0], g["fabric"].iloc[0]))
        p = int(g["nranks"].fillna(0).iloc[0])
        if fit is None or p < 2:
            continue
        _regime_curves(ax, fit, g, p, line.get_color(), lambda n, t: t)
    _bytes_axis(ax)
    ax.set_yscale("log")
    ax.set_xlabel("size (bytes)")
    ax.set_ylabel("time per call (us, median)")
    ax.set_title(_label(f"{collective}: latency vs size; lines: fitted model, bands: 95% interval"), fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    _legend_below(fig, [ax])
    return _save(fig, path)


def busbw_vs_scale(df, collective, fits, sizes_for, spec_factor, path, pooled=None):
    """Measured busbw at each run's chosen sizes (`sizes_for(run_frame)`) against node count
    when every run spans several node counts, else against ranks in the group. Each run's
    own model is drawn only over the scales that run measured; `pooled` (the model fitted
    to all runs together) is drawn over all of them, dashed up to twice the largest."""
    multi = _x_in_nodes(df)
    x_field = "nnodes" if multi else "nranks"
    fig, ax = _figure(7, 4.7)
    for run, g in df.groupby("run", sort=True):
        for n in sizes_for(g):
            pts = g[g["size_bytes"] == n].groupby(x_field)["busbw_gbps"].mean()
            if pts.empty:
                continue
            line, = ax.plot(pts.index, pts.values, "o", label=_label(f"{run}: {size(n)}"))
            fit = next((f for (r, _), f in fits.items() if r == run), None)
            if fit is None:
                continue
            per_node = int(g["ranks_per_node"].dropna().iloc[0]) if multi and g["ranks_per_node"].notna().any() else 1
            xs, ranks = _scale_grid(pts.index.min(), pts.index.max(), per_node, multi)
            model = _model_busbw(fit, n, ranks, spec_factor)
            inside = (xs >= pts.index.min()) & (xs <= pts.index.max())  # a run's model: its own scales only
            ax.plot(xs[inside], model[inside], "-", color=line.get_color(), lw=1)
            if pooled is None and len(df["run"].unique()) == 1:  # the only run: its model is the model
                past = xs >= (xs[inside].max() if inside.any() else 0)  # dashed from the last measured scale on
                ax.plot(xs[past], model[past], "--", color=line.get_color(), lw=1)
    if pooled is not None:
        _pooled_lines(ax, df, pooled, sizes_for, spec_factor, x_field, multi)
    for x, label in tier_boundaries(df):
        ax.axvline(x, color="0.4", ls=":", lw=1.2)
        ax.annotate(label, (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12), textcoords="offset points",
                    fontsize=LEGEND_PT, color="0.3")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_yscale("log")
    ax.set_xlabel("nodes" if multi else "ranks in the group")
    ax.set_ylabel("busbw (GB/s)")
    ax.set_title(_label(f"{collective}: busbw vs scale\nmodel solid where measured, dashed past it"), fontsize=11)
    ax.grid(True, alpha=0.3)
    _legend_below(fig, [ax])
    return _save(fig, path)


def _x_in_nodes(df) -> bool:
    """The scale figure's x axis is in nodes where every run spans several node counts,
    all known; else in ranks."""
    return all(g["nnodes"].nunique() > 1 and g["nnodes"].notna().all() for _, g in df.groupby("run"))


def tier_boundaries(df) -> list[tuple[float, str]]:
    """Where the scale figure (busbw_vs_scale: x in nodes where every run spans node counts,
    else in ranks) crosses a tier: (x, label) past one node and past one domain (D nodes,
    from the records' domain_size_nodes), each where the measured scales reach past it.
    In ranks the edges are at G and D x G ranks (G: the most ranks per node)."""
    nodes = df["nnodes"].dropna()
    if nodes.empty or nodes.max() < 2:
        return []
    per_node = 1
    if not _x_in_nodes(df):
        if df["ranks_per_node"].notna().sum() == 0:
            return []
        per_node = int(df["ranks_per_node"].max())
    marks = [(math.sqrt(per_node * (per_node + 1)), "node boundary")]
    size = df["domain_size_nodes"].dropna() if "domain_size_nodes" in df else []
    if len(size) and nodes.max() > size.max():
        edge = int(size.max()) * per_node
        marks.append((math.sqrt(edge * (edge + 1)), f"domain boundary ({int(size.max())} nodes)"))
    return marks


def _scale_grid(low, top, per_node, multi):
    """(x, ranks): powers of two from the smallest measured scale to twice the largest,
    where a group has at least 2 ranks; x in nodes (multi) or ranks."""
    xs = np.array([2 ** k for k in range(max(1, int(low)).bit_length() - 1, (int(top) * 2).bit_length())
                   if 2 ** k * (per_node if multi else 1) >= 2])
    return xs, (xs * per_node if multi else xs)


def _model_busbw(fit, n, ranks, spec_factor):
    """The model's busbw at size n: n factor(p) / T(n, p)."""
    return np.array([n * spec_factor(int(p)) / fit.predict(n, int(p)) * 1e-3 for p in ranks])


def _pooled_lines(ax, df, pooled, sizes_for, spec_factor, x_field, multi):
    """The model fitted to all runs at each chosen size: solid over the measured scales,
    dashed up to twice the largest."""
    top = int(df[x_field].max())
    per_node = int(df["ranks_per_node"].dropna().max()) if multi and df["ranks_per_node"].notna().any() else 1
    xs, ranks = _scale_grid(df[x_field].min(), top, per_node, multi)
    for n in sorted({s for _, g in df.groupby("run") for s in sizes_for(g)}):
        model = _model_busbw(pooled, n, ranks, spec_factor)
        inside = xs <= top
        ax.plot(xs[inside], model[inside], "-", color="black", lw=1.2, alpha=0.7,
                label=_label(f"model fitted to all runs: {size(n)}"))
        past = xs >= xs[inside].max()
        ax.plot(xs[past], model[past], "--", color="black", lw=1.2, alpha=0.7)


def _per_node(ax, gpus_per_node: int, ylabel: str) -> None:
    """Log axes over node counts (powers of two, written plainly), as the crossover's and the
    plan's figures draw them."""
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(f"nodes ({gpus_per_node} GPUs each)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def _extrapolated(ax, edge, end) -> None:
    """Hatch the node counts past the largest measured one."""
    ax.axvspan(edge, end, facecolor="none", hatch="//", edgecolor="0.8", lw=0,
               label=f"extrapolated: past {edge} measured node(s)")


def compute_vs_comm(crossing: CrossoverResult, path):
    rows = crossing.rows
    x = np.array([r.nnodes for r in rows])
    measured = np.array([r.measured for r in rows])
    fig, ax = _figure(7, 5.2)
    for key, style, colour, label in (("compute_ms", "o", "C0", "compute per step"),
                                      ("comm_ms", "s", "C1", "communication per step")):
        y = np.array([getattr(r, key) for r in rows])
        ax.plot(x[measured], y[measured], style + "-", color=colour, label=f"{label}, measured scale")
        past = ~measured
        if past.any():
            start = max(int(np.argmax(past)) - 1, 0)  # join the dashed line to the last measured point
            ax.plot(x[start:], y[start:], "--", color=colour, lw=1)
            ax.plot(x[past], y[past], style, color=colour, mfc="white", label=f"{label}, extrapolated")
    ax.fill_between(x, [r.comm_ms_ci[0] for r in rows], [r.comm_ms_ci[1] for r in rows], alpha=0.2, lw=0,
                    color="C1", label="communication, 95% interval")
    if (~measured).any():
        edge = crossing.measured_nodes or x[measured].max(initial=x.min())
        _extrapolated(ax, edge, x.max())
        ax.axvline(edge, color="0.5", lw=1)
    if crossing.crossover_nodes:
        ax.axvline(crossing.crossover_nodes, color="k", ls="--", lw=1,
                   label=f"crossover: {crossing.crossover_nodes} nodes")
    _per_node(ax, crossing.gpus_per_node, "time per step per GPU (ms)")
    ax.set_title(_label(f"{crossing.workload['name']}: compute vs communication"), fontsize=11)
    _legend_below(fig, [ax])
    return _save(fig, path)


def roofline(crossing: CrossoverResult, path):
    rows = [r for r in crossing.rows if r.needed_flops_per_byte]
    x = [r.nnodes for r in rows]
    fig, ax = _figure(7, 4.8)
    ax.plot(x, [r.needed_flops_per_byte for r in rows], "o-",
            label="FLOP per byte the fabric needs to stay compute-bound")
    ax.plot(x, [r.workload_flops_per_byte for r in rows], "s-", label="FLOP per byte the workload has")
    _per_node(ax, crossing.gpus_per_node, "arithmetic intensity (FLOP / communicated byte)")
    ax.set_title(_label(f"{crossing.workload['name']}: communication roofline\n"
                        "(compute-bound while the workload's FLOP/byte is above the fabric's need)"), fontsize=11)
    _legend_below(fig, [ax], ncols=1)
    return _save(fig, path)



PLAN_COLOURS = {"compute": "C0", "tp": "C1", "ep": "C4", "pp": "C2", "dp": "C3", "bubble": "0.6"}


def plan_breakdown(res: PlanResult, path):
    """Left: what a step is made of at each node count (shares of the step time). Right:
    each communication against the compute it can hide under, with its 95% interval."""
    rows = res.fitting_rows
    x = np.array([r.nnodes for r in rows])
    fig, (left, right) = _figure(12, 5.4, ncols=2)
    parts = {"compute": [r.compute_ms for r in rows], "bubble": [r.bubble_ms for r in rows]}
    kinds = [k for k in ("tp", "ep", "pp", "dp") if any(k in r.kinds for r in rows)]
    for k in kinds:
        parts[f"{k} exposed"] = [r.kinds[k].exposed_ms if k in r.kinds else 0.0 for r in rows]
    bottom, pos = np.zeros(len(rows)), np.arange(len(rows))
    step = np.array([r.step_ms for r in rows])
    for label, values in parts.items():
        share = np.array(values) / step
        left.bar(pos, share, bottom=bottom, color=PLAN_COLOURS[label.split()[0]], label=label)
        bottom += share
    left.set_xticks(pos, [f"{v:g}" for v in x])
    left.set_xlabel(f"nodes ({res.gpus_per_node} GPUs each)")
    left.set_ylabel("share of the step time")
    left.set_title(_label(f"{res.workload['name']}: what a step is made of"), fontsize=11)
    edge = res.measured_nodes or 1
    for k in kinds:
        mine = [r for r in rows if k in r.kinds]
        xs = np.array([r.nnodes for r in mine])
        right.plot(xs, [r.kinds[k].comm_ms for r in mine], "o-", color=PLAN_COLOURS[k],
                   label=f"{k} communication")
        right.fill_between(xs, [r.kinds[k].comm_ms_ci[0] for r in mine],
                           [r.kinds[k].comm_ms_ci[1] for r in mine], color=PLAN_COLOURS[k], alpha=0.2, lw=0)
        right.plot(xs, [r.kinds[k].window_ms for r in mine], ":", color=PLAN_COLOURS[k],
                   label=f"{k}: compute it can hide under")
    if x.max() > edge:
        _extrapolated(right, edge, x.max())
    _per_node(right, res.gpus_per_node, "time per step per GPU (ms)")
    right.set_title("each communication vs its compute window", fontsize=11)
    _legend_below(fig, [left, right], ncols=4)
    if not kinds:
        right.text(0.5, 0.5, "no communication at these scales", ha="center", transform=right.transAxes)
    return _save(fig, path)


def normal_band(pl, path):
    """A run's busbw by size over the comparable published runs (reports/reference/match.py):
    each published curve thin, the band between the lowest and highest where 3 or more
    reach a size, their median dashed, the compared size marked."""
    from reports.reference.match import MIN_COMPARABLE
    fig, ax = _figure(7, 4.4)
    comps = [c for c, _ in pl.others]
    for i, e in enumerate(e for c in comps for e in c.entries):
        ax.plot(e.sizes_bytes, e.busbw_gbps, "-" if len(e.sizes_bytes) > 1 else ".", color="0.6", lw=0.8, alpha=0.7,
                label="a comparable published run" if i == 0 else None)
    lo_size = min(min(e.sizes_bytes) for c in comps for e in c.entries)
    hi_size = max(max(e.sizes_bytes) for c in comps for e in c.entries)
    grid = np.geomspace(lo_size, hi_size, 80)
    band = [(n, [v for c in comps if (v := c.busbw_at(n)) is not None]) for n in grid]
    band = [(n, np.min(v), np.median(v), np.max(v)) for n, v in band if len(v) >= MIN_COMPARABLE]
    if band:
        b = np.array(band)
        ax.fill_between(b[:, 0], b[:, 1], b[:, 3], color="tab:blue", alpha=0.15, lw=0,
                        label=f"range of the published runs ({MIN_COMPARABLE}+ at a size)")
        ax.plot(b[:, 0], b[:, 2], "--", color="tab:blue", lw=1.2, label="their median")
    ax.plot(pl.key.sizes_bytes, pl.key.busbw_gbps, "o-", color="tab:red", ms=4, lw=1.6, label=_label(pl.key.label))
    ax.axvline(pl.size_bytes, color="0.3", lw=0.8, ls=":", label=f"compared at {size(pl.size_bytes)}")
    _bytes_axis(ax)
    ax.set_xlabel("size (bytes, per rank, as nccl-tests)")
    ax.set_ylabel("busbw (GB/s)")
    ax.set_title(_label(f"{pl.key.label}: percentile {pl.percentile:.0f} of {len(comps)} comparable published runs "
                        f"at {size(pl.size_bytes)}"), fontsize=10)
    _legend_below(fig, [ax], ncols=2)
    return _save(fig, path)

"""The report reads right (issue 34): no sideways scrolling at 1400 px, figures legible at
their displayed size with legends outside the data, one held-out error everywhere, the
quality word from the held-out error, the plan labelled as the plan, the time statistic
named beside each peak busbw, model bands only over their regimes' sizes, long host lists
folded, and the crossover said to be within the measured scale only where it is."""
import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectives.cost import RING_ALL_REDUCE
from conftest import commscale_here
from reports.model.entries import fit_entries
from reports.model.fit import fit_frame
from reports.planning.results import CrossoverResult
from reports.present import figures, findings, sections
from reports.present.crossover_text import crossover_within, format_crossover
from reports.present.document import BulletList, Details, Document, Grid, Figure, to_html, to_markdown
from reports.present.report import Headline, model_view, summary_view, time_statistic
from reports.runs.load import load_run
from synthetic import flat_points, write_run

REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def _crossing(measured_nodes, cross, gpus_per_node=1, measured_ranks=None, held=12.5, limit=64):
    """A hand-made crossover: a row per power of two; a row is measured where its node count
    and its ranks (nodes x gpus_per_node) are within what was measured."""
    measured_ranks = measured_ranks or measured_nodes * gpus_per_node
    rows = [{"nnodes": n, "nranks": n * gpus_per_node, "fabric": "net", "tier": None,
             "source": "fit, measured range" if n <= measured_nodes and n * gpus_per_node <= measured_ranks
             else "extrapolated", "extrapolation": n / measured_nodes, "model_error_pct": None,
             "compute_ms": 100 / n, "comm_ms": 1.0 * n, "comm_ms_ci": [0.9 * n, 1.1 * n],
             "comm_over_compute": n * n / 100, "bytes_per_message": 40e6, "messages": 1,
             "workload_flops_per_byte": 1e3 / n, "needed_flops_per_byte": 10.0 * n}
            for n in (1, 2, 4, 8, 16, 32, 64) if n <= limit]
    return CrossoverResult.from_json({
        "workload": {"name": "wl", "kind": "data_parallel", "scaling": "strong"}, "collective": "all_reduce",
        "model": "hand-made", "heldout_mape_pct": held, "heldout_note": None, "compute_tflops": 1.0,
        "gpus_per_node": gpus_per_node, "overlap": 0.5, "limit_nodes": limit, "measured_nodes": measured_nodes,
        "measured_ranks": measured_ranks, "crossover_nodes": cross,
        "crossover_nodes_ci": [cross and cross - 1, cross and cross + 1], "hidden_crossover_nodes": None,
        "hidden_crossover_nodes_ci": [None, None], "domain_size_nodes": None, "crossover_tier": None,
        "crossover_boundary": None, "rows": rows})


# --- 10: the crossover within the measured scale only where it is ----------------------------

def test_the_crossover_is_within_the_measured_scale_only_up_to_the_largest_measured_node_count():
    within, beyond = _crossing(16, 8), _crossing(4, 8)
    assert "the crossover lies within the measured scale (16 nodes)" in findings.crossover_sentence(within)
    assert "the crossover lies within the measured scale (16 node(s))" in format_crossover(within)
    for text in (findings.crossover_sentence(beyond), format_crossover(beyond)):
        assert "within the measured scale" not in text and "extrapolated 2.0 x past the largest measured scale" in text
    # at the largest measured node count, but with more ranks than were measured: its row is extrapolated
    more_ranks = _crossing(1, 1, gpus_per_node=8, measured_ranks=4)
    assert not more_ranks.rows[0].measured
    for text in (findings.crossover_sentence(more_ranks), format_crossover(more_ranks)):
        assert "within the measured scale" not in text and "hold 8 ranks, past the 4 ranks measured" in text
    none = findings.crossover_sentence(_crossing(2, None))
    assert "no crossover within 64 nodes, 32.0 x past the largest measured scale (2 nodes)" in none


# --- 4 and 6: one held-out error, and the quality word from it ---------------------------------

def _fit(tmp_path, ranks=(2, 4, 8)):
    run = write_run(tmp_path / "run", flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=ranks), noise=0.02)
    df = load_run(run).assign(run="run")
    df["time_us"] = df["time_us_median"]
    (fit,) = fit_frame(df, 50)
    return df, fit


def test_the_held_out_error_is_one_number_in_the_findings_table_the_sentences_and_the_crossover(tmp_path):
    df, fit = _fit(tmp_path)
    entries = fit_entries([fit])
    coverage = findings.band_coverage(df, fit)
    row = findings.key_row("all_reduce", "run", fit.key, df, entries, coverage)
    held = f"{fit.heldout_mape_pct:.1f}%"
    assert row[findings.HELDOUT] == held and row["judged on"] == "held-out MAPE"
    assert f"held-out MAPE {held} (all sizes, predicting 8 ranks from a fit on 2, 4)" in \
        findings.fit_note(entries, coverage)
    # the crossover rests on a regime's error: named as such, with the table's number beside it where it differs
    crossing = _crossing(1, 8, held=fit.heldout_mape_pct + 10)
    sentence = findings.crossover_sentence(crossing, fit.heldout_mape_pct)
    assert f"held-out MAPE {fit.heldout_mape_pct + 10:.1f}% in the fit's size regime of its 38.15 MiB messages" \
        in sentence and f"(held-out MAPE (all sizes) {held}, as in the table)" in sentence
    same = findings.crossover_sentence(_crossing(1, 8, held=fit.heldout_mape_pct), fit.heldout_mape_pct)
    assert same.count(held) == 1  # one number, said once
    cell = model_view([("run", e) for e in entries]).iloc[0]["held-out MAPE (this regime's sizes)"]
    assert cell.startswith(f"{entries[0]['heldout_mape_pct']:.1f}% (8 ranks from 2, 4)")


def test_the_quality_word_follows_the_held_out_error_where_there_is_one():
    entry = {"mape_pct": 5.0, "key_heldout_mape_pct": 67.0, "key_heldout_nranks": 4, "heldout_from_nranks": [2],
             "r2": 0.99}
    worse = findings.fit_errors([entry], None)
    assert (worse.quality, worse.judged_on) == ("poor", "held-out MAPE")  # in-sample 5% alone would say good
    assert findings.fit_note([entry], None).startswith("model fit poor on held-out MAPE 67.0% (all sizes")
    better = findings.fit_errors([{**entry, "mape_pct": 30.0, "key_heldout_mape_pct": 8.0}], None)
    assert (better.quality, better.judged_on) == ("good", "held-out MAPE")
    alone = findings.fit_errors([{**entry, "mape_pct": 12.0, "key_heldout_mape_pct": None}], None)
    assert (alone.quality, alone.judged_on) == ("fair", "in-sample MAPE")
    assert findings.fit_note([{**entry, "mape_pct": 12.0, "key_heldout_mape_pct": None}], None).startswith(
        "model fit fair on in-sample MAPE 12.0% (nothing held out: one rank count)")


# --- 5: the plan's bullet is the training plan's ---------------------------------------------

def test_the_plan_bullet_is_labelled_training_plan_and_the_crossover_crossover():
    headline = Headline(cpu=None, points=["2 points"], crossovers=["wl: communication exceeds compute"],
                        keys=pd.DataFrame(), plans=["llm: MFU 40%"])
    (panel,) = sections.findings(headline)
    (bullets,) = [b for b in panel.blocks if isinstance(b, BulletList)]
    labels = {item[0].text: item[1] for item in bullets.items if isinstance(item, tuple)}
    assert labels == {"Crossover": " wl: communication exceeds compute", "Training plan": " llm: MFU 40%"}


# --- 7: the time statistic named beside each peak busbw --------------------------------------

def test_each_peak_busbw_names_the_time_it_comes_from(tmp_path):
    df, fit = _fit(tmp_path, ranks=(2, 4))
    entries = fit_entries([fit])
    assert time_statistic(df) == "median"
    assert "peak busbw_gbps (median time)" in model_view([("run", e) for e in entries], {"run": "median"})
    imported = df.assign(time_us_median=np.nan)
    assert time_statistic(imported) == "mean"
    assert "peak busbw_gbps (mean time)" in model_view([("run", e) for e in entries], {"run": "mean"})
    mixed = model_view([("a", entries[0]), ("b", entries[0])], {"a": "median", "b": "mean"})
    assert "peak busbw_gbps (median; mean where only that is known time)" in mixed
    summary = pd.DataFrame([{"run": "run", "collective": "all_reduce", "backend": "gloo", "fabric": "loopback",
                             "nranks": 2, "nnodes": 1, "points_ok": 1, "points_skipped": 0, "points_failed": 0,
                             "n_wrong": 0, "min_size_bytes": 1024, "min_size_time_us": 5.0,
                             "peak_busbw_gbps": 1.0, "peak_at_size_bytes": 1024}])
    assert {"peak busbw_gbps (mean time)", "time_us there (median)"} <= set(summary_view(summary, {"run": "median"}))
    row = findings.key_row("all_reduce", "run", fit.key, df, entries, findings.band_coverage(df, fit))
    assert "peak busbw_gbps (mean time)" in row


# --- 8: model bands only over their regimes' sizes -------------------------------------------

@dataclass
class _Regime:
    size_lo: int
    size_hi: int
    alpha: float
    beta: float


class _TwoRegimes:
    """A fit of two regimes (1-4 KiB, 1-16 MiB) and a one-size regime (64 MiB), predicting
    alpha + beta n with a fixed 10% spread; what the figures ask of a KeyFit."""
    regimes = [_Regime(1024, 4096, 50.0, 0.0), _Regime(1 << 20, 16 << 20, 5.0, 1e-3),
               _Regime(64 << 20, 64 << 20, 5.0, 1e-3)]

    def _regime(self, n):
        return next((r for r in self.regimes if n <= r.size_hi), self.regimes[-1])

    def predict(self, n, p):
        r = self._regime(n)
        return r.alpha + r.beta * n

    def predict_samples(self, n, p):
        return self.predict(n, p) * np.array([0.9, 1.0, 1.1])


def _points(sizes):
    return pd.DataFrame([{"run": "r", "nranks": 2, "nnodes": 1, "fabric": "f", "size_bytes": n,
                          "time_us": 5 + n * 1e-3, "busbw_gbps": n / (5 + n * 1e-3) * 1e-3} for n in sizes])


@pytest.mark.parametrize("draw", ["busbw", "latency"])
def test_model_bands_span_only_their_regimes_sizes(tmp_path, draw):
    from collectives.registry import get_collective
    sizes = [1024, 2048, 4096, 1 << 20, 4 << 20, 16 << 20, 64 << 20]
    fits = {("r", "f"): _TwoRegimes()}
    fig = (figures.busbw_vs_size(_points(sizes), "all_reduce", tmp_path / "b.png", fits,
                                 get_collective("all_reduce").busbw_factor) if draw == "busbw"
           else figures.latency_vs_size(_points(sizes), "all_reduce", fits, tmp_path / "l.png"))
    (ax,) = fig.axes
    spans = [(p.vertices[:, 0].min(), p.vertices[:, 0].max()) for c in ax.collections
             if type(c).__name__ != "LineCollection" for p in c.get_paths()]
    assert spans == [(1024, 4096), (1 << 20, 16 << 20)]  # each band over its own regime, none across the gap
    models = [tuple(line.get_xdata()[[0, -1]]) for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert models == [(1024, 4096), (1 << 20, 16 << 20)]
    one_size = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    assert len(one_size) == 1 and all(seg[:, 0].tolist() == [64 << 20] * 2 for seg in one_size[0].get_segments())
    assert figures.regime_spans(_TwoRegimes(), 2048, 2 << 20)[0][[0, -1]].tolist() == [2048, 4096]


def test_real_imported_regimes_draw_no_band_between_them(tmp_path):
    """xxrjun's H100 log: three regimes per collective (32-128 MiB, 256 MiB-1 GiB, 2-16 GiB)."""
    log = REAL / "multi-collective_80xH100_10nodes_several-runs-double-reducing-maxBytes__xxrjun-nccl-tests-cluster.txt"
    assert commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "imp").returncode == 0
    df = load_run(tmp_path / "imp" / "all_gather").assign(run="r")
    df["time_us"] = df["time_us_median"].fillna(df["time_us_mean"])
    fit = next(f for f in fit_frame(df, 50) if f.key["in_place"] is False)
    assert len(fit.regimes) >= 2
    from collectives.registry import get_collective
    out = df[df["in_place"] == False]  # noqa: E712 (a pandas mask)
    fig = figures.busbw_vs_size(out, "all_gather", tmp_path / "b.png", {("r", fit.key["fabric"]): fit},
                                get_collective("all_gather").busbw_factor)
    spans = [(p.vertices[:, 0].min(), p.vertices[:, 0].max()) for c in fig.axes[0].collections for p in c.get_paths()]
    regimes = [(r.size_lo, r.size_hi) for r in fit.regimes if r.size_lo < r.size_hi]
    assert spans == [(float(lo), float(hi)) for lo, hi in regimes]


# --- 2 and 3: every figure legible, legends outside the data ---------------------------------

def _plan():
    from reports.planning.llm import training_from_dict
    from reports.planning.stated_rates import rates_model
    from reports.planning.training_plan import Priced, plan
    priced = {c: Priced(c, rates_model(c, 1e-3, 0.6e-3), 1.0, None)
              for c in ("all_reduce", "sendrecv", "reduce_scatter", "all_gather", "all_to_all")}
    w = training_from_dict(dict(layers=2, hidden=4, heads=2, seq=8, vocab=16, global_batch=8, tp=2), "tiny")
    return plan(w, priced, 13.824e-6, 13.824e-6, 2, [1, 2, 4, 8], 1)


def _size_figures(tmp_path):
    from collectives.registry import get_collective
    df, fit = _fit(tmp_path, ranks=(2, 4))
    fits, factor = {("run", "loopback"): fit}, get_collective("all_reduce").busbw_factor
    return {"busbw": figures.busbw_vs_size(df, "all_reduce", tmp_path / "b.png", fits, factor),
            "latency": figures.latency_vs_size(df, "all_reduce", fits, tmp_path / "l.png"),
            "scale": figures.busbw_vs_scale(df, "all_reduce", fits, lambda g: [524288], factor, tmp_path / "s.png")}


def _story_figures(tmp_path):
    return {"crossover": figures.compute_vs_comm(_crossing(1, 8), tmp_path / "c.png"),
            "roofline": figures.roofline(_crossing(1, 8), tmp_path / "r.png"),
            "plan": figures.plan_breakdown(_plan(), tmp_path / "p.png")}


@pytest.mark.parametrize("make", [_size_figures, _story_figures])
def test_every_figure_has_legible_text_and_its_legend_outside_the_data(tmp_path, make):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    made = make(tmp_path)
    for name, fig in made.items():
        canvas = FigureCanvasAgg(fig)  # saved and closed: a canvas to measure on again
        canvas.draw()
        renderer = canvas.get_renderer()
        texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
                 if t.get_visible() and t.get_text().strip()]
        small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < figures.LEGEND_PT]
        assert not small, (name, small)  # >= 9 pt: 12.5 px in the PNG, >= 10 px shown at 0.85 of it or more
        assert all(ax.get_legend() is None for ax in fig.axes), name  # no legend inside an axes
        assert len(fig.legends) == 1, name
        legend = fig.legends[0].get_window_extent(renderer)
        for ax in fig.axes:
            assert not legend.overlaps(ax.get_window_extent(renderer)), name  # outside every panel's data
    if "plan" in made:  # drawn for the page's width, shown at its size
        assert made["plan"].get_size_inches()[0] * figures.DPI >= 1100


def test_the_plan_figure_takes_the_page_width_and_the_others_share_a_row(tmp_path):
    story = [("crossover", tmp_path / "c.png", False), ("roofline", tmp_path / "r.png", False),
             ("plan", tmp_path / "p.png", True)]
    blocks = sections.story_figures(story)
    grids = [b for b in blocks if isinstance(b, Grid)]
    alone = [b for b in blocks if isinstance(b, Figure)]
    assert [f.title for f in grids[0].figures] == ["crossover", "roofline"] and [f.title for f in alone] == ["plan"]


# --- 9: long host lists folded ---------------------------------------------------------------

def test_forty_hosts_are_a_count_in_the_run_line_and_a_folded_list(tmp_path):
    hosts = [f"node{i:03d}" for i in range(40)]
    metas = {"big": {"tool": "nccl-tests", "hosts": hosts, "status": "complete"},
             "small": {"launcher": "env", "hosts": ["vm"], "status": "complete"}}
    blocks = sections.runs(["big", "small"], metas)
    line = to_markdown(Document("t", (blocks[0],)))
    assert "40 hosts (listed below)" in line and "node000" not in line and "host vm;" in line
    (details,) = [b for b in blocks if isinstance(b, Details)]
    page = to_html(Document("t", tuple(blocks)), "")
    folded = page[page.index("<details><summary>Hosts: 40 in all</summary>"):page.index("</details>")]
    assert all(h in folded for h in hosts)
    assert "<details><summary>Hosts: 40 in all</summary>" in to_markdown(Document("t", tuple(blocks)))


def test_an_imported_multi_host_run_folds_its_hosts(tmp_path):
    log = REAL / "broadcast_128xV100_32nodes_ucx-warn-old-root-col-no-redop__aistabci-abci2.0benchmark.txt"
    assert commscale_here("import", log, "--format", "nccl-tests", "--out", tmp_path / "imp").returncode == 0
    meta = json.loads((tmp_path / "imp" / "meta.json").read_text())
    assert len(meta["hosts"]) == 32
    blocks = sections.runs(["imp"], {"imp": meta})
    page = to_html(Document("t", tuple(blocks)), "")
    assert page.index("32 hosts (listed below)") < page.index("<details><summary>Hosts: 32 in all</summary>")
    assert meta["hosts"][0] not in page[:page.index("<details>")]


# --- 1, 2 and 4 on the real dry run, in a browser --------------------------------------------

PROBE = """<script>window.addEventListener('load',()=>{const d=document.documentElement;
const wide=[...document.querySelectorAll('body *')].filter(e=>e.getBoundingClientRect().right>d.clientWidth+1)
.map(e=>e.tagName);const small=[...document.querySelectorAll('img')].filter(i=>i.getBoundingClientRect().width
<0.85*i.naturalWidth-2).map(i=>i.alt);document.title='probe '+d.scrollWidth+' '+d.clientWidth+' '+wide.length+' '
+small.length+' '+wide.slice(0,3).join(',')+' | '+small.slice(0,3).join(' | ');});</script>"""


def measure_at_1400_px(page: Path, tmp_path: Path) -> re.Match:
    """(scrollWidth, clientWidth, elements past the window, figures shown under 0.85 of their width)."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    title = re.search(r"<title>probe (\d+) (\d+) (\d+) (\d+) ([^<]*)</title>", dom)
    assert title, dom[:500]
    return title


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium (apt-get install chromium)")
def test_the_real_dry_run_report_fits_1400_px_and_says_one_held_out_error(default_dryrun, tmp_path):
    out, result = default_dryrun
    assert result.returncode == 0, result.stderr[-2000:]
    page = out / "report" / "report.html"
    title = measure_at_1400_px(page, tmp_path)
    scroll_width, client_width, wide, small = map(int, title.groups()[:4])
    assert scroll_width <= 1400 and scroll_width == client_width and wide == 0, title[0]
    assert small == 0, title[0]  # every figure shown at 0.85 of its drawn width or more: text >= 10 px
    text = html.unescape(re.sub(r"<[^>]+>", " ", page.read_text()))
    box = html.unescape(page.read_text().split("</section>")[0])
    tables = " ".join(re.findall(r"<table>.*?</table>", html.unescape(page.read_text()), re.S))
    said = re.findall(r"held-out MAPE (\d+\.\d%)", text)
    assert said and all(f">{number}<" in tables or f">{number} (" in tables for number in said), said
    assert "<b>Crossover</b>" in box and "<b>Training plan</b>" in box
    crossing = CrossoverResult.from_json(json.loads((out / "crossover.json").read_text()))
    assert ("within the measured scale" in box) == crossover_within(crossing)

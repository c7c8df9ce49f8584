"""The report: figure content, a self-contained and escaped HTML, and what a browser shows."""
import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from collectives.cost import RING_ALL_REDUCE
from conftest import commscale_here
from reports.present import figures
from synthetic import flat_points, write_run


def _frame(runs=("a", "b"), ranks=(2, 4), sizes=(1024, 65536, 1 << 20)):
    rows = [{"run": r, "nranks": p, "nnodes": 1, "ranks_per_node": p, "fabric": "loopback", "size_bytes": n,
             "busbw_gbps": n / 1e5 * p, "time_us": 10 + n / 1e3} for r in runs for p in ranks for n in sizes]
    return pd.DataFrame(rows)


def test_busbw_figure_has_units_one_series_per_run_and_group_and_the_data_extents(tmp_path):
    fig = figures.busbw_vs_size(_frame(), "all_reduce", tmp_path / "f.png")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "size (bytes, nccl-tests semantics)" and ax.get_ylabel() == "busbw (GB/s, from the mean time)"
    assert len(ax.get_lines()) == 4  # 2 runs x 2 group sizes
    xs = np.concatenate([line.get_xdata() for line in ax.get_lines()])
    ys = np.concatenate([line.get_ydata() for line in ax.get_lines()])
    assert (xs.min(), xs.max()) == (1024, 1 << 20) and ys.max() == pytest.approx((1 << 20) / 1e5 * 4)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]  # one legend, under the axes
    assert labels == ["a: 2 ranks, loopback", "a: 4 ranks, loopback", "b: 2 ranks, loopback", "b: 4 ranks, loopback"]
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "1 KiB" in ticks and "1 MiB" in ticks  # binary units on the size axis
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_latency_figure_draws_the_model_and_its_band(tmp_path):
    run = write_run(tmp_path / "run", flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(2, 4)), noise=0.02)
    from reports.model.fit import fit_frame
    from reports.runs.load import load_run
    df = load_run(run).assign(run="run")
    df["time_us"] = df["time_us_median"]
    (fit,) = fit_frame(df, 50)
    fig = figures.latency_vs_size(df, "all_reduce", {("run", "loopback"): fit}, tmp_path / "l.png")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "time per call (us, median)"
    markers = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    models = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert len(markers) == 2 and len(models) == 2 and len(ax.collections) == 2  # points, model, band per group
    assert models[0].get_ydata()[-1] == pytest.approx(fit.predict(models[0].get_xdata()[-1], 2))


def _report(tmp_path, name):
    run = write_run(tmp_path / name, flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(2, 4, 8)), noise=0.02)
    crossing = commscale_here("crossover", run, "--workload", "gpt2-small-dp", "--gpu-tflops", "100", "--limit", "64",
                              "--bootstrap", "20", "--out", run)
    assert crossing.returncode == 0 and (run / "crossover.json").exists(), crossing.stderr
    out = tmp_path / "report"
    result = commscale_here("report", run, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_html_is_self_contained_and_escapes_labels(tmp_path):
    out = _report(tmp_path, 'run<b>&"$x')
    page = (out / "report.html").read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:|//)""", page)  # nothing fetched
    images = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert len(images) == 5 and all(src.startswith("data:image/png;base64,") for src in images)
    assert 'run&lt;b&gt;&amp;&quot;$x' in page and "run<b>" not in page
    pngs = sorted(p.name for p in (out / "figures").iterdir())
    assert pngs == ["busbw_all_reduce.png", 'crossover_run<b>&"$x.png', "latency_all_reduce.png",
                    'roofline_run<b>&"$x.png', "scale_all_reduce.png"]
    md = (out / "report.md").read_text()
    assert "## Findings" in md and "## Summary" in md and "## Scaling model" in md and "## Crossover" in md
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["nranks"]) == [2, 4, 8] and (summary["points_ok"] == 14).all()


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium (apt-get install chromium)")
def test_a_headless_browser_shows_the_report_with_its_figures(tmp_path):
    out = _report(tmp_path, "run")
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1200,4000", (out / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (4000, 1200)
    not_white = (pixels < 0.95).any(axis=2)
    assert not_white.mean() > 0.05  # text, tables and figures, not a blank page
    # matplotlib's default line colours (C0 blue, C1 orange) appear: the figures are drawn
    blue = (np.abs(pixels - np.array([0.122, 0.467, 0.706])) < 0.05).all(axis=2).sum()
    orange = (np.abs(pixels - np.array([1.0, 0.498, 0.055])) < 0.05).all(axis=2).sum()
    assert blue > 500 and orange > 500


from reports.planning.results import CrossoverResult  # noqa: E402


def _crossing(measured_nodes, cross, limit=64, held=12.5):
    rows = [{"nnodes": n, "nranks": n, "fabric": "net", "compute_ms": 100 / n, "comm_ms": 1.0 * n,
             "comm_ms_ci": [0.9 * n, 1.1 * n], "comm_over_compute": n * n / 100, "bytes_per_message": 1e6,
             "messages": 1, "workload_flops_per_byte": 1e3 / n, "needed_flops_per_byte": 10.0 * n,
             "source": "fit, measured range" if n <= measured_nodes else "extrapolated"}
            for n in (1, 2, 4, 8, 16, 32, 64) if n <= limit]
    rows = [{**r, "tier": None, "extrapolation": r["nnodes"] / measured_nodes, "model_error_pct": None} for r in rows]
    return CrossoverResult.from_json({
        "workload": {"name": "wl"}, "collective": "all_reduce", "model": "hand-made", "heldout_mape_pct": held,
        "heldout_note": None, "compute_tflops": 1.0, "gpus_per_node": 1, "overlap": 0.0, "limit_nodes": limit,
        "measured_nodes": measured_nodes, "measured_ranks": measured_nodes, "crossover_nodes": cross,
        "crossover_nodes_ci": [cross and cross - 1, cross and cross + 1], "hidden_crossover_nodes": None,
        "hidden_crossover_nodes_ci": [None, None], "domain_size_nodes": None, "crossover_tier": None,
        "crossover_boundary": None, "rows": rows})


def test_the_crossover_sentence_says_measured_or_how_far_extrapolated():
    from reports.present.findings import crossover_sentence
    assert crossover_sentence(_crossing(16, 10)) == (
        "wl: communication exceeds compute from 10 nodes (95% interval 9 to 11); the crossover lies within the "
        "measured scale (16 nodes); held-out MAPE 12.5% in the fit's size regime")
    assert "the crossover is extrapolated 10.0 x past the largest measured scale (1 node); " in \
        crossover_sentence(_crossing(1, 10))
    none = crossover_sentence(_crossing(2, None, held=None))
    assert "stays below compute up to the limit of 64 nodes (no crossover within 64 nodes, 32.0 x past" in none
    assert "no held-out error" in none


def test_fit_quality_words_and_the_band_count_can_fail():
    from reports.present.findings import band_coverage, fit_note, fit_quality
    from reports.model.fit import fit_frame
    from reports.runs.load import load_run
    assert [fit_quality(v) for v in (3.0, 10.0, 10.1, 25.0, 40.0, None)] == \
        ["good", "good", "fair", "fair", "poor", "unknown"]
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as tmp:
        run = write_run(Path(tmp) / "run", flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(2, 4)), noise=0.01)
        df = load_run(run)
        (fit,) = fit_frame(df, 100)
    df["time_us"] = df["time_us_median"]
    inside = band_coverage(df, fit)
    moved = df.assign(time_us=df["time_us"].where(df["nranks"] != 4, df["time_us"] * 3))
    outside = band_coverage(moved, fit)
    assert inside.points == outside.points == 28
    assert outside.outside >= 14 and outside.worst_ranks == 4 and outside.worst_points == 14
    assert outside.outside > inside.outside and 30 < outside.mape_pct < 37  # |t - 3t| / 3t on half the points
    from reports.model.entries import fit_entries
    entries = fit_entries([fit])
    note = fit_note(entries, outside)
    assert note.startswith("model fit good on held-out MAPE ") and f"{outside.outside} of 28 measured points lie outside" in note
    poor = fit_note([{**entries[0], "key_heldout_mape_pct": 33.6}], outside)
    assert poor.startswith("model fit poor on held-out MAPE 33.6% (all sizes, predicting 4 ranks from a fit on 2)")
    assert poor.endswith("the model's form does not describe them")


def test_the_crossover_figure_draws_extrapolation_apart_even_from_one_measured_node(tmp_path):
    fig = figures.compute_vs_comm(_crossing(1, 10), tmp_path / "c.png")
    (ax,) = fig.axes
    solid = [l for l in ax.get_lines() if l.get_linestyle() == "-" and len(l.get_xdata()) and l.get_marker() != "None"]
    dashed = [l for l in ax.get_lines() if l.get_linestyle() == "--" and len(l.get_xdata()) > 2]
    hollow = [l for l in ax.get_lines() if l.get_markerfacecolor() == "white"]
    assert [list(l.get_xdata()) for l in solid] == [[1], [1]]  # compute and communication, measured
    assert len(dashed) == 2 and all(list(l.get_xdata()) == [1, 2, 4, 8, 16, 32, 64] for l in dashed)
    assert len(hollow) == 2 and all(list(l.get_xdata()) == [2, 4, 8, 16, 32, 64] for l in hollow)
    hatched = [p for p in ax.patches if p.get_hatch() == "//"]
    assert len(hatched) == 1 and hatched[0].get_window_extent().width > 100  # visible, not a zero-width span
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "extrapolated: past 1 measured node(s)" in labels and "crossover: 10 nodes" in labels


def test_busbw_figure_draws_the_model_and_the_scale_figure_splits_measured_from_extrapolated(tmp_path):
    from collectives.registry import get_collective
    from reports.model.fit import fit_frame
    from reports.runs.load import load_run
    run = write_run(tmp_path / "run", flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(2, 4)), noise=0.02)
    df = load_run(run).assign(run="run")
    df["time_us"] = df["time_us_median"]
    (fit,) = fit_frame(df, 50)
    factor = get_collective("all_reduce").busbw_factor
    fig = figures.busbw_vs_size(df, "all_reduce", tmp_path / "b.png", {("run", "loopback"): fit}, factor)
    (ax,) = fig.axes
    models = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert len(models) == 2 and len(ax.collections) == 2
    n = models[1].get_xdata()[-1]
    assert models[1].get_ydata()[-1] == pytest.approx(n * factor(4) / fit.predict(n, 4) * 1e-3)
    fig = figures.busbw_vs_scale(df, "all_reduce", {("run", "loopback"): fit}, lambda g: [524288], factor,
                                 tmp_path / "s.png")
    (ax,) = fig.axes
    solid = [list(l.get_xdata()) for l in ax.get_lines() if l.get_linestyle() == "-"]
    dashed = [list(l.get_xdata()) for l in ax.get_lines() if l.get_linestyle() == "--"]
    assert solid == [[2, 4]] and dashed == [[4, 8]]


def test_several_runs_draw_one_model_fitted_to_all_and_no_run_past_its_own_scales(tmp_path):
    """A node-count series as separate runs (2 and 4 ranks, then 8): each run's own model
    stays on its own scales; the model fitted to all of them spans them and goes on dashed."""
    import pandas as pd
    from collectives.registry import get_collective
    from reports.model.fit import fit_frame
    from reports.runs.load import load_run
    a = load_run(write_run(tmp_path / "a", flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(2, 4)), noise=0.01))
    b = load_run(write_run(tmp_path / "b", flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(8, 16)), noise=0.01))
    df = pd.concat([a.assign(run="a"), b.assign(run="b")], ignore_index=True)
    df["time_us"] = df["time_us_median"]
    fits = {("a", "loopback"): fit_frame(a, 50)[0], ("b", "loopback"): fit_frame(b, 50)[0]}
    (pooled,) = fit_frame(df, 50)
    factor = get_collective("all_reduce").busbw_factor
    fig = figures.busbw_vs_scale(df, "all_reduce", fits, lambda g: [524288], factor, tmp_path / "s.png", pooled)
    (ax,) = fig.axes
    lines = [(l.get_label(), list(l.get_xdata()), l.get_linestyle()) for l in ax.get_lines()]
    assert [[2, 4], [8, 16]] == [x for _, x, style in lines if style == "-" and len(x) == 2]
    assert not any(style == "--" and x[0] in (2, 8) for _, x, style in lines)  # no run's model past its scales
    pooled_solid = next(x for label, x, style in lines if label == "model fitted to all runs: 512 KiB")
    assert pooled_solid == [2, 4, 8, 16]
    assert [x for label, x, style in lines if style == "--"] == [[16, 32]]  # the pooled model, dashed on


def test_the_report_leads_with_its_findings_and_reads_in_binary_units(tmp_path):
    out = _report(tmp_path, "run")
    page = (out / "report.html").read_text()
    findings_at, first_img = page.index("<h2>Findings</h2>"), page.index("<img")
    assert findings_at < first_img < page.index("<h2>Summary</h2>") < page.index("<h2>Scaling model</h2>")
    headline = page[findings_at:page.index("</section>")]
    assert "CPU ranks stand in for GPUs" in headline
    assert "42 points: 42 ok, 0 skipped, 0 failed; 0 wrong elements" in headline
    assert "communication exceeds compute from" in headline or "stays below compute" in headline
    assert "<th>peak busbw_gbps (mean time)</th>" in headline and "<td class=l>good</td>" in headline
    assert "<td class=l>held-out MAPE</td>" in headline  # what the word was given on
    tables = page[page.index("<h2>Summary</h2>"):]
    assert "<td class=l>8 B</td>" in tables and "<td class=l>512 MiB</td>" in tables
    assert not re.search(r"<td>(1024|1048576|536870912)</td>", tables)  # no sizes in bytes
    assert "<th>R\u00b2</th>" in tables and "<th>alpha_us [95%]</th>" in tables and "<th>bandwidth_gbps [95%]</th>" in tables
    assert "<th>peak busbw_gbps (median time)</th>" in tables and "<th>time_us there (median)</th>" in tables
    crossover = tables[tables.index("<h2>Crossover: run</h2>"):]
    assert "<pre" not in page and "<tr class=x>" in crossover and "<th>comm_ms 95%</th>" in crossover
    assert "model fit good" in page  # the sentence beside each figure


def test_the_markdown_has_the_sections_sentences_and_figures_of_the_html(tmp_path):
    """One document, two renderings: the same headings in the same order, the same
    figures, and every sentence of the page in the Markdown too."""
    import html
    out = _report(tmp_path, "run")
    page, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    page_headings = [(int(level), html.unescape(text))
                     for level, text in re.findall(r"<h([1-3])>(.*?)</h\1>", page)]
    md_headings = [(len(hashes), text) for hashes, text in re.findall(r"^(#{1,3}) (.*)$", md, re.M)]
    assert page_headings == md_headings and (2, "Summary") in md_headings
    captions = [html.unescape(c) for c in re.findall(r"<figcaption>(.*?)</figcaption>", page)]
    linked = re.findall(r"^- (.*): `figures/[^`]+\.png`$", md, re.M)
    assert captions == linked and len(captions) == 5
    for sentence in re.findall(r"<p[^>]*>(.*?)</p>", page):
        assert re.sub(r"</?b>", "**", html.unescape(sentence)) in md


def test_the_document_renders_escaped_html_and_plain_markdown(tmp_path):
    from reports.present.document import (Bold, BulletList, Document, Figure, Grid, Heading, Note, Panel,
                                          Paragraph, Table, to_html, to_markdown)
    png = tmp_path / "figures" / "a<b>.png"
    png.parent.mkdir()
    png.write_bytes(b"\x89PNG")
    table = pd.DataFrame({"name": ["x|y", "<z>"], "value": [1.23456, None]})
    doc = Document("t & u", (Panel((Heading("Findings"), Note((Bold("Look"), " <here>"))), "headline"),
                             BulletList(("plain", (Bold("run"), ": ok"))), Paragraph("poor fit", "fit poor"),
                             Table(table, (False, True)), Grid((Figure("a <fig>", png),))), tmp_path)
    page = to_html(doc, "p{}")
    assert page.startswith("<!DOCTYPE html>") and "<title>t &amp; u</title>" in page and "<style>p{}</style>" in page
    assert "<section class=headline>\n<h2>Findings</h2>\n<p class=note><b>Look</b> &lt;here&gt;</p>\n</section>" in page
    assert "<li><b>run</b>: ok</li>" in page and "<p class='fit poor'>poor fit</p>" in page
    assert "<tr><td class=l>x|y</td><td>1.235</td></tr><tr class=x><td class=l>&lt;z&gt;</td><td>-</td></tr>" in page
    assert "<img alt='a &lt;fig&gt;' src='data:image/png;base64,iVBORw==" in page and "<z>" not in page
    assert to_markdown(doc) == (
        "# t & u\n\n## Findings\n\n> **Look** <here>\n\n- plain\n- **run**: ok\n\npoor fit\n\n"
        "| name | value |\n|---|---|\n| x\\|y | 1.235 |\n| <z> | - |\n\n- a <fig>: `figures/a<b>.png`\n")


PROBE = """<script>window.addEventListener('load',()=>{const d=document.documentElement;
const wide=[...document.querySelectorAll('body *')].filter(e=>(e.scrollWidth>e.clientWidth+1&&
getComputedStyle(e).overflowX!='visible')||e.getBoundingClientRect().right>d.clientWidth+1).map(e=>e.tagName);
document.title='probe '+d.scrollWidth+' '+d.clientWidth+' '+wide.length+' '+wide.slice(0,5).join(',');});</script>"""


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium (apt-get install chromium)")
def test_at_1400_px_nothing_is_clipped_and_nothing_scrolls_sideways(tmp_path):
    """A copy of the page with a measuring script (the report itself has none): the page's
    scroll width, and the elements that overflow their box or the window."""
    out = _report(tmp_path, "run")
    probe = tmp_path / "probe.html"
    probe.write_text((out / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    title = re.search(r"<title>probe (\d+) (\d+) (\d+) ?([^<]*)</title>", dom)
    assert title, dom[:500]
    scroll_width, client_width, clipped = int(title[1]), int(title[2]), int(title[3])
    assert 1300 <= client_width <= 1400 and scroll_width == client_width, title[0]
    assert clipped == 0, title[0]
    wide = tmp_path / "wide.html"  # the probe can fail: a block wider than the window is found
    wide.write_text(probe.read_text().replace("<h2>Findings</h2>", "<h2>Findings</h2><pre style='overflow-x:auto'>"
                                              + "x" * 400 + "</pre>"))
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                          "--dump-dom", wide.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert re.search(r"<title>probe \d+ \d+ [1-9]\d* PRE", dom), dom[:300]

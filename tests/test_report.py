"""The report: figure content, a self-contained and escaped HTML, and what a browser shows."""
import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from collectives.cost import RING_ALL_REDUCE
from conftest import commscale
from reports import figures
from synthetic import flat_points, write_run


def _frame(runs=("a", "b"), ranks=(2, 4), sizes=(1024, 65536, 1 << 20)):
    rows = [{"run": r, "nranks": p, "nnodes": 1, "ranks_per_node": p, "fabric": "loopback", "size_bytes": n,
             "busbw_gbps": n / 1e5 * p, "time_us": 10 + n / 1e3} for r in runs for p in ranks for n in sizes]
    return pd.DataFrame(rows)


def test_busbw_figure_has_units_one_series_per_run_and_group_and_the_data_extents(tmp_path):
    fig = figures.busbw_vs_size(_frame(), "all_reduce", tmp_path / "f.png")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "size (bytes, nccl-tests semantics)" and ax.get_ylabel() == "busbw (GB/s)"
    assert len(ax.get_lines()) == 4  # 2 runs x 2 group sizes
    xs = np.concatenate([line.get_xdata() for line in ax.get_lines()])
    ys = np.concatenate([line.get_ydata() for line in ax.get_lines()])
    assert (xs.min(), xs.max()) == (1024, 1 << 20) and ys.max() == pytest.approx((1 << 20) / 1e5 * 4)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a: 2 ranks, loopback", "a: 4 ranks, loopback", "b: 2 ranks, loopback", "b: 4 ranks, loopback"]
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "1 KiB" in ticks and "1 MiB" in ticks  # binary units on the size axis
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_latency_figure_draws_the_model_and_its_band(tmp_path):
    run = write_run(tmp_path / "run", flat_points(RING_ALL_REDUCE, 10.0, 10.0, ranks=(2, 4)), noise=0.02)
    from reports.fit import fit_frame
    from reports.load import load_run
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
    assert commscale("crossover", run, "--workload", "gpt2-small-dp", "--gpu-tflops", "100", "--limit", "64",
                     "--bootstrap", "20").returncode == 0
    out = tmp_path / "report"
    result = commscale("report", run, "--out", out)
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
    assert "## Summary" in md and "## Scaling model" in md and "## Crossover" in md
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["nranks"]) == [2, 4, 8] and (summary["points_ok"] == 14).all()


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

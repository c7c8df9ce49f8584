"""reports/model/predict.py: the point model, the intervals and their calibration, on hand-made
(labelled) and synthetic points; `commscale predict` on real imported logs and a dry run."""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectives.cost import RING_ALL_REDUCE
from collectives.records import FIELDS, make_record
from conftest import commscale_here
from reports.model.fit import usable
from reports.model.predict import (Scale, conformal, fit_trend, key_model, phi, predict, prior_quantile)
from synthetic import family_time_us

REAL = Path(__file__).resolve().parent / "fixtures" / "real" / "series"


def frame(points, collective="all_reduce", domain_size=None) -> pd.DataFrame:
    """Records from (nnodes, nranks, size_bytes, time_us) points (hand-made or synthetic)."""
    recs = []
    for nn, p, n, t in points:
        extra = {}
        if domain_size:
            extra = {"ndomains": math.ceil(nn / domain_size), "nodes_per_domain": min(nn, domain_size),
                     "domain_size_nodes": domain_size}
        recs.append(make_record(run_id="synthetic", timestamp="", status="ok", collective=collective,
                                backend="nccl", device="cuda", fabric="net", dtype="float32", in_place=False,
                                size_bytes=int(n), count=int(n) // 4, nranks=p, nnodes=nn,
                                ranks_per_node=p // nn, warmup=1, iters=5, time_us_mean=t, time_us_median=t,
                                busbw_gbps=n / t * 1e-3, algbw_gbps=n / t * 1e-3, n_wrong=0, **extra))
    return usable(pd.DataFrame(recs, columns=list(FIELDS)))


def model_of(df):
    return key_model({"collective": df["collective"].iloc[0], "in_place": False}, df)


SIZES = [2 ** k for k in range(10, 25)]  # 1 KiB .. 16 MiB, x2 as nccl-tests -f 2


def ring(p, n, alpha_us=5.0, bw_gbps=10.0):
    return family_time_us(RING_ALL_REDUCE, p, n, alpha_us, bw_gbps)


def test_a_scale_reads_its_time_between_sizes_and_says_when_it_leaves_them():
    s = Scale(2, 16, 8, 2, np.array([1e6, 4e6]), np.array([100.0, 400.0]))
    assert s.time_at(2e6) == (pytest.approx(200.0), True)  # log-log between the two
    t, inside = s.time_at(16e6)
    assert t == pytest.approx(1600.0) and not inside  # busbw held past the largest
    assert s.time_at(1.01e6)[1] and not s.time_at(1e3)[1]


def test_all_to_all_moves_the_share_that_leaves_the_node():
    assert phi("all_to_all", 2, 16) == pytest.approx(0.5)
    assert phi("all_to_all", 10, 80) == pytest.approx(0.9)
    assert phi("all_reduce", 4, 32) == pytest.approx(2 * 31 / 32)


def test_the_trend_recovers_a_ring_whose_latency_grows_with_the_nodes():
    """Exact points of t = c phi(P) + a N at 2, 4, 8, 16 nodes: the 3 scale rule picks the
    ring growth and the fit predicts 64 nodes exactly."""
    c, a = 1000.0, 7.0
    pts = [(N, 8 * N, c * phi("all_reduce", N, 8 * N) + a * N) for N in (2, 4, 8, 16)]
    tr = fit_trend("all_reduce", pts)
    assert tr.growth == "ring"
    assert tr.time(64, 512) == pytest.approx(c * phi("all_reduce", 64, 512) + a * 64, rel=1e-9)
    assert fit_trend("all_reduce", pts[:1]).growth is None  # one scale: busbw carried forward


def test_the_conformal_quantile_on_numbers_worked_by_hand():
    scores = np.arange(1.0, 11.0)  # 1..10, equal weights
    # with +1: the 0.9 quantile needs 0.9 x 11 = 9.9 of the weight: the 10th score
    assert conformal(scores, np.ones(10), 0.9) == 10.0
    assert conformal(scores, np.ones(10), 0.9, plus_one=False) == 9.0
    assert conformal(scores, np.ones(10), 0.95) == math.inf  # 10.45 > 10: no finite quantile


def test_the_prior_weighs_each_series_once_and_leaves_out_the_one_asked():
    prior = [{"series": "a", "extrapolation": 2, "crossed": False, "error": 0.1},
             {"series": "a", "extrapolation": 2, "crossed": False, "error": 0.1},
             {"series": "b", "extrapolation": 4, "crossed": False, "error": 0.6},  # 0.3 per doubling
             {"series": "c", "extrapolation": 2, "crossed": True, "error": 9.0}]  # crossed: not counted
    q, count = prior_quantile(2, 0.5, prior=prior)
    assert count == 2 and q == pytest.approx(0.1)
    assert prior_quantile(2, 0.9, prior=prior)[0] == pytest.approx(0.3)
    assert prior_quantile(8, 0.9, prior=prior)[0] == pytest.approx(0.9)  # 3 doublings
    assert prior_quantile(2, 0.9, exclude="b", prior=prior) == (pytest.approx(0.1), 1)


def test_a_scale_no_run_measured_gets_a_warning_and_an_unbounded_interval():
    """Hand-made: one-node points only, predicting 2 nodes (the network): unbounded; and
    racks of 4 nodes measured inside one rack, predicting 8 nodes (a second rack)."""
    one_node = frame([(1, p, n, ring(p, n)) for p in (2, 4, 8) for n in SIZES])
    pred = predict(model_of(one_node), 2, SIZES[-1])
    assert pred.unmeasured_tier and "no run measured" in pred.warning
    assert pred.busbw_interval_gbps == [0.0, None] and pred.time_interval_us == [0.0, None]
    racks = frame([(N, 4 * N, n, ring(4 * N, n)) for N in (1, 2, 4) for n in SIZES], domain_size=4)
    inside = predict(model_of(racks), 4, SIZES[-1])
    assert inside.tier == "intra_domain" and not inside.unmeasured_tier
    beyond = predict(model_of(racks), 8, SIZES[-1])
    assert beyond.tier == "inter_domain" and beyond.unmeasured_tier and beyond.busbw_interval_gbps[1] is None


@pytest.mark.parametrize("target", [64, 128])
def test_synthetic_alpha_beta_intervals_cover_85_to_97_percent_over_200_seeds(target):
    """alpha-beta (ring all_reduce, 5 us, 10 GB/s) with 2% noise on each time, one rank per
    node at 2 to 32 ranks; the measured value at 64 and 128 ranks drawn with the same noise."""
    inside = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        noisy = lambda t: t * (1 + 0.02 * rng.standard_normal())  # noqa: E731
        df = frame([(p, p, n, noisy(ring(p, n))) for p in (2, 4, 8, 16, 32) for n in SIZES])
        pred = predict(model_of(df), target, SIZES[-1], ranks_per_node=1, level=0.9, prior=())
        measured = noisy(ring(target, SIZES[-1]))
        lo, hi = pred.time_interval_us
        inside += lo <= measured <= hi
        assert pred.extrapolation == target / 32 and "own errors" in pred.interval_from
    assert 0.85 * 200 <= inside <= 0.97 * 200, inside


@pytest.fixture(scope="module")
def abci(tmp_path_factory):
    """ABCI 2.0 V100 all_reduce at 1-32 nodes (real nccl-tests logs, SOURCES.md there)."""
    out = tmp_path_factory.mktemp("abci")
    for n in ("01", "02", "04", "08", "16", "32"):
        r = commscale_here("import", REAL / "nccl-abci-v100-allreduce" / f"n{n}.txt", "--format", "nccl-tests",
                           "--out", out / f"n{n}")
        assert r.returncode == 0, r.stderr
    return out


def test_predict_json_on_real_imported_logs_has_every_field(abci):
    runs = [abci / f"n{n}" for n in ("01", "02", "04", "08", "16")]
    r = commscale_here("predict", *runs, "--nodes", "32,64", "--size", "32M", "--collective", "all_reduce", "--json")
    assert r.returncode == 0, r.stderr
    preds = json.loads(r.stdout)
    assert len(preds) == 4  # in and out of place, 32 and 64 nodes
    for p in preds:
        for k in ("collective", "in_place", "nodes", "nranks", "size_bytes", "time_us", "time_interval_us",
                  "busbw_gbps", "busbw_interval_gbps", "level", "extrapolation", "tier", "basis", "warning"):
            assert k in p
        lo, hi = p["busbw_interval_gbps"]
        assert lo < p["busbw_gbps"] < hi and p["tier"] == "inter_node" and p["warning"] is None
        assert p["nranks"] == 4 * p["nodes"] and p["extrapolation"] == p["nodes"] / 16
    measured = [json.loads(x) for x in (abci / "n32" / "records.jsonl").read_text().splitlines()]
    top = [m for m in measured if m["size_bytes"] == 32 << 20 and m["in_place"] is False]
    out32 = next(p for p in preds if p["nodes"] == 32 and p["in_place"] is False)
    assert out32["busbw_interval_gbps"][0] <= top[0]["busbw_gbps"] <= out32["busbw_interval_gbps"][1]
    table = commscale_here("predict", *runs, "--nodes", "64", "--place", "out")
    assert table.returncode == 0 and "all_reduce" in table.stdout and "corpus prior" in table.stdout


@pytest.mark.parametrize("args, words", [
    ((), "required: RUN"),
    (("--collective", "allreduce"), "unknown collective 'allreduce'"),
    (("--nodes", "0"), "--nodes 0"),
    (("--level", "1.5"), "--level 1.5"),
])
def test_predict_bad_input_is_one_line_and_exit_2(abci, args, words):
    base = [] if args == () else [abci / "n01"]
    nodes = [] if "--nodes" in args else ["--nodes", "4"]
    r = commscale_here("predict", *base, *nodes, *args)
    assert r.returncode == 2 and words in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_predict_on_a_dry_run(default_dryrun):
    out, r = default_dryrun
    assert r.returncode == 0, r.stderr
    r = commscale_here("predict", out, "--collective", "all_reduce", "--nodes", "1,2", "--ranks-per-node", "8",
                       "--json")
    assert r.returncode == 0, r.stderr
    preds = json.loads(r.stdout)
    one = [p for p in preds if p["nodes"] == 1]
    two = [p for p in preds if p["nodes"] == 2]
    assert one and all(p["tier"] == "intra_node" and p["extrapolation"] == 2 and p["warning"] is None for p in one)
    assert two and all(p["warning"] and p["busbw_interval_gbps"][1] is None for p in two)


@pytest.mark.slow  # headless Chromium
def test_report_on_an_imported_node_count_series_shows_the_pooled_model(abci, tmp_path):
    """ABCI V100, 1 to 32 nodes: the report has the series section (busbw by node count,
    predictions at 2x/4x/8x with intervals) and a headline whose held-out error is the one
    `predict --json` gives; at 1400 px nothing scrolls sideways (headless Chromium)."""
    runs = sorted(abci.iterdir())
    r = commscale_here("report", *runs, "--out", tmp_path / "rep")
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    section = md[md.index("## Scaling across node counts: all_reduce"):]
    for nodes in (1, 2, 4, 8, 16, 32):
        assert f"\n| {nodes} | {4 * nodes} | 32 MiB |" in section
    for nodes in (64, 128, 256):
        assert f"\n| {nodes} | {4 * nodes} | 32 MiB |" in section
    head = next(line for line in md.splitlines() if line.startswith("- **Scaling** all_reduce at 64 nodes"))
    pred = json.loads(commscale_here("predict", *runs, "--nodes", "64", "--size", "32M", "--place", "out", "--json").stdout)
    assert f"error on this series {pred[0]['heldout_error_pct']:.0f}%" in head
    lo, hi = pred[0]["busbw_interval_gbps"]
    assert f"{pred[0]['busbw_gbps']:.3g} GB/s busbw [{lo:.3g}, {hi:.3g}], 90%" in head
    if shutil.which("chromium"):
        from test_report import PROBE
        probe = tmp_path / "probe.html"
        probe.write_text((tmp_path / "rep" / "report.html").read_text().replace("</body>", PROBE + "</body>"))
        dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                              "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
        title = re.search(r"<title>probe (\d+) (\d+) (\d+) ?([^<]*)</title>", dom)
        assert title and title[1] == title[2] and title[3] == "0", dom[:300]

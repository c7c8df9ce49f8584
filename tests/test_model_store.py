"""model.json round trip (reports/model/store.py, entries.py): the fits written are the
fits read back, field for field and bootstrap sample for sample, and the readers
(crossover, plan, report) take a current model.json instead of fitting again, with the
same intervals. Synthetic runs: the test's own arithmetic (tests/synthetic.py)."""
import json

import numpy as np
import pytest

from collectives.cost import RING_ALL_REDUCE
from conftest import commscale_here
from reports.model import fit as fit_module, tiers as tiers_module
from reports.model.entries import fit_entries, hier_entries
from reports.model.fit import fit_frame
from reports.model.store import MODEL_FILE, SAMPLES_FILE, current_model, load_model, write_model
from reports.model.tiers import fit_tiers
from reports.runs.load import load_run
from synthetic import family_time_us, flat_points, write_run


def _two_tier_points():
    """4 ranks per node at 1, 2, 4 and 8 nodes: 1 us and 20 GB/s inside a node, 5 us and
    2 GB/s across nodes (times from the ring's A and B at the node's ranks and the
    network's, summed), and a protocol switch at 64 KiB inside the node."""
    out, g = [], 4
    for nodes in (1, 2, 4, 8):
        p = nodes * g
        for n in [2 ** k for k in range(10, 25, 2)]:
            alpha_in, bw_in = (1.0, 20.0) if n < 65536 else (3.0, 25.0)
            t = family_time_us(RING_ALL_REDUCE, g, n, alpha_in, bw_in)
            if nodes > 1:
                t += family_time_us(RING_ALL_REDUCE, nodes, n, 5.0, 2.0)
            out.append((nodes, p, g, "loopback" if nodes == 1 else "tcp", n, t))
    return out


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("store") / "run", _two_tier_points(), noise=0.02, seed=3)
    df = load_run(run)
    fits, hier = fit_frame(df, 200), fit_tiers(df, 200)
    assert fits and hier, "the synthetic run must give flat and tiered fits"
    write_model(run, [run], fits, hier, 200)
    return run, fits, hier


def test_the_fits_read_back_are_the_fits_written(fitted_run):
    run, fits, hier = fitted_run
    stored = load_model(run)
    assert stored is not None and stored.bootstrap == 200
    assert fit_entries(stored.fits) == fit_entries(fits)
    assert hier_entries(stored.hier) == hier_entries(hier)
    assert any(len(f.regimes) > 1 for f in fits + hier), "a key with several regimes must round-trip"
    for a, b in zip(fits, stored.fits):
        for ra, rb in zip(a.regimes, b.regimes):
            assert ra.family is rb.family and np.array_equal(ra.theta, rb.theta) and np.array_equal(ra.boot, rb.boot)
        for n in (1e3, 1e5, 1e7):
            assert np.array_equal(a.predict_samples(n, 16), b.predict_samples(n, 16))
    for a, b in zip(hier, stored.hier):
        for n in (1e3, 1e6):
            assert np.array_equal(a.predict_samples(n, 16, 4), b.predict_samples(n, 16, 4))
            assert a.tier_at(16) == b.tier_at(16)


def test_a_model_is_current_only_for_the_same_records_and_bootstrap(fitted_run, tmp_path):
    run, _, _ = fitted_run
    assert current_model([run], [run], 200) is not None
    assert current_model([run], [run], 1000) is None, "another bootstrap setting is not current"
    other = write_run(tmp_path / "other", _two_tier_points(), noise=0.02, seed=4)
    (other / MODEL_FILE).write_text((run / MODEL_FILE).read_text())
    (other / SAMPLES_FILE).write_bytes((run / SAMPLES_FILE).read_bytes())
    assert current_model([other], [other], 200) is None, "other records are not current"
    (other / SAMPLES_FILE).unlink()
    assert load_model(other) is None, "a model.json without its samples is not read"


@pytest.fixture()
def no_fitting(monkeypatch):
    """Any fit made from here on fails the test."""
    def refuse(*_a, **_k):
        raise AssertionError("fitted again although model.json is current")
    monkeypatch.setattr(fit_module, "fit_frame", refuse)
    monkeypatch.setattr(tiers_module, "fit_tiers", refuse)


def _dp_workload(tmp_path):
    wl = tmp_path / "dp.json"
    wl.write_text(json.dumps({"kind": "data_parallel", "params": 1e9, "bytes_per_param": 2, "global_tokens": 1e6}))
    return wl


def test_crossover_plan_and_report_read_a_current_model_json(tmp_path, monkeypatch):
    run = write_run(tmp_path / "run", flat_points(RING_ALL_REDUCE, 10.0, 10.0), noise=0.02)
    wl = _dp_workload(tmp_path)
    args = ["--workload", wl, "--gpu-tflops", "100", "--gpus-per-node", "1"]
    fresh = commscale_here("crossover", run, *args, "--out", tmp_path / "fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert commscale_here("fit", run, "--out", run).returncode == 0
    calls = []
    real = fit_module.fit_frame
    monkeypatch.setattr(fit_module, "fit_frame", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = commscale_here("crossover", run, *args, "--out", tmp_path / "again")
    assert again.returncode == 0, again.stderr
    assert calls == [], "crossover fitted again although model.json is current"
    first = json.loads((tmp_path / "fresh" / "crossover.json").read_text())
    second = json.loads((tmp_path / "again" / "crossover.json").read_text())
    assert first == second, "the crossover from model.json differs from one fitted afresh"
    plan = commscale_here("plan", run, "--workload", "dryrun-llm", "--gpu-tflops", "1", "--gpus-per-node", "4",
                          "--nodes", "1,2,4", "--out", tmp_path / "plan")
    assert plan.returncode == 0, plan.stderr
    report = commscale_here("report", run, "--out", tmp_path / "report")
    assert report.returncode == 0, report.stderr
    assert calls == [], "plan or report fitted again although model.json is current"
    stored = json.loads((run / MODEL_FILE).read_text())["fits"]
    md = (tmp_path / "report" / "report.md").read_text()
    for e in stored:
        lo, hi = e["busbw_asymptote_gbps_ci"]
        assert f"[{lo:.3g}, {hi:.3g}]" in md, "the report's interval is not model.json's"

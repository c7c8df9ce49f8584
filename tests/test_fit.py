"""The scaling model recovers known parameters from synthetic records, run through the
real `commscale fit` command (its entry point, in this process)."""
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from collectives.cost import RING_ALL_REDUCE
from collectives.registry import COLLECTIVES
from conftest import commscale_here
from synthetic import close, family_time_us, flat_points, write_run

SEEDS = 8


@pytest.mark.slow  # about 40 s: 8 seeds of every family
def test_every_family_is_recovered_within_3_percent_with_2_percent_noise(tmp_path):
    truth, runs = {}, []
    for name, spec in COLLECTIVES.items():
        for family in spec.families:
            for seed in range(SEEDS):
                rng = np.random.default_rng(1000 + seed)
                alpha, bw = float(rng.uniform(2, 50)), float(rng.uniform(5, 400))
                run = write_run(tmp_path / f"{name}-{family.name}-{seed}", flat_points(family, alpha, bw),
                                noise=0.02, seed=seed, collective=name)
                truth[run] = (family.name, alpha, bw)
                runs.append(run)
    result = commscale_here("fit", "--each", "--bootstrap", "100", *runs)
    assert result.returncode == 0, result.stderr
    right, errors = Counter(), []
    for run, (family, alpha, bw) in truth.items():
        fits = json.loads((run / "model.json").read_text())["fits"]
        assert len(fits) == 1, (run.name, [(f["family"], f["size_bytes_min"]) for f in fits])  # one regime
        (fit,) = fits
        right[fit["family"] == family] += 1
        assert fit["family_identified"] == (fit["family"] != "unidentified")
        if fit["family"] == family:
            errors.append(max(abs(fit["alpha_us"] / alpha - 1), abs(fit["bandwidth_gbps"] / bw - 1)))
            assert fit["alpha_us_ci"][0] <= fit["alpha_us"] <= fit["alpha_us_ci"][1]
            assert fit["heldout_nranks"] == 32 and fit["heldout_mape_pct"] < 10
    assert right[True] / len(truth) >= 0.95, right
    assert max(errors) < 0.03, max(errors)
    assert "heldout%" in result.stdout and "ring" in result.stdout


def test_a_protocol_switch_becomes_two_regimes(tmp_path):
    small = [(1, p, p, "loopback", n, family_time_us(RING_ALL_REDUCE, p, n, 3.0, 5.0))
             for p in (2, 4, 8) for n in [8 * 4 ** i for i in range(7)]]            # 8 B .. 32 KiB
    large = [(1, p, p, "loopback", n, family_time_us(RING_ALL_REDUCE, p, n, 40.0, 50.0))
             for p in (2, 4, 8) for n in [8 * 4 ** i for i in range(7, 14)]]        # 128 KiB .. 512 MiB
    run = write_run(tmp_path / "run", small + large, noise=0.02)
    result = commscale_here("fit", run, "--out", run, "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    fits = json.loads((run / "model.json").read_text())["fits"]
    assert [(f["size_bytes_min"], f["size_bytes_max"]) for f in fits] == [(8, 32768), (131072, 536870912)]
    assert close(fits[0]["alpha_us"], 3.0, 0.03) and close(fits[0]["bandwidth_gbps"], 5.0, 0.03)
    assert close(fits[1]["alpha_us"], 40.0, 0.03) and close(fits[1]["bandwidth_gbps"], 50.0, 0.03)


def test_hierarchical_fit_separates_the_intra_and_inter_node_tiers(tmp_path):
    g = 8
    sizes = [8 * 4 ** i for i in range(14)]
    points = [(1, p, p, "loopback", n, family_time_us(RING_ALL_REDUCE, p, n, 2.0, 150.0)) for p in (2, 4, 8)
              for n in sizes]
    for nodes in (2, 4, 8):
        points += [(nodes, nodes * g, g, "net", n, family_time_us(RING_ALL_REDUCE, g, n, 2.0, 150.0)
                    + family_time_us(RING_ALL_REDUCE, nodes, n, 8.0, 12.0)) for n in sizes]
    run = write_run(tmp_path / "run", points, noise=0.02)
    result = commscale_here("fit", run, "--out", run, "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    (h,) = json.loads((run / "model.json").read_text())["hierarchical"]
    assert (h["family"], h["ranks_per_node"], h["fabric_intra"], h["fabric_inter"]) == ("ring", 8, "loopback", "net")
    assert close(h["alpha_intra_us"], 2.0, 0.03) and close(h["bandwidth_intra_gbps"], 150.0, 0.03)
    assert close(h["alpha_inter_us"], 8.0, 0.03) and close(h["bandwidth_inter_gbps"], 12.0, 0.03)
    assert h["heldout_nnodes"] == 8 and h["heldout_mape_pct"] < 5
    assert "hierarchical tiers:" in result.stdout
    assert [t["name"] for t in h["tiers"]] == ["intra_node", "inter_node"] and h["domain_size_nodes"] is None
    assert (h["tiers"][1]["nnodes"], h["tiers"][0]["nranks"]) == ([2, 4, 8], [2, 4, 8])


@pytest.mark.slow
def test_real_dryrun_records_get_an_honest_heldout_error(default_dryrun):
    """The held-out error model.json reports for a real dry run at 2 and 4 ranks is the one
    of a fit made on the 2-rank points alone, recomputed here from the run's own records,
    and not the error the full fit (which saw the 4-rank points) makes on them."""
    from collectives.registry import COLLECTIVES, get_collective
    from reports.model.fit import KEY, TIME_FIELD, fit_points, usable
    from reports.runs.load import load_run
    out, result = default_dryrun  # every collective, 1 KiB to 16 MiB
    assert result.returncode == 0, result.stderr
    fits = json.loads((out / "model.json").read_text())["fits"]
    assert {f["collective"] for f in fits} == set(COLLECTIVES)
    for f in fits:
        assert f["heldout_nranks"] == 4 and f["heldout_from_nranks"] == [2]
        assert f["points"] >= 6 and f["mape_pct"] >= 0
    records = usable(load_run(out))
    checked = 0
    for values, group in records.groupby(list(KEY), sort=True, dropna=False):
        key = {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in zip(KEY, values)}
        entries = [f for f in fits if all(f[k] == v for k, v in key.items())]
        assert entries, key
        spec = get_collective(key["collective"])
        p, n, t = (group[c].to_numpy(float) for c in ("nranks", "size_bytes", TIME_FIELD))
        two, four = p == 2, p == 4
        assert set(np.unique(p)) == {2, 4}
        alone = fit_points(spec.families, p[two], n[two], t[two], key, samples=0, heldout=False,
                           factor=spec.busbw_factor)
        assert alone is not None
        held_n, held_t = n[four], t[four]
        out_of_sample = np.abs(held_t - np.array([alone.predict(x, 4) for x in held_n])) / held_t * 100
        # the full fit's own error on the same 4-rank points (its parameters as model.json gives them)
        in_sample = np.full_like(held_t, np.nan)
        for e in entries:
            inside = (held_n >= e["size_bytes_min"]) & (held_n <= e["size_bytes_max"])
            a, b = e["steps_formula"]["4"]
            beta = 0.0 if e["bandwidth_gbps"] is None else 1e-3 / e["bandwidth_gbps"]
            in_sample[inside] = np.abs(held_t[inside] - (e["alpha_us"] * a + beta * b * held_n[inside])) \
                / held_t[inside] * 100
            assert e["heldout_mape_pct"] == pytest.approx(float(out_of_sample[inside].mean()), rel=1e-9)
            assert e["heldout_mape_pct"] != pytest.approx(float(in_sample[inside].mean()), rel=1e-9)
        assert not np.isnan(in_sample).any()  # the regimes cover every size
        for e in entries:
            assert e["key_heldout_mape_pct"] == pytest.approx(float(out_of_sample.mean()), rel=1e-9)
            assert e["key_heldout_mape_pct"] != pytest.approx(float(in_sample.mean()), rel=1e-9)
        checked += 1
    assert checked == len({tuple(f[k] for k in KEY) for f in fits}) >= 2


def test_the_heldout_error_is_out_of_sample(tmp_path):
    """Synthetic: recursive doubling at 2 and 4 ranks, a ring at 8. With 8 the fit picks
    another family than without it, so a held-out error that let the 8-rank points choose
    the family (or the cuts) would differ from a fit made on 2 and 4 alone."""
    from collectives.cost import RECURSIVE_DOUBLING_ALL_REDUCE
    from collectives.registry import get_collective
    from reports.model.fit import design, fit_points
    from reports.model.stats import nnls
    spec = get_collective("all_reduce")
    sizes = [2 ** k for k in range(10, 28, 2)]

    def t_us(fam, p, n, alpha, bw):
        return float(design(fam, [p], [n])[0] @ np.array([alpha, 1e-3 / bw]))
    pts = [(p, n, t_us(RECURSIVE_DOUBLING_ALL_REDUCE, p, n, 5.0, 50.0)) for p in (2, 4) for n in sizes]
    pts += [(8, n, t_us(RING_ALL_REDUCE, 8, n, 5.0, 8.0)) for n in sizes]
    p, n, t = (np.array(a, dtype=float) for a in zip(*pts))
    full = fit_points(spec.families, p, n, t, {"k": 1}, samples=50, factor=spec.busbw_factor)
    small = fit_points(spec.families, p[p < 8], n[p < 8], t[p < 8], {"k": 1}, samples=0,
                       factor=spec.busbw_factor, heldout=False)
    assert [r.family.name for r in full.regimes] != [r.family.name for r in small.regimes]  # 8 would change it
    pred = np.array([small.predict(x, 8) for x in n[p == 8]])
    expected = float(np.mean(np.abs(t[p == 8] - pred) / t[p == 8]) * 100)
    assert full.heldout_mape_pct == pytest.approx(expected, rel=1e-12)
    assert (full.heldout_nranks, full.heldout_from) == (8, (2, 4))
    assert full.regimes[-1].heldout_mape_pct == pytest.approx(expected, rel=1e-12)  # one regime: all 8-rank points
    # what keeping the full fit's family would have given: a different number
    fam = full.regimes[0].family
    kept, _ = nnls(design(fam, p[p < 8], n[p < 8]), t[p < 8])
    kept_err = np.mean(np.abs(t[p == 8] - design(fam, p[p == 8], n[p == 8]) @ kept) / t[p == 8]) * 100
    assert abs(kept_err - expected) > 1


def test_the_hierarchical_heldout_error_is_out_of_sample():
    """Synthetic: a flat ring over all ranks at 2 and 4 nodes, a hierarchical one at 16.
    With 16 the fit picks another family than without it, so a held-out error that let the
    16-node points choose the family or the inter-node scope would differ from the error of
    a fit made on 1, 2 and 4 nodes alone."""
    import pandas as pd
    from collectives.records import FIELDS, make_record
    from reports.model.stats import nnls
    from reports.model.tiers import fit_tiers, hier_design
    g, theta = 8, np.array([2.0, 1e-3 / 150, 8.0, 1e-3 / 12])

    def rec(nodes, p, n, inter):
        t = float(hier_design(RING_ALL_REDUCE, [n], [nodes], g if nodes > 1 else p, inter)[0] @ theta)
        return make_record(run_id="s", timestamp="", status="ok", collective="all_reduce", backend="gloo",
                           device="cpu", fabric="x", dtype="float32", size_bytes=int(n), count=int(n) // 4, nranks=p,
                           nnodes=nodes, ranks_per_node=g if nodes > 1 else p, warmup=0, iters=5, time_us_mean=t,
                           time_us_median=t, time_us_min=t, time_us_max=t, time_us_p99=t, n_wrong=0,
                           algbw_gbps=n / t * 1e-3, busbw_gbps=n / t * 1e-3)
    sizes = [8 * 4 ** i for i in range(3, 14)]
    rows = [rec(1, p, n, "nodes") for p in (2, 4, 8) for n in sizes]
    rows += [rec(nodes, nodes * g, n, inter) for nodes, inter in ((2, "ranks"), (4, "ranks"), (16, "nodes"))
             for n in sizes]
    df = pd.DataFrame(rows, columns=list(FIELDS))
    (full,) = fit_tiers(df, samples=20)
    (small,) = fit_tiers(df[df["nnodes"] < 16], samples=20)
    assert full.family.name != small.family.name  # the 16-node points would change the choice
    top = df[df["nnodes"] == 16]
    t = top["time_us_median"].to_numpy()
    pred = np.array([small.predict(x, 16, g)[0] for x in top["size_bytes"]])
    expected = float(np.mean(np.abs(t - pred) / t) * 100)
    assert (full.heldout_nnodes, full.heldout_mape_pct) == (16, pytest.approx(expected, rel=1e-12))
    # keeping the full fit's family and scope, refitted on 1, 2 and 4 nodes, gives another number
    rest = df[df["nnodes"] < 16]
    nn = rest["nnodes"].to_numpy(int)
    g_rows = np.where(nn > 1, g, rest["nranks"].to_numpy(int))
    kept, _ = nnls(hier_design(full.family, rest["size_bytes"].to_numpy(float), nn, g_rows, full.inter),
                   rest["time_us_median"].to_numpy(float))
    kept_pred = hier_design(full.family, top["size_bytes"].to_numpy(float), top["nnodes"].to_numpy(int), g,
                            full.inter) @ kept
    assert abs(float(np.mean(np.abs(t - kept_pred) / t) * 100) - expected) > 1


def test_one_rank_count_cannot_tell_families_apart_several_can(tmp_path):
    from collectives.cost import RABENSEIFNER
    one = write_run(tmp_path / "one", flat_points(RABENSEIFNER, 10.0, 100.0, ranks=(8,)), noise=0.01)
    many = write_run(tmp_path / "many", flat_points(RABENSEIFNER, 10.0, 100.0), noise=0.01)
    for run in (one, many):
        assert commscale_here("fit", run, "--out", run, "--bootstrap", "100").returncode == 0
    (f1,), (fm,) = (json.loads((r / "model.json").read_text())["fits"] for r in (one, many))
    assert (f1["family"], f1["family_identified"], f1["family_used"]) == ("unidentified", False, "ring")
    assert f1["bandwidth_gbps"] == pytest.approx(f1["busbw_asymptote_gbps"])  # busbw units, whatever the truth
    assert f1["busbw_asymptote_gbps"] == pytest.approx(100.0, rel=0.05)  # rabenseifner's B(p) is the factor too
    assert (fm["family"], fm["family_identified"]) == ("rabenseifner", True)
    assert f1["heldout_mape_pct"] is None and f1["heldout_from_nranks"] == []
    assert fm["heldout_nranks"] == 32 and fm["heldout_from_nranks"] == [2, 4, 8, 16]


def test_two_sizes_at_several_rank_counts_fit_the_bandwidth_term_across_scales(tmp_path):
    """A vendor's acceptance log: 8 and 16 GiB only, at 8, 16, 128 and 256 ranks. Each rank
    count alone is too small to fit; together they give the bandwidth, alpha unidentified."""
    pts = [(1, p, p, "net", n, family_time_us(RING_ALL_REDUCE, p, n, 2.0, 180.0))
           for p in (8, 16, 128, 256) for n in (8 << 30, 16 << 30)]
    run = write_run(tmp_path / "vendor", pts, noise=0.01)
    result = commscale_here("fit", run, "--out", run, "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    (f,) = json.loads((run / "model.json").read_text())["fits"]
    assert (f["alpha_identified"], f["alpha_us"]) == (False, None)
    assert f["family"] in ("ring", "rabenseifner", "unidentified") and f["busbw_asymptote_gbps"] == pytest.approx(180, rel=0.03)
    assert f["heldout_nranks"] == 256 and f["heldout_from_nranks"] == [8, 16, 128] and f["heldout_mape_pct"] < 5
    one = write_run(tmp_path / "one", pts[:2])
    refused = commscale_here("fit", one, "--bootstrap", "100")
    assert refused.returncode == 2 and "or several rank counts" in refused.stderr

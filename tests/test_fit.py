"""The scaling model recovers known parameters from synthetic records, run through the
real `commscale fit` command as a user would."""
import json
from collections import Counter

import numpy as np

from collectives.cost import RING_ALL_REDUCE
from collectives.registry import COLLECTIVES
from conftest import commscale
from synthetic import close, family_time_us, flat_points, write_run

SEEDS = 8


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
    result = commscale("fit", "--each", "--bootstrap", "100", *runs, timeout=900)
    assert result.returncode == 0, result.stderr
    right, errors = Counter(), []
    for run, (family, alpha, bw) in truth.items():
        fits = json.loads((run / "model.json").read_text())["fits"]
        assert len(fits) == 1, (run.name, [(f["family"], f["size_bytes_min"]) for f in fits])  # one regime
        (fit,) = fits
        right[fit["family"] == family] += 1
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
    result = commscale("fit", run, "--bootstrap", "100")
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
    result = commscale("fit", run, "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    (h,) = json.loads((run / "model.json").read_text())["hierarchical"]
    assert (h["family"], h["ranks_per_node"], h["fabric_intra"], h["fabric_inter"]) == ("ring", 8, "loopback", "net")
    assert close(h["alpha_intra_us"], 2.0, 0.03) and close(h["bandwidth_intra_gbps"], 150.0, 0.03)
    assert close(h["alpha_inter_us"], 8.0, 0.03) and close(h["bandwidth_inter_gbps"], 12.0, 0.03)
    assert h["heldout_nnodes"] == 8 and h["heldout_mape_pct"] < 5
    assert "hierarchical:" in result.stdout


def test_real_dryrun_records_get_an_honest_heldout_error(tmp_path):
    out = tmp_path / "run"
    result = commscale("dryrun", "--nproc", "4", "--collectives", "all_reduce,all_gather", "-b", "1K", "-e", "1M",
                       "-n", "5", "--out", out)
    assert result.returncode == 0, result.stderr
    fits = json.loads((out / "model.json").read_text())["fits"]
    assert {f["collective"] for f in fits} == {"all_reduce", "all_gather"}
    for f in fits:
        assert f["heldout_nranks"] == 4 and f["heldout_mape_pct"] >= 0  # whatever it is, it is reported
        assert f["points"] >= 6 and f["mape_pct"] >= 0

"""The tiered model (reports/model/tiers.py): node, domain and network tiers, each hierarchical or
flat, on synthetic points of known parameters (the test's own arithmetic) and on a real
GB300 NVL72 all-to-all series whose fall at 32 nodes is the rack boundary."""
import json

import numpy as np
import pandas as pd
import pytest

from collectives.cost import PAIRWISE, RING_ALL_REDUCE
from collectives.records import FIELDS, make_record
from conftest import REPO, commscale_here
from synthetic import close, family_time_us

SERIES = REPO / "tests/fixtures/real/series/nccl-oci-gb300-alltoall"


def _record(nnodes, g, ndomains, per, size, n, t, collective="all_reduce"):
    return make_record(run_id="s", timestamp="", status="ok", collective=collective, backend="gloo", device="cpu",
                       fabric="x" if nnodes == 1 else "net", dtype="float32", size_bytes=int(n), count=int(n) // 4,
                       nranks=nnodes * g, nnodes=nnodes, ranks_per_node=g, ndomains=ndomains, nodes_per_domain=per,
                       domain_size_nodes=size, warmup=0, iters=5, time_us_mean=t, time_us_median=t, time_us_min=t,
                       time_us_max=t, time_us_p99=t, n_wrong=0, algbw_gbps=n / t * 1e-3, busbw_gbps=n / t * 1e-3)


SIZES = [8 * 4 ** i for i in range(4, 14)]
NODE, DOMAIN, NET = (2.0, 100.0), (5.0, 20.0), (9.0, 4.0)  # (alpha_us, GB/s) per tier


def _three_tier_frame(kind: str) -> pd.DataFrame:
    """g = 4 ranks per node, domains of 4 nodes; groups of 1, 2 and 4 nodes inside one
    domain, 8 and 16 nodes across 2 and 4 domains. 'nodes': the tiers' times add, each
    over its own members; 'ranks': a flat ring, paced by the outermost tier alone."""
    g, size, rows = 4, 4, []
    for nodes in (1, 2, 4, 8, 16):
        d, m = max(1, nodes // size), min(nodes, size)
        for n in SIZES:
            if nodes == 1:
                t = family_time_us(RING_ALL_REDUCE, g, n, *NODE)
            elif kind == "ranks":
                t = family_time_us(RING_ALL_REDUCE, nodes * g, n, *(DOMAIN if d == 1 else NET))
            else:
                t = family_time_us(RING_ALL_REDUCE, g, n, *NODE) + family_time_us(RING_ALL_REDUCE, m, n, *DOMAIN)
                t += family_time_us(RING_ALL_REDUCE, d, n, *NET) if d > 1 else 0.0
            rows.append(_record(nodes, g, d, m, size, n, t))
    return pd.DataFrame(rows, columns=list(FIELDS))


@pytest.mark.parametrize("kind", ["nodes", "ranks"])
def test_three_tiers_of_known_parameters_are_recovered(kind):
    from reports.model.tiers import fit_tiers
    (h,) = fit_tiers(_three_tier_frame(kind), samples=50)
    assert [t.name for t in h.tiers] == ["intra_node", "intra_domain", "inter_domain"]
    assert [t.scope for t in h.tiers[1:]] == [kind, kind] and h.family.name == "ring"
    assert [t.nnodes for t in h.tiers] == [(1,), (2, 4), (8, 16)] and h.domain_size_nodes == 4
    for j, (alpha, bw) in enumerate((NODE, DOMAIN, NET)):
        assert close(h.theta[2 * j], alpha, 1e-6) and close(1e-3 / h.theta[2 * j + 1], bw, 1e-6), (j, h.theta)
    assert h.tier_at(1) == "intra_node" and h.tier_at(4) == "intra_domain" and h.tier_at(5) == "inter_domain"
    # held out, 16 nodes leave the outer tier one scale (8 nodes): exact where the kinds add,
    # while a flat ring at one scale fits a hierarchical phase equally and the choice can miss
    assert h.heldout_nnodes == 16 and (h.heldout_mape_pct < 1e-6 if kind == "nodes" else h.heldout_mape_pct > 0)
    # a prediction past the data crosses the domain boundary the records say: 32 nodes are 8 domains
    want = family_time_us(RING_ALL_REDUCE, 128, 1 << 20, *NET) if kind == "ranks" else sum(
        family_time_us(RING_ALL_REDUCE, q, 1 << 20, *tier) for q, tier in ((4, NODE), (4, DOMAIN), (8, NET)))
    assert float(h.predict(1 << 20, 32, 4)[0]) == pytest.approx(want, rel=1e-6)


def test_a_flat_outer_tier_adds_no_inner_terms():
    """The design by hand: a flat ring over 32 ranks across domains costs the outer tier's
    A(32), B(32) n and nothing else; hierarchical, each tier its own members."""
    from reports.model.tiers import DOMAIN as D, NETWORK as N, NODE as G, Shapes, tier_design
    s = Shapes(*(np.array([v]) for v in (4, 4, 2, 32, N)))
    flat = tier_design(RING_ALL_REDUCE, [1000.0], s, (G, D, N), {D: "ranks", N: "ranks"})[0]
    assert flat.tolist() == pytest.approx([0, 0, 0, 0, 62, 62 / 32 * 1000])
    hier = tier_design(RING_ALL_REDUCE, [1000.0], s, (G, D, N), {D: "nodes", N: "nodes"})[0]
    assert hier.tolist() == pytest.approx([6, 1500, 6, 1500, 2, 1000])
    mixed = tier_design(RING_ALL_REDUCE, [1000.0], s, (G, D, N), {D: "ranks", N: "nodes"})[0]
    assert mixed.tolist() == pytest.approx([0, 0, 30, 30 / 16 * 1000, 2, 1000])  # flat over the domain's 16 ranks


def test_without_domains_the_model_keeps_two_tiers():
    from reports.model.tiers import fit_tiers
    df = _three_tier_frame("nodes")
    df[["ndomains", "nodes_per_domain", "domain_size_nodes"]] = None
    (h,) = fit_tiers(df, samples=20)
    assert [t.name for t in h.tiers] == ["intra_node", "inter_node"] and h.domain_size_nodes is None
    assert h.tier_at(64) == "inter_node"


@pytest.fixture(scope="module")
def gb300(tmp_path_factory):
    """The real OCI GB300 NVL72 all-to-all series, imported with its rack's 18 nodes."""
    out = tmp_path_factory.mktemp("gb300")
    files = [SERIES / f"n{k:02d}.txt" for k in (1, 2, 16, 32)]
    result = commscale_here("import", "--format", "nccl-tests", *files, "--nnodes", "1,2,16,32", "--domain-size", "18",
                            "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_real_gb300_all_to_all_falls_at_the_nvl72_boundary(gb300):
    runs = sorted(p for p in gb300.iterdir() if p.is_dir())
    records = [json.loads(line) for run in runs for line in (run / "records.jsonl").read_text().splitlines()]
    assert {(r["nnodes"], r["ndomains"], r["nodes_per_domain"]) for r in records} == {
        (1, 1, 1), (2, 1, 2), (16, 1, 16), (32, 2, None)}  # 32 nodes in domains of 18: 18 and 14
    assert json.loads((runs[0] / "meta.json").read_text())["domains"]["domain_size_nodes"] == 18
    result = commscale_here("fit", *runs, "--bootstrap", "200", "--out", gb300)
    assert result.returncode == 0, result.stderr
    (h,) = json.loads((gb300 / "model.json").read_text())["hierarchical"]
    tiers = {t["name"]: t for t in h["tiers"]}
    assert h["tier_names"] == ["intra_node", "intra_domain", "inter_domain"] and h["domain_size_nodes"] == 18
    assert tiers["intra_domain"]["nnodes"] == [2, 16] and tiers["inter_domain"]["nnodes"] == [32]
    # the 2- and 16-node points sit on the intra-domain tier, at their own busbw (flat over NVLink)
    busbw = np.mean([r["busbw_gbps"] for r in records if r["nnodes"] in (2, 16)])
    assert abs(tiers["intra_domain"]["bandwidth_gbps"] / busbw - 1) < 0.05, (tiers, busbw)
    # and the fall is the domain boundary: the tier across racks is over 10 x slower
    assert tiers["inter_domain"]["bandwidth_gbps"] * 10 < tiers["intra_domain"]["bandwidth_gbps"]
    assert h["mape_pct"] < 5 and h["heldout_mape_pct"] is None and "inter_domain tier is measured at one node" in \
        h["heldout_note"]
    assert "intra_domain" in result.stdout and "inter_domain" in result.stdout


def test_the_crossover_names_the_boundary(gb300):
    runs = sorted(p for p in gb300.iterdir() if p.is_dir())
    result = commscale_here("crossover", *runs, "--workload", "mixtral-8x7b-ep", "--gpu-tflops", "2000",
                            "--gpus-per-node", "4", "--limit", "64", "--bootstrap", "100", "--out", gb300)
    assert result.returncode == 0, result.stderr
    res = json.loads((gb300 / "crossover.json").read_text())
    assert res["crossover_nodes"] == 19 and res["crossover_tier"] == "inter_domain"
    assert res["crossover_boundary"] == "beyond one domain (18 nodes)"
    assert {r["nnodes"]: r["tier"] for r in res["rows"]}[16] == "intra_domain"
    assert "beyond one domain (18 nodes), the inter_domain tier" in result.stdout


def test_import_domain_size_must_be_positive(tmp_path):
    result = commscale_here("import", "--format", "nccl-tests", SERIES / "n01.txt", "--domain-size", "0",
                            "--out", tmp_path / "x")
    assert result.returncode == 2 and "--domain-size 0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_pairwise_all_to_all_across_domains_uses_the_outer_rate():
    """Flat all-to-all: 1-4 nodes inside a domain at 50 GB/s, 8 and 16 nodes across at 5
    (two scales across: at one, a flat and a tier-by-tier outer tier fit alike)."""
    from reports.model.tiers import fit_tiers
    rows = []
    for nodes in (1, 2, 4, 8, 16):
        d = max(1, nodes // 4)
        for n in SIZES:
            t = family_time_us(PAIRWISE, nodes * 4, n, 3.0, 50.0 if d == 1 else 5.0)
            rows.append(_record(nodes, 4, d, min(nodes, 4), 4, n, t, collective="all_to_all"))
    (h,) = fit_tiers(pd.DataFrame(rows, columns=list(FIELDS)), samples=20)
    outer = h.tiers[-1]
    assert (outer.name, outer.scope) == ("inter_domain", "ranks")
    assert close(1e-3 / h.theta[-1], 5.0, 1e-6)
    # inside a domain pairwise's flat and tier-by-tier forms are the same function of the
    # node count (A(4m) = 3 + 4 A(m)), so only the prediction is asked for there
    assert float(h.predict(1 << 20, 4, 4)[0]) == pytest.approx(family_time_us(PAIRWISE, 16, 1 << 20, 3.0, 50.0))


def test_the_scale_figure_marks_the_tier_boundaries(gb300, tmp_path):
    from reports.present.figures import tier_boundaries
    from reports.runs.load import load_run
    runs = sorted(p for p in gb300.iterdir() if p.is_dir())
    df = pd.concat([load_run(r).assign(run=r.name) for r in runs])
    marks = tier_boundaries(df)  # x in ranks (each run is one node count): edges at 4 and 18 x 4 ranks
    assert [label for _, label in marks] == ["node boundary", "domain boundary (18 nodes)"]
    assert 4 < marks[0][0] < 5 and 72 < marks[1][0] < 73
    result = commscale_here("report", *runs, "--out", tmp_path / "rep")
    assert result.returncode == 0, result.stderr
    assert "busbw vs scale (dotted: node boundary; domain boundary (18 nodes))" in (tmp_path / "rep" / "report.md").read_text()

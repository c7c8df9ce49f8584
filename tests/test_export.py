"""`commscale export` (reports/exports/, benchmarks/cli/export.py): each target's file parses
back with the keys and shapes its reader takes (the readers' rules are quoted from their
repositories in docs/exports.md), and carries model.json's numbers with the units converted;
on a three-tier fit of records of known parameters, a one-node flat fit, hand-made model
entries for the rarer paths, and the CLI's one-line errors."""
import copy
import json
import math

import pytest
import yaml

from collectives.cost import RING_ALL_REDUCE, RING_GATHER
from collectives.records import RecordWriter, make_record
from conftest import commscale_here
from reports.exports import SIDE_SUFFIX, ExportError, export, read_model
from reports.exports.astra_sim import astra_sim
from reports.exports.calculon import calculon
from reports.exports.network import network
from reports.exports.simai import simai
from synthetic import family_time_us, flat_points, write_run

GIB = 1e9 / 2 ** 30  # commscale GB/s (1e9 B/s) -> ASTRA-sim's and SimAI's (2^30 B/s)
SIZES = [8 * 4 ** i for i in range(4, 14)]
TRUTH = {"intra_node": (2.0, 100.0), "intra_domain": (5.0, 20.0), "inter_domain": (9.0, 4.0)}  # alpha_us, GB/s
G, DOMAIN_NODES = 4, 4


def _record(nnodes, d, m, n, t, collective):
    return make_record(run_id="s", status="ok", collective=collective, backend="gloo", device="cpu",
                       fabric="x" if nnodes == 1 else "net", dtype="float32", size_bytes=int(n), count=int(n) // 4,
                       nranks=nnodes * G, nnodes=nnodes, ranks_per_node=G, ndomains=d, nodes_per_domain=m,
                       domain_size_nodes=DOMAIN_NODES, warmup=0, iters=5, time_us_mean=t, time_us_median=t,
                       time_us_min=t, time_us_max=t, time_us_p99=t, n_wrong=0, algbw_gbps=n / t * 1e-3,
                       busbw_gbps=n / t * 1e-3)


def _fit(run_dir):
    result = commscale_here("fit", run_dir, "--out", run_dir, "--bootstrap", "20")
    assert result.returncode == 0, result.stderr
    return run_dir


@pytest.fixture(scope="module")
def hier_run(tmp_path_factory):
    """all_reduce and all_gather over 1 to 16 nodes of 4 ranks in domains of 4 nodes, tier by
    tier (the times add), with TRUTH's parameters; fitted by `commscale fit`."""
    run = tmp_path_factory.mktemp("hier")
    with RecordWriter(run) as writer:
        for collective, family in (("all_reduce", RING_ALL_REDUCE), ("all_gather", RING_GATHER)):
            for nodes in (1, 2, 4, 8, 16):
                d, m = max(1, nodes // DOMAIN_NODES), min(nodes, DOMAIN_NODES)
                for n in SIZES:
                    t = family_time_us(family, G, n, *TRUTH["intra_node"])
                    t += family_time_us(family, m, n, *TRUTH["intra_domain"]) if nodes > 1 else 0.0
                    t += family_time_us(family, d, n, *TRUTH["inter_domain"]) if d > 1 else 0.0
                    writer.write(_record(nodes, d, m, n, t, collective))
    return _fit(run)


@pytest.fixture(scope="module")
def flat_run(tmp_path_factory):
    """One node: a ring all-reduce at 2 and 4 ranks, alpha 5 us, 2 GB/s; only flat fits."""
    return _fit(write_run(tmp_path_factory.mktemp("flat"), flat_points(RING_ALL_REDUCE, 5.0, 2.0, ranks=(2, 4))))


@pytest.fixture(scope="module")
def hier(hier_run):
    return read_model(hier_run)[0]


@pytest.fixture(scope="module")
def flat(flat_run):
    model = read_model(flat_run)[0]
    assert model["hierarchical"] == [] and model["fits"]
    return model


def _tiers(model, collective="all_reduce"):
    (entry,) = [e for e in model["hierarchical"] if e["collective"] == collective]
    return {t["name"]: t for t in entry["tiers"]}


def _close(a, b, rel=1e-7):
    return a is not None and math.isclose(a, b, rel_tol=rel)


# -- ASTRA-sim ---------------------------------------------------------------------------------

ASTRA_KEYS = {"topology", "npus_count", "bandwidth", "latency"}


def check_astra(doc: dict) -> int:
    """What astra-network-analytical's NetworkParser takes: the four keys, lists of one
    length, topologies it knows, npus_count > 1, bandwidth > 0, latency >= 0."""
    assert set(doc) == ASTRA_KEYS, doc
    dims = len(doc["topology"])
    assert dims >= 1 and all(len(doc[k]) == dims for k in ASTRA_KEYS)
    assert all(t in ("Ring", "Switch", "FullyConnected") for t in doc["topology"])
    assert all(isinstance(n, int) and n > 1 for n in doc["npus_count"])
    assert all(isinstance(b, float) and b > 0 for b in doc["bandwidth"])
    assert all(isinstance(x, float) and x >= 0 for x in doc["latency"])
    return dims


def astra_time_us(doc: dict, n: float) -> float:
    """An all-reduce as ASTRA-sim runs it over Ring dimensions (its baseline multi-dimensional
    collective, reimplemented here): a reduce-scatter on each dimension inward-out, each
    leaving 1 / its members of the buffer, then all-gathers back: per dimension a ring
    all-reduce of the buffer it holds, 2(q-1) hops of latency and 2(q-1)/q of the bytes."""
    t, chunk = 0.0, n
    for q, bw, lat_ns in zip(doc["npus_count"], doc["bandwidth"], doc["latency"]):
        t += 2 * (q - 1) * lat_ns / 1000 + 2 * (q - 1) / q * chunk / (bw / GIB * 1e3)
        chunk /= q
    return t


def test_astra_sim_carries_each_tier_with_units_converted(hier):
    made = astra_sim(hier)
    doc = yaml.safe_load(made.text)
    assert check_astra(doc) == 3 and doc["topology"] == ["Ring"] * 3
    assert doc["npus_count"] == [G, DOMAIN_NODES, 16 // DOMAIN_NODES]  # the largest measured: 16 nodes
    tiers = _tiers(hier)
    inner = 1  # ASTRA-sim's dimension k carries 1 / (the members inside it) of the buffer
    for i, name in enumerate(("intra_node", "intra_domain", "inter_domain")):
        assert _close(doc["bandwidth"][i], tiers[name]["bandwidth_gbps"] / inner * GIB), name
        assert _close(doc["latency"][i], tiers[name]["alpha_us"] * 1000), name
        alpha, bw = TRUTH[name]  # and the numbers are the ones the records were made with
        assert _close(doc["bandwidth"][i], bw / inner * GIB, 1e-6) and _close(doc["latency"][i], alpha * 1000, 1e-6)
        inner *= doc["npus_count"][i]
    # ASTRA-sim's all-reduce, dimension by dimension, takes the time the records were made with
    for n in (1 << 16, 1 << 30):
        want = sum(family_time_us(RING_ALL_REDUCE, 4, n, *TRUTH[name]) for name in TRUTH)
        assert astra_time_us(doc, n) == pytest.approx(want, rel=1e-6)
    side = made.side
    assert side["source"] == "hierarchical" and side["nodes"] == 16 and side["notes"] == []
    dim = side["dimensions"][2]
    assert dim["name"] == "inter_domain" and dim["exported"]["bandwidth_ci"] == pytest.approx(
        [v / 16 * GIB for v in tiers["inter_domain"]["bandwidth_gbps_ci"]])
    assert dim["exported"]["latency_ns_ci"] == pytest.approx([v * 1000 for v in tiers["inter_domain"]["alpha_us_ci"]])
    assert "# dim 2 inter_domain: 4 npus, alpha 9 us" in made.text and "(2^30 B/s)" in made.text


@pytest.mark.parametrize("nodes, npus, note", [
    (1, [4], "intra_domain left out"),
    (2, [4, 2], "inter_domain left out"),
    (8, [4, 4, 2], None),
    (5, [4, 3, 2], "5 nodes are exported as 2 domains of 3 nodes (6 nodes)"),
    (32, [4, 4, 8], "32 nodes extrapolate past the largest node count measured (16)"),
])
def test_nodes_set_the_dimensions(hier, nodes, npus, note):
    made = astra_sim(hier, nodes=nodes)
    doc = yaml.safe_load(made.text)
    check_astra(doc)
    assert doc["npus_count"] == npus
    assert doc["latency"][0] == pytest.approx(2000, rel=1e-6)
    if note:
        assert any(note in n for n in made.side["notes"]) and f"# note: {note}" in made.text
    else:
        assert made.side["notes"] == []


# -- SimAI -------------------------------------------------------------------------------------

def read_simai(text: str) -> dict:
    """SimAI's own reading (UserParam::parseYaml, AstraParamParse.hh @ 2bdecdd): the first
    line skipped, spaces trimmed, '#' lines skipped, 'X:' a section, 'key,: value' with
    the key cut at the comma and 'null' left out."""
    table, section = {}, None
    for line in text.split("\n")[1:]:
        line = line.strip(" ")
        if not line or line.startswith("#"):
            continue
        if line.endswith(":"):
            section = line[:-1]
            table[section] = {}
            continue
        key, _, value = line.partition(":")
        value = value.split()[0]
        if value != "null":
            table[section][key.strip().split(",")[0]] = float(value)
    return table


def test_simai_busbw_per_group_and_collective(hier):
    made = simai(hier)
    table = read_simai(made.text)
    assert list(table) == ["TP", "DP", "EP", "PP"] and list(table["PP"]) == ["busbw"]
    parsed = yaml.safe_load(made.text)  # the first line is a comment, so it is YAML as a whole
    assert set(parsed["TP"]) == {"allreduce,", "allgather,", "reducescatter,", "alltoall,"}
    assert parsed["TP"]["reducescatter,"] is None and parsed["EP"]["alltoall,"] is None  # not measured
    # DP: the busbw of all 64 ranks at large sizes, from the records' truth: 2(63)/64 over the
    # three tiers' B(4) / bw added (ring: 1.5 / 100 + 1.5 / 20 + 1.5 / 4), 4.234 GB/s
    group = 2 * 63 / 64 / sum(RING_ALL_REDUCE.data(4) / bw for _, bw in TRUTH.values())
    assert group == pytest.approx(4.2339, rel=1e-4)
    for coll in ("all_reduce", "all_gather"):
        tiers, name = _tiers(hier, coll), coll.replace("_", "")
        assert _close(table["TP"][name], tiers["intra_node"]["bandwidth_gbps"] * GIB)  # ring: busbw = 1/beta
        assert _close(table["DP"][name], group * GIB, 1e-6)  # all_gather: 63/64 over 0.75 / bw: the same
        assert table["EP"][name] == table["DP"][name] and parsed["TP"][f"{name},"] == pytest.approx(table["TP"][name])
    assert _close(table["PP"]["busbw"], group / G * GIB, 1e-6)  # one NIC of 4 per GPU assumed
    assert "no sendrecv fit" in made.side["sources"]["PP.busbw"]["from"]
    assert made.side["sources"]["TP.allgather"]["from"] == "all_gather intra_node"
    assert not any(line.startswith(("TP:", "DP:")) and "#" in line for line in made.text.splitlines())


# -- Calculon ----------------------------------------------------------------------------------

CALCULON_KEYS = {"bandwidth", "efficiency", "size", "latency", "ops", "must_be_filled", "processor_usage"}
CALCULON_OPS = {"p2p", "reduce_scatter", "all_gather", "all_reduce"}


def check_calculon(doc: dict) -> list:
    """What calculon/network.py's Network asserts of each entry."""
    assert set(doc) == {"networks"} and doc["networks"]
    for net in doc["networks"]:
        assert set(net) == CALCULON_KEYS and set(net["ops"]) == CALCULON_OPS
        assert net["bandwidth"] > 0 and 0 < net["efficiency"] <= 1 and net["size"] >= 0
        assert 0 <= net["processor_usage"] < 1 and isinstance(net["must_be_filled"], bool)
        for op, (scalar, offset) in net["ops"].items():
            assert scalar > 0 and ((offset is None) == (op == "p2p")), (op, scalar, offset)
    return doc["networks"]


def calculon_time(net: dict, op: str, size: float, comm: int) -> float:
    """calculon/network.py's Network.time, in seconds."""
    scalar, offset = net["ops"][op]
    size *= scalar
    size += size / comm * (offset or 0)
    return net["latency"] + size / (net["bandwidth"] * 1e9 * net["efficiency"])


def test_calculon_networks_reproduce_the_tier_times(hier):
    networks = check_calculon(json.loads(calculon(hier).text))
    assert [n["size"] for n in networks] == [4, 16, 64]
    assert [n["must_be_filled"] for n in networks] == [True, True, False]
    names = list(TRUTH)  # intra_node, intra_domain, inter_domain: 4 members each
    for k, net in enumerate(networks):
        assert net["efficiency"] == 1.0 and net["processor_usage"] == 0.0 and net["ops"]["all_reduce"] == [2.0, -1]
        assert net["ops"]["all_gather"][0] == pytest.approx(1.0, rel=1e-6)  # all_gather's busbw is the same here
        # an all-reduce over all the network's ranks takes what the records were made with: the tiers added
        for n in (1 << 16, 1 << 30):
            want = sum(family_time_us(RING_ALL_REDUCE, 4, n, *TRUTH[name]) for name in names[:k + 1]) * 1e-6
            assert calculon_time(net, "all_reduce", n, net["size"]) == pytest.approx(want, rel=1e-6)
    assert networks[0]["bandwidth"] == pytest.approx(100.0, rel=1e-6)
    assert networks[2]["bandwidth"] == pytest.approx(4.2339, rel=1e-4)
    assert networks[2]["latency"] == pytest.approx((2 + 5 + 9) * 6 * 1e-6, rel=1e-6)


# -- one node: the flat fit --------------------------------------------------------------------

def test_one_node_exports_one_dimension_from_the_flat_fit(flat):
    (entry,) = [e for e in flat["fits"] if e["regime"] == e["regimes"]]
    astra = astra_sim(flat)
    doc = yaml.safe_load(astra.text)
    assert check_astra(doc) == 1 and doc["npus_count"] == [4]
    assert _close(doc["bandwidth"][0], entry["bandwidth_gbps"] * GIB) and _close(doc["bandwidth"][0], 2.0 * GIB, 1e-6)
    assert _close(doc["latency"][0], entry["alpha_us"] * 1000) and _close(doc["latency"][0], 5000.0, 1e-6)
    assert astra.side["source"] == "flat" and "flat fit" in astra.side["notes"][0] and "# note: one dimension" in \
        astra.text
    table = read_simai(simai(flat).text)
    assert all(_close(table[g]["allreduce"], entry["busbw_asymptote_gbps"] * GIB) for g in ("TP", "DP", "EP"))
    assert "allgather" not in table["TP"]
    (net,) = check_calculon(json.loads(calculon(flat).text))
    assert net["size"] == 4 and net["must_be_filled"] is False
    assert _close(net["bandwidth"], entry["busbw_asymptote_gbps"])
    assert _close(net["latency"], entry["alpha_us"] * RING_ALL_REDUCE.steps(4) * 1e-6)
    with pytest.raises(ExportError, match="--nodes 2 needs a fit across nodes"):
        astra_sim(flat, nodes=2)


# -- hand-made entries: flat tiers, other families, sendrecv, gaps ------------------------------

def _tier(name, alpha, bw, scales_with, nnodes):
    return {"name": name, "scales_with": scales_with, "fabric": "f", "alpha_us": alpha, "alpha_us_ci": [alpha, alpha],
            "bandwidth_gbps": bw, "bandwidth_gbps_ci": [bw * 0.9, None], "nnodes": nnodes, "nranks": [], "points": 9}


def _hier_entry(collective, family, tiers, backend="nccl"):
    return {"collective": collective, "backend": backend, "device": "cuda", "dtype": "bfloat16", "timing": "call",
            "family": family, "ranks_per_node": 8, "domain_size_nodes": None, "size_bytes_min": 1,
            "size_bytes_max": 2, "tiers": tiers, "nnodes": [1, 2, 4], "points": 30}


def _model():
    inner, outer = _tier("intra_node", 3.0, 300.0, None, [1]), _tier("inter_node", 20.0, 40.0, "ranks", [2, 4])
    return {"schema_version": 1, "fits": [], "hierarchical": [
        _hier_entry("all_reduce", "recursive_doubling", [inner, outer]),
        _hier_entry("sendrecv", "point_to_point",
                    [copy.deepcopy(inner), _tier("inter_node", 10.0, 45.0, "nodes", [2])]),
    ]}


def test_a_flat_tier_spans_every_rank_and_busbw_follows_the_family():
    model = _model()
    outer = network(model).dims[-1]
    assert (outer.name, outer.npus, outer.q, outer.scales_with) == ("inter_node", 4, 32, "ranks")
    # recursive doubling moves lg p x n; busbw counts 2(p-1)/p x n
    assert outer.busbw_gbps == pytest.approx(40.0 * (2 * 31 / 32) / 5) and outer.busbw_gbps_ci[1] is None
    # a flat tier's one ring over all 32 ranks: the node's tier adds nothing to the group's busbw
    assert outer.group_busbw_gbps == pytest.approx(outer.busbw_gbps) and outer.group_busbw_gbps_ci[1] is None
    (_, net) = check_calculon(json.loads(calculon(model).text))
    assert net["size"] == 32 and net["latency"] == pytest.approx(20.0 * 5 * 1e-6)  # lg 32 steps
    assert net["ops"]["p2p"][0] == pytest.approx(outer.busbw_gbps / 45.0)  # sendrecv's own rate, one pair
    # ASTRA-sim: what the flat tier's time leaves after the node's dimension (1.75 / 175 GB/s of the buffer)
    doc = yaml.safe_load(astra_sim(model).text)
    assert astra_time_us(doc, 1 << 30) == pytest.approx(3.0 * 3 + 20.0 * 5 + 5 / 40.0 * (1 << 30) / 1e3, rel=1e-3)
    table = read_simai(simai(model).text)
    assert table["PP"]["busbw"] == pytest.approx(45.0 * GIB)
    assert table["TP"]["allreduce"] == pytest.approx(300.0 * (2 * 7 / 8) / 3 * GIB)


def test_gaps_in_the_model_are_one_line_errors_or_notes():
    model = _model()
    model["hierarchical"][0]["tiers"][0]["alpha_us"] = None
    made = astra_sim(model)
    assert yaml.safe_load(made.text)["latency"][0] == 0.0 and any("alpha not fitted" in n for n in made.side["notes"])
    model["hierarchical"][0]["tiers"][1]["bandwidth_gbps"] = None
    with pytest.raises(ExportError, match="no finite bandwidth"):
        astra_sim(model)
    two = _model()
    two["hierarchical"].append({**copy.deepcopy(two["hierarchical"][0]), "backend": "gloo"})
    with pytest.raises(ExportError, match=r"gloo/bfloat16, nccl/bfloat16 \(backend/dtype\): choose one"):
        calculon(two)
    assert network(two, backend="gloo").backend == "gloo"
    with pytest.raises(ExportError, match="has no fit of 'all_to_all': choose --collective from all_reduce, sendrecv"):
        export(two, "simai", "all_to_all")
    with pytest.raises(ExportError, match="has no inter_node tier, which 4 nodes of 8 ranks cross"):
        network({**two, "hierarchical": [{**two["hierarchical"][-1], "tiers": two["hierarchical"][-1]["tiers"][:1]}]})
    with pytest.raises(ExportError, match="with --backend mpi: choose from gloo/bfloat16, nccl/bfloat16"):
        network(two, backend="mpi")


# -- the command line --------------------------------------------------------------------------

def test_the_verb_writes_the_file_and_its_side_file(hier_run, tmp_path):
    out = tmp_path / "net.yml"
    result = commscale_here("export", hier_run, "--to", "astra-sim", "--out", out, "--nodes", "8")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(out.read_text())["npus_count"] == [4, 4, 2]
    side = json.loads((tmp_path / ("net.yml" + SIDE_SUFFIX)).read_text())
    assert side["model"] == str(hier_run / "model.json") and side["target"] == "astra-sim"
    assert f"# wrote {out}\n# wrote {out}{SIDE_SUFFIX}" in result.stdout
    again = commscale_here("export", hier_run, "--to", "astra-sim", "--out", out, "--nodes", "8")
    assert again.returncode == 2 and "exists: add --force to replace it" in again.stderr
    assert commscale_here("export", hier_run, "--to", "astra-sim", "--out", out, "--force").returncode == 0


@pytest.mark.parametrize("args, message", [
    (["{empty}", "--to", "simai"], "holds no model.json: run 'commscale fit {empty}' first"),
    (["{flat}", "--to", "booksim"], "argument --to: invalid choice: 'booksim'"),
    (["{flat}"], "the following arguments are required: --to"),
    (["{flat}", "--to", "calculon", "--collective", "all_gather"], "has no fit of 'all_gather'"),
    (["{flat}", "--to", "calculon", "--collective", "allreduce"], "unknown collective 'allreduce'"),
    (["{flat}", "--to", "astra-sim", "--nodes", "4"], "--nodes 4 needs a fit across nodes"),
    (["{flat}", "--to", "astra-sim", "--nodes", "0"], "--nodes 0 must be at least 1"),
    (["{flat}", "--to", "astra-sim", "--dtype", "float64"], "choose from gloo/float32"),
    (["{bad}", "--to", "simai"], "is not a readable model.json"),
])
def test_bad_input_gets_one_line_and_status_2(args, message, flat_run, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text("{not json")
    where = {"empty": tmp_path / "empty", "flat": flat_run, "bad": tmp_path / "bad.json"}
    args = [a.format(**where) for a in args]
    result = commscale_here("export", *args, "--out", tmp_path / "out.txt")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("commscale: error: "), result.stderr
    assert message.format(**where) in lines[0] and "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out.txt").exists()


def test_real_logs_group_busbw_matches_what_nccl_tests_measured(tmp_path):
    """Real nccl-tests logs others published (tests/fixtures/real: an H100 cluster, 8 GPUs a
    node, NCCL 2.29.2, all_reduce at 1 and 10 nodes): the DP busbw exported for all 80 ranks
    is the measured busbw at the largest size, within 3%."""
    from pathlib import Path
    real = Path(__file__).resolve().parent / "fixtures" / "real" / "series" / "nccl-xxrjun-h100-allreduce"
    imp = commscale_here("import", real / "n01.txt", real / "n10.txt", "--format", "nccl-tests", "--out", tmp_path / "r")
    assert imp.returncode == 0, imp.stderr
    runs = sorted((tmp_path / "r").iterdir())
    fit = commscale_here("fit", *runs, "--out", tmp_path / "m", "--bootstrap", "50")
    assert fit.returncode == 0, fit.stderr
    model = read_model(tmp_path / "m")[0]
    dp = read_simai(simai(model).text)["DP"]["allreduce"] / GIB
    top = [json.loads(line) for line in (runs[-1] / "records.jsonl").read_text().splitlines()]
    largest = max(r["size_bytes"] for r in top)
    measured = [r["busbw_gbps"] for r in top if r["size_bytes"] == largest]
    assert len(measured) == 2 and all(abs(dp / m - 1) < 0.03 for m in measured), (dp, measured)
    (inner, outer) = check_calculon(json.loads(calculon(model).text))
    assert outer["size"] == 80 and outer["bandwidth"] == pytest.approx(dp)

"""`commscale normal`: a run placed among comparable published runs (reports/reference/).

The acceptance case is real: the 10-node H100 all_reduce log of xxrjun/nccl-tests-cluster
(tests/fixtures/real/series/nccl-xxrjun-h100-allreduce/n10.txt; the same run is one of the
five in multi-collective_80xH100_10nodes_...txt), imported, with both copies held out of a
reference set built from every other published log. The unit tests of matching use
hand-made entries (said so in their names: `_made`)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.reference_set import LOGS, MANIFEST, document
from conftest import commscale_here
from reports.reference.build import build
from reports.reference.devices import classify
from reports.reference.entries import DATA, Entry, load
from reports.reference.match import LEVELS, MIN_COMPARABLE, RunKey, place

H100_10 = "series/nccl-xxrjun-h100-allreduce/n10.txt"
H100_10_TWIN = "multi-collective_80xH100_10nodes_several-runs-double-reducing-maxBytes__xxrjun-nccl-tests-cluster.txt"


@pytest.mark.parametrize("name, memory, generation", [
    ("NVIDIA H100 80GB HBM3", "device", "Hopper"), ("NVIDIA H200", "device", "Hopper"),
    ("NVIDIA GH200 120GB", "device", "Hopper"), ("NVIDIA A100-SXM4-40GB", "device", "Ampere"),
    ("NVIDIA B200", "device", "Blackwell"), ("NVIDIA GB300", "device", "Blackwell Ultra"),
    ("AMD Instinct MI355X", "device", "CDNA 4"), ("AMD Instinct MI300X", "device", "CDNA 3"),
    ("Tesla V100-SXM2-32GB", "device", "Volta"), ("NVIDIA L40S", "device", "Ada Lovelace"),
    ("NVIDIA H100 80GB HBM3", "host", "CPU"), ("Some Future Accelerator", "device", None), (None, "device", None)])
def test_a_device_name_gives_its_generation(name, memory, generation):
    assert classify(name, memory).generation == generation


def _entry_made(i, busbw, *, nnodes=4, per_node=8, net="ib", gen="Hopper", coll="all_reduce", sizes=(2**20, 2**30)):
    """A hand-made entry: busbw flat over its sizes."""
    return Entry(id=f"made-{i}.txt#{coll}", url=f"https://github.com/x/y/blob/{'0' * 40}/made-{i}", publisher="x/y",
                 system=f"made {i}", device="made", vendor="NVIDIA", generation=gen, memory="device",
                 collective=coll, tool="nccl-tests", nranks=nnodes * per_node, nnodes=nnodes, gpus_per_node=per_node,
                 network=net, network_class=net, sizes_bytes=sizes, busbw_gbps=tuple(busbw for _ in sizes),
                 fingerprint=f"fp{i}")


def _key_made(busbw=100.0, *, nnodes=4, per_node=8, net="ib", gen="Hopper"):
    return RunKey(label="made key", collective="all_reduce", device=classify("NVIDIA H100", "device")
                  if gen == "Hopper" else classify("NVIDIA A100", "device"), memory="device",
                  nranks=nnodes * per_node, nnodes=nnodes, gpus_per_node=per_node, network_class=net,
                  sizes_bytes=(2**20, 2**30), busbw_gbps=(busbw / 2, busbw), fingerprint="mine")


def test_busbw_at_a_size_is_measured_or_interpolated_in_log_size_never_extrapolated():
    e = Entry(id="a#b", url="u/blob/c", publisher="p", system=None, device=None, vendor=None, generation=None,
              memory="device", collective="all_reduce", tool="t", nranks=8, nnodes=1, gpus_per_node=8, network=None,
              network_class="none", sizes_bytes=(1024, 4096), busbw_gbps=(10.0, 30.0))
    assert e.busbw_at(1024) == 10.0 and e.busbw_at(4096) == 30.0
    assert e.busbw_at(2048) == pytest.approx(20.0)  # halfway in log size
    assert e.busbw_at(512) is None and e.busbw_at(8192) is None


def test_an_exact_match_is_placed_with_its_percentile_and_nothing_relaxed():
    entries = [_entry_made(i, bw) for i, bw in enumerate((50, 80, 120, 150))]
    pl = place(_key_made(100.0), entries)
    assert pl.status == "placed" and pl.level == 0 and pl.relaxed == ()
    assert pl.size_bytes == 2**30 and pl.busbw_gbps == 100.0
    assert pl.below == 2 and pl.percentile == 50.0 and pl.values == [50, 80, 120, 150]


def test_relaxations_come_in_order_and_are_said():
    # two on the same network, two more on RoCE: level 1 (any network) has four
    entries = [_entry_made(0, 50), _entry_made(1, 60), _entry_made(2, 70, net="roce"), _entry_made(3, 90, net="roce")]
    pl = place(_key_made(), entries)
    assert pl.level == 1 and pl.relaxed == LEVELS[1:2] and len(pl.others) == 4
    far = [_entry_made(i, 50 + i, nnodes=64) for i in range(3)]  # 64 nodes: not within x2 of 4
    assert place(_key_made(), far).relaxed == LEVELS[1:3]
    four = [_entry_made(i, 50 + i, per_node=4) for i in range(3)]
    assert place(_key_made(), four).relaxed == LEVELS[1:4]


def test_generation_one_node_or_several_and_the_collective_are_never_relaxed():
    others = [_entry_made(i, 50, gen="Ampere") for i in range(5)] + \
        [_entry_made(10 + i, 50, nnodes=1, net="none") for i in range(5)] + \
        [_entry_made(20 + i, 50, coll="all_gather") for i in range(5)]
    assert place(_key_made(), others).status == "none"
    pl = place(_key_made(), others + [_entry_made(99, 40)])
    assert pl.status == "too_few" and len(pl.candidates) == 1


def test_the_run_itself_is_left_out_of_its_comparison():
    entries = [_entry_made(i, 50 + i) for i in range(3)] + [_entry_made(9, 100)]
    key = _key_made(100.0)
    pl = place(RunKey(**{**{f: getattr(key, f) for f in key.__slots__}, "fingerprint": "fp9"}), entries)
    assert pl.left_out_self == ("made-9.txt#all_reduce",) and len(pl.others) == 3 and pl.percentile == 100.0


def test_repeats_in_one_log_count_as_one_comparable_run():
    rep = [Entry(**{**{f: getattr(_entry_made(0, bw), f) for f in Entry.__slots__}, "id": f"same.txt#all_reduce-{i}",
                    "fingerprint": f"r{i}"}) for i, bw in enumerate((10, 20, 30))]
    pl = place(_key_made(), rep + [_entry_made(5, 40), _entry_made(6, 60)])
    assert [v for _, v in pl.others] == [20, 40, 60]  # the three repeats count once, at their median
    assert len(pl.others[0][0].entries) == 3
    assert place(_key_made(), rep + [_entry_made(5, 40)]).status == "too_few"


def test_a_run_published_twice_is_one_entry_and_a_held_out_log_is_not_read():
    manifest = [m for m in json.loads(MANIFEST.read_text()) if m["path"] in (H100_10, H100_10_TWIN)]
    manifest = [{**m, "exclude": None} for m in manifest]
    doc = build(manifest, LOGS)
    ids = [e["id"] for e in doc["entries"]]
    assert len([i for i in ids if i.endswith("#all_reduce")]) == 1
    assert any(w["why"].startswith("the same run as") for w in doc["left_out"])
    held = build(manifest, LOGS, leave_out=(H100_10, H100_10_TWIN))
    assert held["entries"] == [] and {w["why"] for w in held["left_out"]} == {"held out by the caller"}


def test_the_shipped_reference_set_is_what_the_manifest_builds():
    assert (DATA.read_text(encoding="utf-8") == json.dumps(document(), indent=1) + "\n"), \
        "reports/reference/data/published.json is stale: run python -m benchmarks.reference_set"
    ref = load()
    assert len({e.fingerprint for e in ref.entries}) == len(ref.entries)
    assert all("/blob/" in e.url and e.nranks >= 2 and e.nnodes >= 1 and e.busbw_gbps for e in ref.entries)


def test_every_manifest_url_is_a_source_named_in_a_sources_file():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in LOGS.rglob("SOURCES*.md"))
    manifest = json.loads(MANIFEST.read_text())
    missing = [m["path"] for m in manifest if m["url"] not in sources]
    assert not missing, missing
    fixtures = {str(p.relative_to(LOGS)) for p in LOGS.rglob("*.txt") if p.parent.name != "slurm_topology"}
    assert {m["path"] for m in manifest} == fixtures, "every real benchmark log has one manifest entry"


@pytest.fixture(scope="module")
def held_out_set(tmp_path_factory):
    """The reference set without the 10-node H100 all_reduce run (both published copies)."""
    path = tmp_path_factory.mktemp("ref") / "published.json"
    path.write_text(json.dumps(document(leave_out=(H100_10, H100_10_TWIN)), indent=1))
    return path


def _imported(tmp_path, name, *flags):
    out = tmp_path / Path(name).stem
    r = commscale_here("import", LOGS / name, "--format", "nccl-tests", "--out", out, *flags)
    assert r.returncode == 0, r.stderr
    return out


def test_the_10_node_h100_all_reduce_is_placed_among_comparable_h100_runs(tmp_path, held_out_set):
    run = _imported(tmp_path, H100_10)
    r = commscale_here("normal", run, "--reference", held_out_set)
    assert r.returncode == 0, r.stderr
    head = next(line for line in r.stdout.splitlines() if line.startswith("all_reduce at 80 ranks on 10 nodes"))
    assert "percentile of" in head and "comparable published runs" in head
    ref = load(held_out_set)
    assert not [e for e in ref.entries if "xxrjun" in e.publisher and e.nnodes == 10 and e.collective == "all_reduce"]
    from reports.reference.facts import run_keys
    from reports.runs.load import load_run
    key = run_keys(load_run(run), json.loads((run / "meta.json").read_text()))[0]
    pl = place(key, ref.entries)
    assert pl.status == "placed" and len(pl.others) >= MIN_COMPARABLE
    assert {c.first.generation for c, _ in pl.others} == {"Hopper"}
    assert {c.first.gpus_per_node for c, _ in pl.others} == {8}  # H100 8-GPU nodes: GPUs per node not relaxed
    assert all(c.first.nnodes > 1 for c, _ in pl.others)
    assert f" {pl.percentile:.0f}" in head and f"(above {pl.below} of {len(pl.others)})" in head
    for c, v in pl.others:  # each named with its source
        assert c.first.url in r.stdout
    print(head)


def test_with_the_shipped_set_the_run_itself_is_found_and_left_out(tmp_path):
    run = _imported(tmp_path, H100_10)
    r = commscale_here("normal", run)
    assert r.returncode == 0, r.stderr
    assert "this run is itself in the reference set" in r.stdout and H100_10_TWIN in r.stdout


def test_a_run_with_no_comparable_entries_says_so_in_one_line(tmp_path):
    # The one MI210 run published (AMD CDNA 2, 2 nodes): left out as itself, nothing else is comparable
    run = _imported(tmp_path, "all_reduce_16xMI210_2nodes_rccl-tests-version-lines__mhilgema-amd-proj.txt")
    r = commscale_here("normal", run)
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stdout.splitlines() if line.startswith("all_reduce at 16 ranks")]
    assert said == ["all_reduce at 16 ranks on 2 nodes: no comparable published run: the reference set holds no "
                    "all_reduce on CDNA 2 across nodes"]


def test_a_gpu_log_that_names_no_gpu_asks_for_device_and_is_matched_with_it(tmp_path):
    # OSU with -d cuda on CSCS Clariden (SOURCES_heldout3.md): the log names no GPU model
    name = "osu_alltoall_heldout3-02_cuda-srun-prompt__eth-cscs-cray-network-stack.txt"
    out = tmp_path / "osu"
    assert commscale_here("import", LOGS / name, "--format", "osu", "--out", out).returncode == 0
    r = commscale_here("normal", out)
    assert "all_to_all at 8 ranks on 2 nodes: no comparable published run: the GPU model is not recorded: name it " \
           "with --device (e.g. --device H100)" in r.stdout
    r = commscale_here("normal", out, "--device", "NVIDIA GH200 120GB")
    assert "on Hopper across nodes" in r.stdout and "GPU model is not recorded" not in r.stdout


@pytest.mark.parametrize("args, words", [
    (("normal", "no-such-run"), "holds no records.jsonl"),
    (("normal", "{run}", "--reference", "no-such.json"), "--reference 'no-such.json' is not a file"),
    (("normal", "{run}", "--network", "carrier-pigeon"), "invalid choice"),
    (("normal", "{run}", "--collective", "gather"), "has no ok record of gather"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, args, words):
    run = _imported(tmp_path, H100_10)
    r = commscale_here(*(a.format(run=run) for a in args))
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_the_report_has_the_section_and_its_figure(tmp_path):
    run = _imported(tmp_path, H100_10)
    out = tmp_path / "report"
    r = commscale_here("report", run, "--out", out)
    assert r.returncode == 0, r.stderr
    md = (out / "report.md").read_text()
    assert "## Is this normal? Published runs compared" in md
    assert "all_reduce at 80 ranks on 10 nodes: busbw" in md and "percentile" in md
    figs = list((out / "figures").glob("normal_*all_reduce_80.png"))
    assert len(figs) == 1 and figs[0].stat().st_size > 10_000


@pytest.mark.slow  # reads the session's real gloo dry run
def test_the_cpu_dry_run_gets_one_line_per_key_and_a_section_in_its_report(default_dryrun):
    out, result = default_dryrun
    assert result.returncode == 0, result.stderr
    r = commscale_here("normal", out)
    assert r.returncode == 0, r.stderr
    answers = [line for line in r.stdout.splitlines() if not line.startswith(("#", "  "))]  # "  ": details
    assert len(answers) == 14 and all(" ranks on 1 node: " in a for a in answers)  # 7 collectives x 2, 4 ranks
    assert all("no comparable published run" in a or "too few comparable published runs" in a for a in answers)
    md = next(out.glob("report*/report.md"), None) or next(out.rglob("report.md"))
    text = md.read_text()
    assert "## Is this normal? Published runs compared" in text
    assert "No comparable published run for all_gather at 2, 4 ranks" in text

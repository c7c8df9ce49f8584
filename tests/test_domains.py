"""Domains (collectives/domains.py, benchmarks/host/domains.py): where each host's
NVLink domain or rack comes from, the layouts that isolate each tier, and what the records
and meta.json say. The multi-node groups are planned from host lists; the emulated racks
(tests/test_emulate_racks.py) and the real Slurm topology (tests/test_slurm_topology.py)
run them for real."""
import json
import sys
import types

import pytest

from benchmarks.errors import UsageError
from benchmarks.host.domains import resolve
from benchmarks.sweep.plan import plan_groups
from collectives.domains import DomainError, by_size, for_node_count, group_domains, read_domain_file, tier_of
from conftest import commscale, commscale_here, local_run

HOSTS = [f"node{i}" for i in range(8) for _ in range(2)]  # 8 nodes of 2 ranks, rank order
RACKS = {f"node{i}": f"rack{i // 4}" for i in range(8)}


def test_domain_size_fills_domains_in_launch_order():
    d = by_size(HOSTS, 3)
    assert [d.host_domain[f"node{i}"] for i in range(8)] == ["domain0"] * 3 + ["domain1"] * 3 + ["domain2"] * 2
    assert d.domain_size_nodes == 3 and d.source == "--domain-size 3"
    assert d.group(["node0", "node1", "node2", "node3"]) == (2, None)  # 3 + 1: uneven
    assert d.group(["node0", "node3"]) == (2, 1)
    assert group_domains(["a", None]) == (None, None)
    assert for_node_count(32, 18) == (2, None) and for_node_count(36, 18) == (2, 18) and for_node_count(4, 18) == (1, 4)
    assert [tier_of(1, None), tier_of(2, None), tier_of(2, 1), tier_of(8, 2)] == [
        "intra_node", "inter_node", "intra_domain", "inter_domain"]


def test_domain_file_names_each_host(tmp_path):
    f = tmp_path / "domains.txt"
    f.write_text("# rack map\nnode0 r1\nnode1 r1  # same rack\n\nnode2 r2\n")
    d = read_domain_file(f, ["node0", "node1", "node2"])
    assert d.host_domain == {"node0": "r1", "node1": "r1", "node2": "r2"} and d.domain_size_nodes is None
    with pytest.raises(DomainError, match=r"no domain for host\(s\) node3: add a line"):
        read_domain_file(f, ["node0", "node3"])
    f.write_text("node0 r1 extra\n")
    with pytest.raises(DomainError, match="line 1 .* is not 'host domain'"):
        read_domain_file(f, ["node0"])


def test_the_domain_layouts_isolate_each_tier():
    plans = plan_groups(HOSTS, None, None, ("intra", "intra-domain", "inter-domain", "full"), RACKS)
    shape = [(p.ranks, p.nnodes, p.ranks_per_node, p.ndomains, p.nodes_per_domain) for p in plans]
    assert shape[:4] == [((0, 1), 1, 2, 1, 1),  # intra: inside node0
                         ((0, 2), 2, 1, 1, 2), ((0, 2, 4, 6), 4, 1, 1, 4),  # intra-domain: one rank per node of rack0
                         ((0, 8), 2, 1, 2, 1)]  # inter-domain: one rank per rack
    assert shape[-1] == (tuple(range(16)), 8, 2, 2, 4)
    # --nodes serves every layout: counts past a layout's reach are left to the others
    plans = plan_groups(HOSTS, None, (2, 8), ("inter-domain", "full"), RACKS)
    assert [(p.ranks, p.ndomains) for p in plans] == [((0, 8), 2), (tuple(range(4)), 1), (tuple(range(16)), 2)]


def test_domain_layouts_without_domains_say_how_to_give_them():
    with pytest.raises(UsageError, match="--layout intra-domain needs the domains.*--domain-size N"):
        plan_groups(HOSTS, None, None, ("full", "intra-domain"), None)
    assert all(p.ndomains is None for p in plan_groups(HOSTS, None, None, ("full",), None))


def test_flags_win_then_each_ranks_view_then_slurm(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    hosts = ["a", "a", "b", "b"]
    views = [("rackX", None), ("rackX", None), ("rackY", None), ("rackY", None)]
    found, meta = resolve(1, None, hosts, views)
    assert found.source == "--domain-size 1" and found.host_domain == {"a": "domain0", "b": "domain1"}
    found, meta = resolve(None, None, hosts, views)
    assert (found.source, found.host_domain) == ("COMMSCALE_DOMAIN_NAME", {"a": "rackX", "b": "rackY"})
    assert meta["domain_hosts"] == {"rackX": ["a"], "rackY": ["b"]}
    nvml = [(None, "uuid/7"), (None, "uuid/7"), (None, "uuid/8"), (None, "uuid/8")]
    found, meta = resolve(None, None, hosts, nvml)
    assert found.source == "nvml" and found.host_domain == {"a": "uuid/7", "b": "uuid/8"}
    assert "not set on every rank" in meta["tried"]["COMMSCALE_DOMAIN_NAME"]
    found, meta = resolve(None, None, hosts, [(None, None)] * 4)  # two ranks of a host disagreeing count as none
    assert found is None and meta["source"] is None and meta["tried"]["slurm topology"] == "not a Slurm job"
    assert "--domain-size N" in meta["note"]
    with pytest.raises(UsageError, match="--domain-file .* no domain for host"):
        (tmp_path / "f").write_text("a r1\n")
        resolve(None, str(tmp_path / "f"), hosts, views)


@pytest.mark.parametrize("flags, message", [
    (["--domain-size", "0"], "--domain-size 0: a domain holds at least one node"),
    (["--domain-size", "x"], "--domain-size 'x' is not a whole number"),
    (["--domain-size", "2", "--domain-file", "f"], "--domain-size and --domain-file both given"),
    (["--domain-file", "/nonexistent/f"], "--domain-file /nonexistent/f: no such file"),
    pytest.param(["--layout", "intra-domain"], "--layout intra-domain needs the domains", marks=pytest.mark.slow),
])
def test_bad_domain_flags_are_one_line_errors(tmp_path, flags, message):
    """Checked before any rank starts (in this process), or, for the layout, by the ranks
    once they know their hosts (a real dry run)."""
    run = commscale if "--layout" in flags else commscale_here
    result = run("dryrun", "--nproc", "2", "--collectives", "all_reduce", "-b", "1K", "-e", "4K", "--ranks", "2",
                 *flags, "--out", tmp_path / "d")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_real_run_records_its_domains(tmp_path):
    """Two gloo ranks on this machine with --domain-size 1: meta.json says where the domains
    came from, every record carries the group's domain fields."""
    out = tmp_path / "d"
    result = local_run(2, "--backend", "gloo", "--collectives", "all_reduce", "-b", "1K", "-e", "4K", "--ranks", "2",
                       "-n", "2", "-w", "1", "--domain-size", "1", "--out", out)
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["domains"]["source"] == "--domain-size 1" and meta["domains"]["domain_size_nodes"] == 1
    assert meta["config"]["domain_size"] == 1
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert records and {(r["ndomains"], r["nodes_per_domain"], r["domain_size_nodes"]) for r in records} == {(1, 1, 1)}


class _FakeInfo:
    """Stands in for pynvml's c_nvmlGpuFabricInfo_t (no GPU here): a FAKE, labelled so."""
    def __init__(self):
        self.clusterUuid, self.status, self.cliqueId, self.state = bytes(16), 0, 0, 0


def _fake_pynvml(uuid: bytes, clique: int, state: int, supported=True):
    """A FAKE pynvml module, only for nvml_fabric_domain's unit test: the GPU it stands for
    cannot run here."""
    m = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass
    m.NVMLError = NVMLError
    m.nvmlInit = m.nvmlShutdown = lambda: None
    m.nvmlDeviceGetHandleByIndex = lambda i: i
    m.c_nvmlGpuFabricInfo_t = _FakeInfo

    def get(handle, ref):
        if not supported:
            raise NVMLError("Not Supported")
        info = ref._obj
        info.clusterUuid, info.cliqueId, info.state = uuid, clique, state
    m.nvmlDeviceGetGpuFabricInfo = get
    return m


def test_nvml_fabric_domain_names_cluster_and_clique(monkeypatch):
    from collectives import topology
    monkeypatch.setattr(topology.ctypes, "byref", lambda obj: types.SimpleNamespace(_obj=obj))
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(bytes.fromhex("ab" * 16), 5, 3))
    assert topology.nvml_fabric_domain(0) == ("ab" * 16 + "/5", None)
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(bytes(16), 0, 0))
    name, why = topology.nvml_fabric_domain(0)
    assert name is None and "not registered with an NVLink fabric" in why
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(bytes(16), 0, 0, supported=False))
    name, why = topology.nvml_fabric_domain(1)
    assert name is None and "GPU 1 reports no NVLink fabric" in why

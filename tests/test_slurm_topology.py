"""Slurm's topology as domains (benchmarks/host/slurm_topology.py): the hostlist syntax,
`scontrol show topology` output (published, captured from Slurm 22.05.8, and hand-made
text in HANDMADE_* strings), and the real thing: a 4-node Slurm (tests/slurm_cluster.py)
with topology/tree, asked from the login side and from inside a job step, and without a
topology. The real-Slurm tests skip, as the other Slurm tests do, where Slurm cannot run."""
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from benchmarks.host import slurm_topology
from benchmarks.host.slurm_topology import expand_hostlist, host_domains, parse_topology, read_slurm_domains
from conftest import REPO

REAL = Path(REPO) / "tests/fixtures/real/slurm_topology"
CRUSOE_BLOCKS = (REAL / "block_gb200-nvl72_10x18-nodes_prompt-line__crusoecloud-slurm.txt").read_text()
TREE_22_05 = (REAL / "tree_two-level_4nodes__slurm-22.05.8-captured-here.txt").read_text()
NONE_STDERR_22_05 = (REAL / "none_stderr__slurm-22.05.8-captured-here.txt").read_text()

TOPOLOGY_CONF = "SwitchName=s0 Nodes=n[1-2]\nSwitchName=s1 Nodes=n[3-4]\nSwitchName=top Switches=s[0-1]\n"
"""The topology.conf the tree cluster below runs with (and TREE_22_05 was captured from)."""
NODES = ["n1", "n2", "n3", "n4"]

HANDMADE_THREE_LEVELS = """\
SwitchName=core Level=2 LinkSpeed=1 Nodes=gpu[001-008] Switches=spine[1-2]
SwitchName=spine1 Level=1 LinkSpeed=1 Nodes=gpu[001-004] Switches=leaf[1-2]
SwitchName=leaf1 Level=0 LinkSpeed=1 Nodes=gpu[001-002]
SwitchName=leaf2 Level=0 LinkSpeed=1 Nodes=gpu[003-004]
SwitchName=spine2 Level=1 LinkSpeed=1 Nodes=gpu[005-008] Switches=leaf3
SwitchName=leaf3 Level=0 LinkSpeed=1 Nodes=gpu[005-008]
"""
"""Hand-made: 22.05's tree format, three levels, upper switches printed before their leaves."""

HANDMADE_OLD_TREE = """\
SwitchName=sp1 Level=1 LinkSpeed=1 Switches=le1,le2
SwitchName=le1 Level=0 LinkSpeed=1 Nodes=bm[053-054]
SwitchName=le2 Level=0 LinkSpeed=1 Nodes=bm[021-022],bm[039-040]
"""
"""Hand-made: the older tree format, where upper switches list only their switches."""

HANDMADE_AGGREGATED = """\
BlockName=gb_b0 BlockIndex=0 Nodes=10.1.0.1,10.1.0.2 BlockSize=2
BlockName=gb_b1 BlockIndex=1 Nodes=10.1.0.3,10.1.0.4 BlockSize=2
AggregatedBlock=gb_b[0-1] BlockIndex=2 Nodes=10.1.0.1,10.1.0.2,10.1.0.3,10.1.0.4 BlockSize=4
"""
"""Hand-made, in topology/block's format with aggregated blocks (Slurm 24.05+ source:
`%s=%s BlockIndex=%u` with AggregatedBlock or BlockName, ` Nodes=%s`, ` BlockSize=%u`)."""

HANDMADE_23_11_BLOCKS = "BlockName=b1 BlockIndex=0 Nodes=node[1-2]\nBlockName=b2 BlockIndex=1 Nodes=node[3-4]\n"
"""Hand-made, topology/block as 23.11 printed it (no BlockSize)."""


# --- the hostlist syntax -------------------------------------------------------------------
@pytest.mark.parametrize("text, hosts", [
    ("n[1-3,5]", ["n1", "n2", "n3", "n5"]),
    ("gpu[001-003]", ["gpu001", "gpu002", "gpu003"]),
    ("n[8-10]", ["n8", "n9", "n10"]),
    ("n[08-10]", ["n08", "n09", "n10"]),
    ("a1,b[1-2]", ["a1", "b1", "b2"]),
    ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
    ("rack[1-2]-gpu", ["rack1-gpu", "rack2-gpu"]),
    ("slurm-compute-node-[000-002]", ["slurm-compute-node-000", "slurm-compute-node-001", "slurm-compute-node-002"]),
    ("10.1.0.1,10.1.0.2", ["10.1.0.1", "10.1.0.2"]),
    ("single", ["single"]),
    ("", []),
])
def test_expand_hostlist(text, hosts):
    assert expand_hostlist(text) == hosts


@pytest.mark.parametrize("text", ["n[1-2", "n1-2]", "n[a-b]", "n[3-1]", "n[]", "n[1-]", "n[[1-2]]", "a,,b", "a b",
                                  "n[1-2]]"])
def test_a_bad_hostlist_raises_value_error(text):
    with pytest.raises(ValueError):
        expand_hostlist(text)


# --- scontrol show topology's text ---------------------------------------------------------
def test_the_published_block_topology_of_ten_nvl72_racks():
    entries = parse_topology(CRUSOE_BLOCKS)
    assert [e["name"] for e in entries] == [f"block{i:02d}" for i in range(1, 11)]  # the prompt line skipped
    assert {(e["kind"], e["level"]) for e in entries} == {("block", 0)}
    assert entries[0]["nodes"] == [f"slurm-compute-node-{i:03d}" for i in range(18)]
    assert entries[9]["nodes"][-1] == "slurm-compute-node-179" and all(e["switches"] == [] for e in entries)
    hosts = ["slurm-compute-node-017", "slurm-compute-node-018", "slurm-compute-node-179", "login-0"]
    assert host_domains(CRUSOE_BLOCKS, hosts) == {"slurm-compute-node-017": "block01",
                                                  "slurm-compute-node-018": "block02",
                                                  "slurm-compute-node-179": "block10"}


def test_slurm_22_05_tree_output_parses_and_the_leaf_switch_wins_over_the_top():
    assert parse_topology(TREE_22_05) == [
        {"name": "s0", "kind": "switch", "level": 0, "nodes": ["n1", "n2"], "switches": []},
        {"name": "s1", "kind": "switch", "level": 0, "nodes": ["n3", "n4"], "switches": []},
        {"name": "top", "kind": "switch", "level": 1, "nodes": NODES, "switches": ["s0", "s1"]},
    ]
    assert host_domains(TREE_22_05, NODES + ["n9"]) == {"n1": "s0", "n2": "s0", "n3": "s1", "n4": "s1"}


def test_three_levels_the_lowest_switch_listing_a_host_is_its_domain_whatever_the_order():
    levels = {e["name"]: e["level"] for e in parse_topology(HANDMADE_THREE_LEVELS)}
    assert levels == {"core": 2, "spine1": 1, "leaf1": 0, "leaf2": 0, "spine2": 1, "leaf3": 0}
    assert parse_topology(HANDMADE_THREE_LEVELS)[0]["switches"] == ["spine1", "spine2"]
    hosts = ["gpu001", "gpu004", "gpu005", "gpu008"]
    assert host_domains(HANDMADE_THREE_LEVELS, hosts) == {"gpu001": "leaf1", "gpu004": "leaf2", "gpu005": "leaf3",
                                                          "gpu008": "leaf3"}


def test_the_older_tree_format_without_nodes_on_upper_switches():
    entries = parse_topology(HANDMADE_OLD_TREE)
    assert entries[0] == {"name": "sp1", "kind": "switch", "level": 1, "nodes": [], "switches": ["le1", "le2"]}
    assert entries[2]["nodes"] == ["bm021", "bm022", "bm039", "bm040"]
    assert host_domains(HANDMADE_OLD_TREE, ["bm053", "bm040"]) == {"bm053": "le1", "bm040": "le2"}


def test_blocks_base_blocks_win_over_aggregated_ones():
    entries = parse_topology(HANDMADE_AGGREGATED)
    assert [(e["name"], e["kind"], e["level"]) for e in entries] == [
        ("gb_b0", "block", 0), ("gb_b1", "block", 0), ("gb_b[0-1]", "block", 1)]
    assert host_domains(HANDMADE_AGGREGATED, ["10.1.0.1", "10.1.0.4"]) == {"10.1.0.1": "gb_b0", "10.1.0.4": "gb_b1"}
    assert host_domains(HANDMADE_23_11_BLOCKS, ["node2", "node3"]) == {"node2": "b1", "node3": "b2"}


def test_a_host_given_with_its_domain_name_is_found_by_its_short_name():
    assert host_domains(TREE_22_05, ["n3.cluster.example", "n4"]) == {"n3.cluster.example": "s1", "n4": "s1"}


def test_no_entries_in_empty_or_unrelated_text():
    assert parse_topology("") == [] and parse_topology(NONE_STDERR_22_05) == []
    assert host_domains("", ["n1"]) == {}


@pytest.mark.parametrize("text", ["SwitchName=s0 Level=0 LinkSpeed=1 Nodes=n[1-2",
                                  "SwitchName=s0 Level=x LinkSpeed=1 Nodes=n1",
                                  "BlockName= BlockIndex=0 Nodes=n1"])
def test_unreadable_topology_text_raises_value_error(text):
    with pytest.raises(ValueError):
        parse_topology(text)


# --- read_slurm_domains with a stand-in scontrol ---------------------------------------------
def _fake_scontrol(tmp_path, stdout="", stderr="", status=0, sleep_s=0) -> dict:
    """An environment whose PATH holds only a `scontrol` that prints what it is given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "out").write_text(stdout)
    (tmp_path / "err").write_text(stderr)
    body = f"exec /bin/sleep {sleep_s}\n" if sleep_s else ""
    script = bin_dir / "scontrol"
    script.write_text(f"#!/bin/sh\n{body}/bin/cat {tmp_path / 'out'}\n/bin/cat {tmp_path / 'err'} >&2\n"
                      f"exit {status}\n")
    script.chmod(0o755)
    return {"PATH": str(bin_dir)}


@pytest.mark.slow
def test_a_stand_in_scontrol_gives_every_host_its_switch(tmp_path):
    env = _fake_scontrol(tmp_path, stdout=TREE_22_05)
    assert read_slurm_domains(NODES, env=env) == ({"n1": "s0", "n2": "s0", "n3": "s1", "n4": "s1"}, None)


def test_no_scontrol_on_path(tmp_path):
    mapping, reason = read_slurm_domains(NODES, env={"PATH": str(tmp_path)})
    assert mapping is None and "scontrol is not on PATH" in reason


@pytest.mark.slow
def test_scontrol_failing_gives_its_stderr_on_one_short_line(tmp_path):
    stderr = ("scontrol: error: ClusterName needs to be specified\n"
              "scontrol: fatal: Unable to process configuration file\n" + "x" * 500)
    mapping, reason = read_slurm_domains(NODES, env=_fake_scontrol(tmp_path, stderr=stderr, status=1))
    assert mapping is None and "\n" not in reason and len(reason) < 300 and reason.endswith("x...")
    assert reason.startswith("scontrol show topology failed (exit 1): scontrol: error: ClusterName needs to be "
                             "specified | scontrol: fatal: Unable to process configuration file | xxx")


@pytest.mark.slow
def test_no_topology_configured_as_slurm_22_05_says_it(tmp_path):
    mapping, reason = read_slurm_domains(NODES, env=_fake_scontrol(tmp_path, stderr=NONE_STDERR_22_05))
    assert mapping is None and "no Slurm topology is configured" in reason
    assert "No topology information available" in reason and "\n" not in reason


@pytest.mark.slow
def test_hosts_missing_from_the_topology_are_named(tmp_path):
    hosts = NODES + [f"x{i}" for i in range(7)]
    mapping, reason = read_slurm_domains(hosts, env=_fake_scontrol(tmp_path, stdout=TREE_22_05))
    assert mapping is None and "x0, x1, x2, x3, x4 and 2 more not in Slurm's topology" in reason and "n1" not in reason


@pytest.mark.slow
def test_unreadable_output_is_a_reason_not_an_exception(tmp_path):
    env = _fake_scontrol(tmp_path, stdout="SwitchName=s0 Level=0 LinkSpeed=1 Nodes=n[1-\n")
    mapping, reason = read_slurm_domains(NODES, env=env)
    assert mapping is None and "cannot read" in reason and "n[1-" in reason


@pytest.mark.slow
def test_a_hanging_scontrol_is_given_up(tmp_path, monkeypatch):
    monkeypatch.setattr(slurm_topology, "SCONTROL_TIMEOUT_S", 0.5)
    mapping, reason = read_slurm_domains(NODES, env=_fake_scontrol(tmp_path, stdout=TREE_22_05, sleep_s=30))
    assert mapping is None and reason == "scontrol show topology gave no answer within 0.5 s"


# --- a real Slurm 22.05 ---------------------------------------------------------------------------
def _cluster(topology):
    from slurm_cluster import SlurmCluster
    why = SlurmCluster.unavailable()
    if why:
        pytest.skip(why)
    return SlurmCluster(nodes=4, cpus_per_node=1, topology=topology)


@pytest.fixture(scope="module")
def tree_slurm():
    """Nodes n1..n4 under leaf switches s0 (n1, n2) and s1 (n3, n4), both under `top`;
    stopped by PID when the module's tests end, failed or not."""
    with _cluster(TOPOLOGY_CONF) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def plain_slurm():
    """The same four nodes without a TopologyPlugin (Slurm's default, topology/none)."""
    with _cluster(None) as cluster:
        yield cluster


@pytest.mark.slow
def test_real_slurm_prints_the_captured_tree_and_gives_each_node_its_leaf_switch(tree_slurm):
    shown = tree_slurm.run(["scontrol", "show", "topology"])
    assert shown.stdout == TREE_22_05 and shown.stderr == ""
    assert read_slurm_domains(NODES, env=tree_slurm.env) == ({"n1": "s0", "n2": "s0", "n3": "s1", "n4": "s1"}, None)
    mapping, reason = read_slurm_domains(NODES + ["n5"], env=tree_slurm.env)
    assert mapping is None and "n5 not in Slurm's topology" in reason


@pytest.mark.slow
def test_real_slurm_inside_a_job_step_each_rank_finds_its_node(tree_slurm):
    """Where a rank would ask: each task of a 4-node step asks for its own node
    (SLURMD_NODENAME), with the environment the step gave it."""
    code = ("import json, os; from benchmarks.host.slurm_topology import read_slurm_domains; "
            "node = os.environ['SLURMD_NODENAME']; "
            "print(json.dumps([node, *read_slurm_domains([node])]))")
    step = tree_slurm.run(["srun", "-N", "4", "-n", "4", "--ntasks-per-node", "1", sys.executable, "-c", code],
                          check=False, env={"PYTHONPATH": str(REPO)}, timeout=120)
    assert step.returncode == 0, step.stdout + step.stderr + tree_slurm.logs()
    answers = sorted(json.loads(line) for line in step.stdout.splitlines())
    assert answers == [["n1", {"n1": "s0"}, None], ["n2", {"n2": "s0"}, None],
                       ["n3", {"n3": "s1"}, None], ["n4", {"n4": "s1"}, None]]


@pytest.mark.slow
def test_real_slurm_without_a_topology_gives_the_reason(plain_slurm):
    shown = plain_slurm.run(["scontrol", "show", "topology"])
    assert shown.stdout == "" and shown.stderr == NONE_STDERR_22_05
    mapping, reason = read_slurm_domains(NODES, env=plain_slurm.env)
    assert mapping is None
    assert reason == ("no Slurm topology is configured (TopologyPlugin topology/none, or topology.conf lists no switch "
                      "or block) (scontrol: scontrol: error: No topology information available)")


@pytest.mark.slow
def test_real_scontrol_without_its_configuration_is_given_up_not_waited_for(tmp_path, monkeypatch):
    """Slurm 22.05's scontrol, its SLURM_CONF missing, retries for 60 s ("cannot stat file
    ..., retrying in 1sec up to 60sec"): the time limit (10 s; 2 s here) ends that. A Slurm
    that gives up sooner gives its error instead."""
    if shutil.which("scontrol") is None:
        pytest.skip("scontrol not installed: apt-get install slurm-client")
    monkeypatch.setattr(slurm_topology, "SCONTROL_TIMEOUT_S", 2.0)
    env = {**os.environ, "SLURM_CONF": str(tmp_path / "missing" / "slurm.conf")}
    started = time.monotonic()
    mapping, reason = read_slurm_domains(NODES, env=env)
    assert time.monotonic() - started < 10 and mapping is None
    assert reason == "scontrol show topology gave no answer within 2 s" or \
        reason.startswith("scontrol show topology failed (exit 1): scontrol: error: s_p_parse_file: cannot stat file")


@pytest.mark.slow
def test_a_run_under_srun_takes_its_domains_from_slurms_topology(tree_slurm, tmp_path):
    """`commscale run` on 4 nodes of a real srun step (gloo, one rank per node): the domains
    come from the topology (leaf switches s0 and s1), the domain layouts measure inside a
    switch and across the two, and the records say which groups crossed it."""
    from conftest import read_records
    from slurm_cluster import _free_ports
    out = tmp_path / "run"
    run = [sys.executable, "-m", "benchmarks", "run", "--backend", "gloo", "--collectives", "all_reduce",
           "--sizes", "1K,64K", "-n", "2", "-w", "1", "--layout", "intra-domain,inter-domain,full", "--out", str(out)]
    step = tree_slurm.run(["srun", "-N", "4", "-n", "4", "--ntasks-per-node", "1", "--kill-on-bad-exit=1", *run],
                          check=False, timeout=180, env={"PYTHONPATH": str(REPO), "MASTER_ADDR": "127.0.0.1",
                                                         "MASTER_PORT": str(_free_ports(1)[0])})
    assert step.returncode == 0, step.stdout + step.stderr + tree_slurm.logs()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["domains"]["source"] == "slurm topology" and meta["domains"]["domain_size_nodes"] == 2
    assert meta["domains"]["host_domain"] == {"n1": "s0", "n2": "s0", "n3": "s1", "n4": "s1"}
    groups = {(r["nranks"], r["nnodes"], r["ndomains"], r["nodes_per_domain"], r["domain_size_nodes"])
              for r in read_records(out)}
    # intra-domain: n1+n2 under s0; inter-domain: n1+n3, one per switch; full: all four
    assert groups == {(2, 2, 1, 2, 2), (2, 2, 2, 1, 2), (4, 4, 2, 2, 2)}

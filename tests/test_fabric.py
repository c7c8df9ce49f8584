"""Fabric presets and the transport read-back (collectives/fabric.py), and the flags that
choose them. NCCL cannot run here (no GPU): its debug log is stood in for by lines as
NCCL 2.2x writes them (copied in form from public NCCL logs); the GPU run of the presets
is in test_gpu.py."""
from pathlib import Path

import pytest

from benchmarks.sweep.config import RunConfig
from benchmarks.errors import UsageError
from benchmarks.launch.fabrics import fabric_runs
from collectives.fabric import NcclLog, nccl_env, parse_transports, transport_problem
from conftest import commscale_here

NCCL_LINES = """\
gpu-06:4015539:4015652 [0] NCCL INFO Channel 07/0 : 0[0] -> 2[0] [receive] via NET/IB/3/GDRDMA
gpu-06:4015540:4015653 [1] NCCL INFO Channel 01/0 : 3[1] -> 1[1] [send] via NET/IB/2/GDRDMA
gpu-06:4015540:4015653 [1] NCCL INFO Channel 00/0 : 3[1] -> 2[0] via P2P/CUMEM
algo-1:18063:18133 [6] NCCL INFO Channel 01/0 : 6[6] -> 7[7] via P2P/CUMEM/read
node:77:88 [0] NCCL INFO Channel 00 : 0[0] -> 1[1] via SHM/direct/direct
node:77:88 [0] NCCL INFO Connected all rings
node:77:88 [0] NCCL INFO comm 0x55d0 rank 0 nRanks 2 nNodes 1 localRanks 2 localRank 0 MNNVL 0
"""


def test_transports_are_read_from_nccl_log_lines():
    assert parse_transports(NCCL_LINES.splitlines()) == {"NET/IB", "P2P/CUMEM", "SHM/direct"}
    assert parse_transports(["node:1:2 [0] NCCL INFO Channel 02/1 : 1[1] -> 0[0] via NET/Socket/0"]) == {"NET/Socket"}


def test_the_log_is_read_incrementally_and_a_cut_line_waits(tmp_path):
    log = NcclLog(tmp_path / "rank0.log")
    assert log.new_transports() == set()  # not written yet
    lines = NCCL_LINES.splitlines(keepends=True)
    with open(log.path, "w") as f:
        f.write(lines[2] + lines[4][:40])  # P2P line, and half of the SHM line
    assert log.new_transports() == {"P2P/CUMEM"}
    with open(log.path, "a") as f:
        f.write(lines[4][40:])
    assert log.new_transports() == {"SHM/direct"}
    assert log.new_transports() == set()


@pytest.mark.parametrize("fabric, seen, nnodes, bad", [
    ("nvlink", {"P2P/CUMEM"}, 1, False),
    ("nvlink", {"NET/Socket"}, 1, True),  # no NVLink: NCCL fell back to the network
    ("pcie", {"SHM/direct"}, 1, False),
    ("pcie", {"SHM/direct", "P2P/CUMEM"}, 1, True),
    ("net", {"NET/IB"}, 1, False),
    ("nvlink", {"P2P/CUMEM", "NET/IB"}, 2, False),  # between nodes NET is expected
    ("pcie", {"P2P/CUMEM", "NET/IB"}, 2, True),
    ("auto", {"P2P/CUMEM"}, 1, False),
    ("net", set(), 1, False),  # one rank: nothing connected, nothing to judge
])
def test_a_transport_other_than_the_fabric_asked_for_is_flagged(fabric, seen, nnodes, bad):
    problem = transport_problem(fabric, seen, nnodes)
    assert (problem is not None) == bad
    if bad:
        assert fabric in problem and sorted(seen)[0] in problem


def debug_env(fabric, log):
    """What the sweep adds to an environment without NCCL_* settings."""
    return nccl_env(fabric, Path(log), {}, host="h", pid=1).set


def test_presets_force_each_path_and_keep_the_log():
    net = debug_env("net", "/x/rank0.log")
    assert (net["NCCL_P2P_DISABLE"], net["NCCL_SHM_DISABLE"], net["NCCL_DEBUG_FILE"]) == ("1", "1", "/x/rank0.log")
    assert debug_env("pcie", "l")["NCCL_P2P_DISABLE"] == "1" and debug_env("pcie", "l")["NCCL_SHM_DISABLE"] == "0"
    assert debug_env("nvlink", "l")["NCCL_P2P_LEVEL"] == "NVL"
    assert "NCCL_P2P_DISABLE" not in debug_env("auto", "l") and debug_env("auto", "l")["NCCL_DEBUG"] == "INFO"


def test_fabric_all_is_one_run_per_fabric(tmp_path):
    cfg = RunConfig(backend="nccl", collectives=("all_reduce",), dtypes=("float32",), ops=("sum",),
                    in_place=(False,), sizes=(8, 16, 32), ranks=None, nodes=None, warmup=1, iters=1,
                    iters_budget_s=1.0, device="cuda", cuda_graph=False, timeout_s=60.0, out=tmp_path, fabric="all")
    runs = fabric_runs(cfg)
    assert [(r.fabric, r.out) for r in runs] == [(f, tmp_path / f) for f in ("nvlink", "pcie", "net")]
    with pytest.raises(UsageError, match="resume one fabric"):
        fabric_runs(RunConfig(**{**{k: getattr(cfg, k) for k in cfg.__slots__}, "resume": True}))


@pytest.mark.parametrize("flags, message", [
    (["--fabric", "nvlink"], "needs --backend nccl"),
    (["--fabric", "warp"], "unknown --fabric"),
    (["--layout", "diagonal"], "unknown --layout"),
    (["--layout", "inter", "--ranks", "2"], "one rank per node"),
])
def test_bad_fabric_and_layout_flags_are_one_line_errors(tmp_path, flags, message):
    result = commscale_here("run", "--backend", "gloo", *flags, "--sizes", "1K", "--out", tmp_path / "r")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

"""The preflight (benchmarks/host/preflight.py): a launch that cannot work ends with one
line and status 2 within seconds. The comparisons on gathered data, then real launches:
ranks started by hand with RANK/WORLD_SIZE/MASTER_* (and ended as commscale's own local
launcher ends them: the others stop when one fails), a real Slurm's srun
(tests/slurm_cluster.py), and torchrun; rank 1 of a version mismatch runs a real copy of
the source tree with one file changed."""
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.host.detect import free_port
from benchmarks.launch.local import stop_ranks, wait_ranks
from benchmarks.host.preflight import (CLOCK_SKEW_BOUND_S, clock_offsets, clock_problem, gpu_problem,
                                         source_hash, version_problem, world_problem)
from conftest import REPO

LIMIT_S = 15.0
"""Every failure: status 2 within this long of the start."""
RUN = ["run", "--collectives", "all_reduce", "-b", "1K", "-e", "1K", "-n", "1", "-w", "0"]
HOST = socket.gethostname()


# --- the comparisons, on gathered data ---------------------------------------------------------
def _facts(n=2, **per_rank):
    """n ranks' gathered facts, all alike; per_rank={key: {rank: value}} changes some."""
    facts = [{"rank": r, "host": "a" if r < 2 else "b", "commscale": "0.1.0", "source": "0123456789ab",
              "torch": "2.13.0", "nccl": "2.21.5", "mpi": "MPICH Version: 5.0.2", "gpus": 8, "local_rank": r % 2,
              "clock_offset_s": 0.0, "clock_error_s": 0.0005} for r in range(n)]
    for key, values in per_rank.items():
        for rank, value in values.items():
            facts[rank][key] = value
    return facts


def test_a_world_that_agrees_has_no_problem():
    assert world_problem(_facts(4), "cuda") is None
    assert world_problem(_facts(4), "cpu", gpus_expected=8) is None


def test_a_different_source_tree_is_named_with_its_rank_host_and_the_fix():
    problem = version_problem(_facts(4, source={3: "ffffffffffff"}))
    assert problem == ("rank 3 on host b runs commscale 0.1.0 (source ffffffffffff) but rank 0 on host a runs "
                       "commscale 0.1.0 (source 0123456789ab): install the same commscale on every node (one "
                       "package or one checkout, e.g. an environment on a shared file system)")


def test_versions_the_first_differing_rank_and_only_what_differs():
    problem = version_problem(_facts(4, torch={2: "2.12.0", 3: "2.11.0"}, mpi={3: None}))
    assert problem.startswith("rank 2 on host b runs torch 2.12.0 but rank 0 on host a runs torch 2.13.0: "
                              "install the same torch on every node")
    problem = version_problem(_facts(2, commscale={1: "0.2.0"}, nccl={1: None}))
    assert "runs commscale 0.2.0 (source 0123456789ab), no NCCL but rank 0" in problem
    assert "install the same commscale and NCCL on every node" in problem
    assert version_problem(_facts(2, mpi={1: "Open MPI v5.0.3"})).endswith(
        "MPI Open MPI v5.0.3 but rank 0 on host a runs MPI MPICH Version: 5.0.2: install the same MPI library on "
        "every node (one package or one checkout, e.g. an environment on a shared file system)")


def test_gpu_counts_on_one_node_across_nodes_and_against_the_ranks_per_node():
    same_node = gpu_problem(_facts(4, gpus={1: 1}), "cuda")
    assert same_node.startswith("rank 1 on host a sees 1 GPU(s) but rank 0 on the same host sees 8: give every "
                                "rank of a node the same CUDA_VISIBLE_DEVICES")
    across = gpu_problem(_facts(4, gpus={2: 7, 3: 7}), "cuda")
    assert across.startswith("rank 2 on host b sees 7 GPU(s) but rank 0 on host a sees 8: a GPU is missing or "
                             "hidden on b")
    crowded = gpu_problem(_facts(4, gpus={r: 1 for r in range(4)}), "cuda")
    assert crowded.startswith("rank 0 on host a sees 1 GPU(s) but host a runs 2 ranks: start at most 1 ranks per node")
    assert gpu_problem(_facts(4, gpus={2: 7, 3: 7}), "cpu") is None  # CPU ranks do not use them
    assert gpu_problem(_facts(4, gpus={3: 4}), "cpu", gpus_expected=8).startswith(
        "rank 3 on host b sees 4 GPU(s) where 8 are expected")


def test_clock_offsets_from_one_round_trip():
    # rank 0 sent at 100.0 and had every note back at 100.002; rank 1's clock read 102.5 on arrival
    (zero, one) = clock_offsets(100.0, 100.002, [100.001, 102.5])
    assert zero == pytest.approx((0.0, 0.001)) and one == pytest.approx((2.499, 0.001))


def test_clocks_beyond_the_bound_are_named_and_within_it_are_not():
    assert CLOCK_SKEW_BOUND_S == 1.0
    assert clock_problem(_facts(3, clock_offset_s={1: 0.9, 2: -0.99})) is None
    problem = clock_problem(_facts(3, clock_offset_s={1: 0.4, 2: -1.25}))
    assert problem == ("rank 2 on host b: its clock is -1.250 s (+- 0.5 ms) off rank 0's on host a, more than the "
                       "1 s allowed: synchronise the nodes' clocks (chrony or ntpd) and launch again")
    # only an offset certainly beyond the bound counts
    assert clock_problem(_facts(2, clock_offset_s={1: 1.2}, clock_error_s={1: 0.3})) is None


def test_versions_come_first_then_gpus_then_clocks():
    facts = _facts(4, gpus={3: 2}, clock_offset_s={1: 5.0})
    assert "GPU" in world_problem(facts, "cuda") and "clock" in world_problem(facts, "cpu")
    assert "torch" in world_problem(_facts(4, torch={3: "x"}, gpus={3: 2}), "cuda")


# --- launches by hand ---------------------------------------------------------------------------
def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "PMI_", "OMPI_", "PMIX_", "TORCHELASTIC_")) and k not in
           ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    return dict(env, PYTHONPATH=str(REPO), **extra)


def _launch(tmp_path, addrs, port, argv=None):
    """Two ranks started by hand (rank r with MASTER_ADDR addrs[r]), ended as commscale's local
    launcher ends them: once one fails, the others are stopped. Returns the worst status, the
    seconds from start to the last rank's end, and every rank's stderr."""
    argv = argv or [sys.executable, "-m", "benchmarks", *RUN, "--out", str(tmp_path / "run")]
    procs, errs = [], []
    start = time.monotonic()
    for rank, addr in enumerate(addrs):
        err = open(tmp_path / f"rank{rank}.err", "w+")
        errs.append(err)
        env = _clean_env(RANK=str(rank), WORLD_SIZE=str(len(addrs)), LOCAL_RANK=str(rank),
                         LOCAL_WORLD_SIZE=str(len(addrs)), MASTER_ADDR=addr, MASTER_PORT=str(port))
        procs.append(subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err))
    try:
        code = wait_ranks(procs)
    finally:
        stop_ranks(procs)
    elapsed = time.monotonic() - start
    stderr = []
    for err in errs:
        err.seek(0)
        stderr.append(err.read())
        err.close()
    return code, elapsed, stderr


def _one_line(stderr: list[str]) -> str:
    """The one 'commscale: error:' line over all ranks (and no traceback)."""
    text = "".join(stderr)
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("commscale: error:")]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def squatter():
    """A listening socket on 127.0.0.1 that accepts and never says a word; its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held, done = [], threading.Event()

    def accept():
        while not done.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                return
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    done.set()
    sock.close()
    for conn in held:
        conn.close()


@pytest.mark.slow
def test_an_unresolvable_master_addr_is_one_line_and_status_2(tmp_path):
    code, elapsed, stderr = _launch(tmp_path, ["nohost.invalid"] * 2, free_port())
    line = _one_line(stderr)
    assert code == 2 and elapsed < LIMIT_S, (code, elapsed, stderr)
    assert line == (f"commscale: error: rank 0 on host {HOST}: MASTER_ADDR 'nohost.invalid' does not resolve here "
                    f"(Name or service not known): set MASTER_ADDR to a name or IP address of rank 0's host that "
                    f"every node resolves")
    assert "IPv6 network addresses" not in "".join(stderr)  # no retries from torch's store
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_squatter_on_master_port_is_one_line_and_status_2(tmp_path, squatter):
    code, elapsed, stderr = _launch(tmp_path, ["127.0.0.1"] * 2, squatter)
    line = _one_line(stderr)
    assert code == 2 and elapsed < LIMIT_S, (code, elapsed, stderr)
    assert line == (f"commscale: error: rank 0 on host {HOST}: port {squatter} on host {HOST} is taken by another "
                    f"process (ss -ltnp 'sport = :{squatter}' names it), so rank 0's store cannot listen there: "
                    f"pick another MASTER_PORT")


@pytest.mark.slow
def test_a_problem_only_rank_1_sees_is_its_own_one_line(tmp_path):
    """Rank 1's MASTER_ADDR does not resolve; rank 0's store is up and waits for it: rank 1
    says so (after asking its resolver again for RESOLVE_RETRY_S), naming itself."""
    code, elapsed, stderr = _launch(tmp_path, ["127.0.0.1", "nohost.invalid"], free_port())
    line = _one_line(stderr)
    assert code == 2 and elapsed < LIMIT_S, (code, elapsed, stderr)
    assert line.startswith(f"commscale: error: rank 1 on host {HOST}: MASTER_ADDR 'nohost.invalid' does not resolve")
    assert stderr[0] == ""  # rank 0, ended by the launcher while it waited, said nothing


@pytest.mark.slow
def test_a_master_addr_of_another_host_is_rank_0s_one_line(tmp_path):
    code, elapsed, stderr = _launch(tmp_path, ["192.0.2.1"] * 2, free_port())  # TEST-NET-1: nobody's
    line = _one_line(stderr)
    assert code == 2 and elapsed < LIMIT_S, (code, elapsed, stderr)
    assert line.startswith(f"commscale: error: rank 0 on host {HOST}: MASTER_ADDR '192.0.2.1' (192.0.2.1) is not an "
                           f"address of this host, where rank 0 runs and its store listens:")


TIMED = """\
import os, sys, time
from benchmarks.host import preflight
def timed(name, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            with open(os.environ["PREFLIGHT_TIMES"], "a") as f:
                f.write(f"{os.environ['RANK']} {name} {(time.perf_counter() - start) * 1e3:.1f}\\n")
    return wrapper
preflight.check_launch = timed("check_launch", preflight.check_launch)
preflight.check_world = timed("check_world", preflight.check_world)
from benchmarks.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_healthy_launch_runs_and_the_preflight_costs_little(tmp_path, monkeypatch):
    """The check functions timed in a real run (rank 1's check_launch includes waiting for
    rank 0's store to come up, which init_process_group would wait for anyway)."""
    script = tmp_path / "timed.py"
    script.write_text(TIMED)
    times = tmp_path / "times"
    monkeypatch.setenv("PREFLIGHT_TIMES", str(times))
    code, elapsed, stderr = _launch(tmp_path, ["127.0.0.1"] * 2, free_port(),
                                    [sys.executable, str(script), *RUN, "--out", str(tmp_path / "run")])
    assert code == 0, stderr
    assert "commscale: error" not in "".join(stderr)
    assert (tmp_path / "run" / "records.jsonl").read_text().count("\n") == 1
    spent = {(rank, name): float(ms) for rank, name, ms in (line.split() for line in times.read_text().splitlines())}
    print(f"\npreflight ms: {spent}; whole launch {elapsed:.1f} s")
    assert set(spent) == {(r, n) for r in "01" for n in ("check_launch", "check_world")}
    assert spent[("0", "check_launch")] < 500 and max(spent[(r, "check_world")] for r in "01") < 2000


# --- a version mismatch: rank 1 runs a changed copy of the tree -------------------------------
@pytest.fixture(scope="module")
def changed_tree(tmp_path_factory):
    """A real copy of the source tree with one source file changed, and a wrapper that runs
    `python -m benchmarks ARGS` from it for rank 1 (LOCAL_RANK under torchrun, SLURM_PROCID
    under srun) and from this tree for the others."""
    root = tmp_path_factory.mktemp("changed")
    copy = root / "tree"
    for package in ("collectives", "benchmarks", "reports", "slurm"):
        shutil.copytree(Path(REPO) / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "collectives" / "__init__.py", "a") as f:
        f.write("# changed on one node only\n")
    wrapper = root / "commscale-by-rank.sh"
    wrapper.write_text(f"""#!/bin/sh
if [ "${{LOCAL_RANK:-$SLURM_PROCID}}" = 1 ]; then tree='{copy}'; else tree='{REPO}'; fi
cd "$tree" && PYTHONPATH="$tree" exec '{sys.executable}' -m benchmarks "$@"
""")
    wrapper.chmod(0o755)
    return wrapper


MISMATCH = ("runs commscale {v} (source {theirs}) but rank 0 on host {h0} runs commscale {v} (source {ours}): "
            "install the same commscale on every node")


def _mismatch_line(stderr: str, host1: str, host0: str) -> str:
    from benchmarks.host.preflight import commscale_version
    lines = [line for line in stderr.splitlines() if line.startswith("commscale: error:")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"commscale: error: rank 1 on host {host1} runs commscale "), lines[0]
    assert "install the same commscale on every node" in lines[0] and f"rank 0 on host {host0}" in lines[0]
    ours = source_hash()
    assert f"(source {ours})" in lines[0] and lines[0].count("(source ") == 2
    assert f"commscale {commscale_version()} " in lines[0]
    return lines[0]


@pytest.mark.slow
def test_a_version_mismatch_under_torchrun(tmp_path, changed_tree):
    """torchrun adds its own summary when workers fail (a ChildFailedError traceback from
    the launcher itself, with each worker's exit code): commscale's line is the one checked."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--no-python",
           str(changed_tree), *RUN, "--out", str(tmp_path / "run")]
    start = time.monotonic()
    result = subprocess.run(cmd, env=_clean_env(), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert result.returncode != 0 and elapsed < LIMIT_S, (elapsed, result.stderr)
    _mismatch_line(result.stderr, HOST, HOST)
    assert "exitcode  : 2" in result.stderr  # torchrun's summary: the worker's status
    assert not (tmp_path / "run" / "records.jsonl").exists()


# --- under a real Slurm -------------------------------------------------------------------------
SRUN = ["srun", "-N", "2", "-n", "2", "--kill-on-bad-exit=1"]


def _srun(slurm, argv, **env):
    start = time.monotonic()
    result = slurm.run([*SRUN, *argv], check=False, timeout=120, cwd=REPO,
                       env={"PYTHONPATH": str(REPO), **env})
    return result, time.monotonic() - start


@pytest.mark.parametrize("addr", ["nohost.invalid", None])
@pytest.mark.slow
def test_srun_with_an_unresolvable_master_addr(slurm, tmp_path, addr):
    """None: MASTER_ADDR unset, so srun's first node, n1, which does not resolve here (the
    emulated nodes are names Slurm alone knows): the launch that retried for 5 minutes."""
    assert "MASTER_ADDR" not in slurm.env
    result, elapsed = _srun(slurm, [sys.executable, "-m", "benchmarks", *RUN, "--out", str(tmp_path / "run")],
                            MASTER_PORT=str(free_port()), **({"MASTER_ADDR": addr} if addr else {}))
    line = _one_line([result.stderr])
    assert result.returncode == 2 and elapsed < LIMIT_S, (result.returncode, elapsed, result.stderr)
    named = "'nohost.invalid'" if addr else "'n1' (unset, so srun's first node)"
    assert line.startswith(f"commscale: error: rank 0 on host n1: MASTER_ADDR {named} does not resolve here (")
    assert "IPv6 network addresses" not in result.stderr


@pytest.mark.slow
def test_srun_with_a_squatter_on_master_port(slurm, tmp_path, squatter):
    result, elapsed = _srun(slurm, [sys.executable, "-m", "benchmarks", *RUN, "--out", str(tmp_path / "run")],
                            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(squatter))
    line = _one_line([result.stderr])
    assert result.returncode == 2 and elapsed < LIMIT_S, (result.returncode, elapsed, result.stderr)
    assert line.startswith(f"commscale: error: rank 0 on host n1: port {squatter} on host n1 is taken by another "
                           f"process")


@pytest.mark.slow
def test_a_version_mismatch_under_srun(slurm, tmp_path, changed_tree):
    result, elapsed = _srun(slurm, [str(changed_tree), *RUN, "--out", str(tmp_path / "run")],
                            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    assert result.returncode == 2 and elapsed < LIMIT_S, (result.returncode, elapsed, result.stderr)
    assert "Traceback" not in result.stderr
    _mismatch_line(result.stderr, "n2", "n1")

"""Shared helpers: run the real `commscale` command (in a new interpreter, or through its
entry point in this process) and read what it wrote."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID",
                    "SLURM_STEP_NUM_TASKS", "PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK")
"""An outer launch's variables, dropped so that a command here is a launch of its own."""


def commscale(*args, env=None, timeout=300, cwd=None):
    """Run `python -m benchmarks ARGS` as a user would; returns CompletedProcess (text).
    It starts a process: a test that calls it is marked slow."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    for name in LAUNCH_VARIABLES:
        if not env or name not in env:
            full_env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "benchmarks", *map(str, args)], env=full_env,
                          capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO)


def local_run(nproc, *args, mpi=False, timeout=300) -> subprocess.CompletedProcess:
    """`commscale run ARGS` on NPROC ranks of this machine, started as `commscale dryrun` starts
    them (benchmarks.launch.local: torchrun's variables and a fresh port, or one `mpiexec -n
    NPROC`), without the dry run's compute, fit, crossover, plan and report that follow: for
    the tests that read the records only. Rank 0's stdout, every rank's stderr, the first
    status other than 0 (the other ranks are then stopped) or 0. It starts processes."""
    from benchmarks.launch.local import LAUNCH_VARS, find_mpiexec, start_local_ranks, stop_ranks
    argv = [sys.executable, "-m", "benchmarks", "run", *map(str, args)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            pytest.MonkeyPatch.context() as mp:
        for name in LAUNCH_VARS:
            mp.delenv(name, raising=False)
        mp.setenv("PYTHONPATH", str(REPO))
        mp.chdir(REPO)
        if mpi:
            procs = [subprocess.Popen([find_mpiexec(), "-n", str(nproc), *argv], stdout=out, stderr=err)]
        else:
            procs = start_local_ranks(argv, nproc, rank0_stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        try:
            while True:
                codes = [p.poll() for p in procs]
                code = next((c for c in codes if c not in (None, 0)), 0 if None not in codes else None)
                if code is not None:
                    break
                assert time.monotonic() < deadline, f"{argv} on {nproc} ranks still running after {timeout} s"
                time.sleep(0.05)
        finally:
            stop_ranks(procs)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, code, out.read(), err.read())


SHOWN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
"""Warnings Python hides by default: a user would not see them, so they are not output."""
_HANDLED = [s for s in ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGHUP") if hasattr(signal, s)]


def _children_cpu_s() -> float:
    times = os.times()
    return times.children_user + times.children_system


def commscale_here(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    """`commscale ARGS` through the console script's entry point, benchmarks.cli.main, in this
    process: the same parsing, checks, output and exit status as `commscale` (a new
    interpreter) gives, without the seconds an interpreter takes to start. For
    verbs that start no ranks (usage errors, fit, compare, report, import, ...). Returns a
    CompletedProcess: returncode, stdout and stderr as a user would see them (warnings
    Python shows by default are written to stderr, as they would be). The environment, the
    working directory and the signal handlers are restored afterwards, and the command must
    start no process (the CPU time of this process's ended children must not grow), leave
    no thread running and no process group open: such a command is for `commscale`."""
    from benchmarks.cli import main
    argv = [str(a) for a in args]
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_signals = {s: signal.getsignal(getattr(signal, s)) for s in _HANDLED}
    threads = set(threading.enumerate())
    children_s = _children_cpu_s()
    out, err = io.StringIO(), io.StringIO()
    try:
        for name in LAUNCH_VARIABLES:
            if not env or name not in env:
                os.environ.pop(name, None)
        os.environ.update({k: str(v) for k, v in (env or {}).items()})
        os.chdir(cwd or REPO)
        with warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            try:
                code = main(argv)
            except SystemExit as exc:  # --help, --version: argparse exits
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    print(exc.code, file=err)
        for w in caught:
            if not issubclass(w.category, SHOWN_WARNINGS):
                err.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    left = {s for s, handler in saved_signals.items() if signal.getsignal(getattr(signal, s)) != handler}
    for s in left:
        signal.signal(getattr(signal, s), saved_signals[s])
    assert not left, f"commscale {' '.join(argv)} left its handlers for {sorted(left)}: run it in a subprocess"
    assert _children_cpu_s() == children_s, f"commscale {' '.join(argv)} started a process: use commscale()"
    running = [t.name for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert not running, f"commscale {' '.join(argv)} left threads {running}: run it in a subprocess"
    dist = sys.modules.get("torch.distributed")
    assert not (dist and dist.is_available() and dist.is_initialized()), \
        f"commscale {' '.join(argv)} left a process group open: run it in a subprocess"
    return subprocess.CompletedProcess(["commscale", *argv], code, out.getvalue(), err.getvalue())


def read_records(run_dir) -> list[dict]:
    with open(Path(run_dir) / "records.jsonl") as f:
        return [json.loads(line) for line in f]


@pytest.fixture
def run_cli():
    return commscale


@pytest.fixture(scope="session")
def default_dryrun(tmp_path_factory):
    """`commscale dryrun --nproc 4` as the README's quick start runs it (every collective at 2
    and 4 gloo ranks, 1 KiB to 16 MiB, then compute, fit, crossover, plan and report), once
    for the tests that read it (test_dryrun.py, test_fit.py, test_predict.py, marked slow):
    (its directory, its CompletedProcess). They only read it."""
    out = tmp_path_factory.mktemp("default-dryrun") / "run"
    return out, commscale("dryrun", "--nproc", "4", "--out", out, timeout=600)


@pytest.fixture(scope="session")
def slurm():
    """A real Slurm (munged, slurmctld, 2 slurmd as nodes n1, n2 with 4 CPUs each) for the
    whole session, stopped by PID at the end; skipped where Slurm cannot run."""
    from slurm_cluster import SlurmCluster
    why = SlurmCluster.unavailable()
    if why:
        pytest.skip(why)
    with SlurmCluster(nodes=2, cpus_per_node=4) as cluster:
        yield cluster


NETNS_DIR = Path("/var/run/netns")
"""Where `ip netns add` keeps a named namespace (iproute2's NETNS_RUN_DIR)."""


def namespaces() -> set[str]:
    """The named network namespaces on this machine: what `ip netns list` lists, read from
    its directory without starting a process."""
    return {p.name for p in NETNS_DIR.iterdir()} if NETNS_DIR.is_dir() else set()


@pytest.fixture
def no_leftovers():
    """The namespaces present before the test are the only ones after it (the emulated
    network's tests)."""
    before = namespaces()
    yield
    assert namespaces() == before


@pytest.fixture(scope="session", autouse=True)
def verbs_write_default_outputs_under_a_temp_dir(tmp_path_factory):
    """A verb given no --out writes into a new commscale-runs/<verb>-<time> under the working
    directory (the repository, for commscale_here): the tests' go under a temporary
    directory instead ($COMMSCALE_RUNS_DIR), for every process they start."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMMSCALE_RUNS_DIR", str(tmp_path_factory.mktemp("commscale-runs")))
        yield

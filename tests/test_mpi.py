"""The mpi4py backend under a real mpiexec (MPICH from pip in CI), 2 and 4 ranks."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import defaultdict

import pytest

from benchmarks.launch.local import find_mpiexec
from benchmarks.errors import UsageError
from benchmarks.host.detect import free_port
from conftest import REPO, commscale, local_run, read_records
from record_checks import check_record

pytestmark = pytest.mark.slow  # mpiexec and its ranks

COLLECTIVES = {"all_reduce", "all_to_all", "all_gather", "reduce_scatter", "broadcast", "reduce", "sendrecv"}

try:
    MPIEXEC = find_mpiexec()
    import importlib
    importlib.import_module("mpi4py")  # the package only: importing it does not start MPI
except (UsageError, ImportError):
    pytest.skip("mpi4py and an mpiexec are needed (pip install mpi4py mpich)", allow_module_level=True)


def _env(**extra):
    """This environment without an outer launch's variables, the repo importable."""
    drop = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("SLURM_", "PMI_", "OMPI_"))}
    return dict(env, PYTHONPATH=os.pathsep.join([str(REPO), *extra.pop("path", [])]), **extra)


def mpiexec(n, *argv, python_args=("-m", "benchmarks"), timeout=300, **env):
    cmd = [MPIEXEC, "-n", str(n), sys.executable, *python_args, *map(str, argv)]
    return subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_every_collective_under_mpiexec_at_2_and_4_ranks(tmp_path):
    out = tmp_path / "run"
    sizes = [1024, 64 << 10, 1 << 20]
    result = mpiexec(4, "run", "--backend", "mpi", "--sizes", "1K,64K,1M", "-n", "3", "-w", "1", "--out", out)
    assert result.returncode == 0, result.stderr
    records = read_records(out)
    for rec in records:
        check_record(rec, sizes)
    assert {(r["collective"], r["nranks"]) for r in records} == {(c, p) for c in COLLECTIVES for p in (2, 4)}
    assert len(records) == 7 * 2 * 3
    assert {(r["backend"], r["device"], r["fabric"]) for r in records} == {("mpi", "cpu", "shm")}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["launcher"] == "mpiexec" and meta["world_size"] == 4 and meta["status"] == "complete"
    assert meta["versions"]["mpi_library"].startswith(("MPICH", "Open MPI", "Intel"))
    assert meta["versions"]["mpi4py"] and meta["versions"]["mpi_standard"]
    cpus = len(os.sched_getaffinity(0))
    load = meta["host_load"]  # 4 ranks on this host: MPICH yields where they outnumber the CPUs
    assert load["local_ranks"] == 4 and load["usable_cpus"] == cpus and load["mpi_oversubscribed"] == (cpus < 4)
    assert ("oversubscribed; MPICH yields while it waits" in result.stdout) == (cpus < 4)
    if cpus < 4:
        assert "MPIR_CVAR_CH4_PROGRESS_THROTTLE=1" in load["mpi_yield"]
        assert "MPIR_CVAR_ALLREDUCE_POSIX_INTRA_ALGORITHM=mpir" in load["mpi_yield"]


def test_ranks_pinned_to_fewer_cpus_yield_and_the_users_values_win(tmp_path):
    """Two ranks on one CPU (taskset) are oversubscribed: MPICH is told to yield, but a value
    the user set stays; two ranks on two CPUs are not, and nothing is set."""
    if len(os.sched_getaffinity(0)) < 2 or not shutil.which("taskset"):
        pytest.skip("needs 2 CPUs and taskset")
    argv = ["run", "--backend", "mpi", "--collectives", "all_reduce,broadcast", "--sizes", "64K", "-n", "3", "-w", "1"]
    one = subprocess.run(["taskset", "-c", "0", MPIEXEC, "-n", "2", sys.executable, "-m", "benchmarks", *argv,
                          "--out", str(tmp_path / "one")], env=_env(MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT="64"),
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert one.returncode == 0, one.stderr
    load = json.loads((tmp_path / "one" / "meta.json").read_text())["host_load"]
    assert load["local_ranks"] == 2 and load["usable_cpus"] == 1 and load["mpi_oversubscribed"]
    assert "NO_PROGRESS_COUNT=64" in load["mpi_yield"] and "MPIR_CVAR_CH4_PROGRESS_THROTTLE=1" in load["mpi_yield"]
    assert "# mpi: 2 ranks on 1 usable CPUs of this host: oversubscribed" in one.stdout
    two = mpiexec(2, *argv, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    load = json.loads((tmp_path / "two" / "meta.json").read_text())["host_load"]
    assert load == {"local_ranks": 2, "usable_cpus": len(os.sched_getaffinity(0)), "mpi_oversubscribed": False,
                    "mpi_yield": None} and "oversubscribed" not in two.stdout


def test_the_local_rank_count_comes_from_each_launchers_variables():
    """Hydra, Open MPI, Slurm's per-node task list; nothing: unknown (never oversubscribed)."""
    code = textwrap.dedent("""
        import mpi4py
        mpi4py.rc.initialize = False
        from collectives.backends.mpi import local_ranks
        assert local_ranks({"MPI_LOCALNRANKS": "4"}) == 4
        assert local_ranks({"OMPI_COMM_WORLD_LOCAL_SIZE": "8"}) == 8
        assert local_ranks({"SLURM_STEP_TASKS_PER_NODE": "2(x3),1", "SLURM_NODEID": "3"}) == 1
        assert local_ranks({"SLURM_STEP_TASKS_PER_NODE": "2(x3),1", "SLURM_NODEID": "2"}) == 2
        assert local_ranks({"SLURM_TASKS_PER_NODE": "4", "SLURM_NODEID": "0"}) == 4
        assert local_ranks({}) is None
    """)
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr


def test_dryrun_starts_mpiexec_itself_and_checks_every_dtype_op_and_placement(tmp_path):
    out = tmp_path / "run"
    result = commscale("dryrun", "--backend", "mpi", "--nproc", "2", "--out", out,
                       "-d", "float32,float64,float16,bfloat16,int32,int8", "-o", "sum,max,min",
                       "--in-place", "both", "--sizes", "1K,256K", "-n", "2", "-w", "1")
    assert result.returncode == 0, result.stderr
    assert "# summary of" in result.stdout
    records = read_records(out)
    skipped = [r for r in records if r["status"] == "skipped"]
    assert skipped and {r["dtype"] for r in skipped} == {"bfloat16"}
    assert {r["reason"] for r in skipped} == {"mpi cannot run this point: MPI has no bfloat16 datatype"}
    for rec in records:
        if rec["dtype"] != "bfloat16":
            check_record(rec, [1024, 256 << 10])
    placements = defaultdict(set)
    for r in records:
        placements[r["collective"]].add(r["in_place"])
    # MPI_IN_PLACE where it is the nccl-tests operation; Bcast has one buffer; MPI's
    # in-place Reduce_scatter_block puts the result elsewhere, so out of place only.
    assert placements == {"all_reduce": {False, True}, "reduce": {False, True}, "all_gather": {False, True},
                          "reduce_scatter": {False}, "broadcast": {True}, "all_to_all": {False}, "sendrecv": {False}}
    combos = {(r["collective"], r["dtype"], r["reduce_op"], r["in_place"]) for r in records}
    assert len(combos) == 6 * (3 * 2 + 3 * 2 + 2 + 3 + 1 + 1 + 1)


def _points(records):
    """A point without its placement, whose rules differ by library (compared apart)."""
    return sorted((r["collective"], r["dtype"], r["reduce_op"], r["nranks"], r["nnodes"], r["size_bytes"],
                   r["count"], r["status"]) for r in records)


def test_gloo_and_mpi_measure_the_same_points(tmp_path):
    """4 local ranks each, started as `commscale dryrun` starts them (gloo: torchrun's
    variables; mpi: one mpiexec)."""
    args = ["-d", "float32,int32", "-o", "sum,max", "--sizes", "8,1K,64K", "-n", "2", "-w", "1"]
    runs = {}
    for backend in ("gloo", "mpi"):
        out = tmp_path / backend
        result = local_run(4, "--backend", backend, *args, "--out", out, mpi=backend == "mpi")
        assert result.returncode == 0, result.stderr
        runs[backend] = read_records(out)
    gloo, mpi = _points(runs["gloo"]), _points(runs["mpi"])
    assert gloo == mpi
    assert len(gloo) == 2 * 2 * (3 * 2 * 3 + 4 * 3)  # groups 2, 4 x dtypes x (3 reducing x ops + 4 others) x sizes
    statuses = {s for *_, s in gloo}
    assert statuses == {"ok", "skipped"}  # 8 B leaves no float32 per rank in the split collectives
    for backend, records in runs.items():
        for rec in records:
            if rec["status"] == "ok":
                check_record(rec, [8, 1024, 65536])


# After the real MPI collective, world rank 1 overwrites element 0 of its result.
CORRUPTING_RANK = textwrap.dedent("""
    import sys
    from collectives.backends import mpi
    real = mpi._CALLS["all_reduce"]
    def corrupting(send, recv, comm, op, root):
        real(send, recv, comm, op, root)
        if mpi.MPI.COMM_WORLD.Get_rank() == 1:
            recv[0] = 99
    mpi._CALLS["all_reduce"] = corrupting
    from benchmarks.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_wrong_element_under_mpi_fails_the_point_and_mpiexec(tmp_path):
    out = tmp_path / "run"
    result = mpiexec(2, "run", "--backend", "mpi", "--collectives", "all_reduce,all_gather", "--sizes", "1K",
                     "-n", "2", "--out", out, python_args=("-c", CORRUPTING_RANK))
    assert result.returncode == 1, result.stderr
    by_name = {r["collective"]: r for r in read_records(out)}
    assert by_name["all_reduce"]["n_wrong"] == 1 and by_name["all_reduce"]["status"] == "failed"
    assert by_name["all_gather"]["status"] == "ok"
    assert "DATA CHECK FAILED" in result.stdout


# A crash on one rank (not a usage error) must end the job, not leave rank 0 waiting in a
# collective: MPI has no timeout, so the backend aborts the whole job.
CRASHING_RANK = textwrap.dedent("""
    import sys
    from collectives.backends import mpi
    real = mpi.MpiBackend.time_calls
    def crashing(self, fn, iters, *beat):
        if self.rank == 1:
            raise KeyError("simulated crash on rank 1")
        return real(self, fn, iters, *beat)
    mpi.MpiBackend.time_calls = crashing
    from benchmarks.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_crash_on_one_rank_aborts_the_job_with_one_traceback(tmp_path):
    out = tmp_path / "run"
    result = mpiexec(2, "run", "--backend", "mpi", "--collectives", "all_reduce", "--sizes", "1K,2K", "-n", "2",
                     "--out", out, python_args=("-c", CRASHING_RANK), timeout=120)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("Traceback") == 1 and "simulated crash on rank 1" in result.stderr


def test_a_usage_error_under_mpiexec_is_one_line_from_rank_0(tmp_path):
    result = mpiexec(2, "run", "--backend", "mpi", "--ranks", "4", "--out", tmp_path / "run", timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ("commscale: error: --ranks asks for 4 ranks but the launch has 2: "
                                     "lower --ranks or launch more processes")


def test_torchrun_with_backend_mpi_is_told_how_to_launch(tmp_path):
    """torchrun starts processes MPI does not know about: each is a world of one."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
           "-m", "benchmarks", "run", "--backend", "mpi", "--out", str(tmp_path / "run")]
    result = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode != 0
    # Substring, not whole line: torchrun's own log lines share the pipe and may run into it.
    message = ("commscale: error: the launch (torchrun) has 2 processes but MPI sees a world of 1: "
               "launch --backend mpi with mpiexec, or srun --mpi=pmi2 (or pmix)")
    assert result.stderr.count("commscale: error:") == 1 and message in result.stderr, result.stderr


def test_standalone_run_is_an_mpi_world_of_one(tmp_path):
    out = tmp_path / "run"
    result = commscale("run", "--backend", "mpi", "--collectives", "all_reduce,sendrecv", "--sizes", "1K", "-n", "2",
                       "--out", out)
    assert result.returncode == 0, result.stderr
    records = read_records(out)
    assert [(r["nranks"], r["status"]) for r in records] == [(1, "ok"), (1, "ok")]  # MPI can send to itself


def test_not_cuda_aware_gpu_buffers_are_skipped_with_the_fix(tmp_path):
    """LABELLED FAKE: no GPU here, so a real MPI backend (this MPICH, whose real
    MPIX_Query_cuda_support answers) is told its buffers are on a GPU; the real harness
    must then record a skip naming the fix, and never hand MPI a device pointer."""
    script = textwrap.dedent("""
        import os
        from collectives.backends import mpi
        from collectives.backends.base import BackendOptions
        from collectives.dtypes import get_dtype
        from collectives.registry import get_collective
        from benchmarks.sweep.harness import Point, Timing, measure_point
        from benchmarks.host.detect import detect
        b = mpi.MpiBackend(detect(os.environ), BackendOptions(timeout_s=60, device="cpu"))
        b.device, b._cuda_problem = "cuda", mpi.cuda_problem(mpi.cuda_aware())  # the fake
        rec = measure_point(b, b.new_group([0]), 0, 1, Point(get_collective("all_reduce"), get_dtype("float32"),
                            "sum", False, 1024), Timing(1, 2, 1.0))
        print(rec["status"], "|", rec["reason"])
    """)
    result = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("skipped | mpi cannot run this point: MPI library 'MPICH Version: "
                                     f"{_mpich_version()}' is not CUDA-aware: use --device cpu for host "
                                     "buffers, or an MPI built with CUDA")


def _mpich_version():
    script = "from mpi4py import MPI; print(MPI.Get_library_version().split()[2])"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env()).stdout.strip()


# --- without mpi4py -------------------------------------------------------------------

def _hide_mpi4py(tmp_path, broken=False):
    """A sitecustomize that makes `import mpi4py` fail in every process started with this
    path (not installed), or an mpi4py whose MPI module cannot load its library."""
    site = tmp_path / "site"
    site.mkdir()
    if broken:
        (site / "mpi4py").mkdir()
        (site / "mpi4py" / "__init__.py").write_text("__version__ = '0'\n")
        (site / "mpi4py" / "MPI.py").write_text(
            "raise RuntimeError('cannot load MPI library: libmpi.so.12: no such file')\n")
    else:
        (site / "sitecustomize.py").write_text("import sys\nsys.modules['mpi4py'] = None\n")
    return str(site)


def test_without_mpi4py_the_package_and_gloo_work_and_mpi_is_one_clear_line(tmp_path):
    site = _hide_mpi4py(tmp_path)
    env = {"PYTHONPATH": os.pathsep.join([site, str(REPO)])}
    result = commscale("dryrun", "--nproc", "2", "--collectives", "all_reduce", "--sizes", "1K", "-n", "2",
                       "--out", tmp_path / "gloo", env=env)
    assert result.returncode == 0, result.stderr
    assert read_records(tmp_path / "gloo")[0]["status"] == "ok"
    for verb in ("run", "dryrun"):
        result = commscale(verb, "--backend", "mpi", "--out", tmp_path / verb, env=env)
        assert result.returncode == 2
        assert result.stderr == ("commscale: error: --backend mpi needs mpi4py and an MPI library: pip install "
                                 "'mpi4py>=4' mpich (or build mpi4py against the cluster's MPI; see docs/mpi.md)\n")
    check = subprocess.run([sys.executable, "-c", "import mpi4py"], env=dict(os.environ, **env),
                           capture_output=True, text=True)
    assert check.returncode != 0  # the hiding itself works


def test_an_mpi4py_without_its_library_is_one_clear_line(tmp_path):
    site = _hide_mpi4py(tmp_path, broken=True)
    result = commscale("run", "--backend", "mpi", "--out", tmp_path / "run",
                       env={"PYTHONPATH": os.pathsep.join([site, str(REPO)])})
    assert result.returncode == 2
    assert result.stderr == ("commscale: error: backend mpi cannot load here (cannot load MPI library: "
                             "libmpi.so.12: no such file): install what it needs, see docs/mpi.md (which MPI)\n")


def test_mpi_is_initialised_serialized_unless_the_user_says_otherwise(tmp_path):
    """mpi4py asks for MPI_THREAD_MULTIPLE, which made MPICH's 64 KiB Allreduce 1.7x slower
    (benchmarks/selfbench/mpi_reference.py); commscale asks for SERIALIZED, and records what MPI gave."""
    for env, level in (({}, "serialized"), ({"MPI4PY_RC_THREAD_LEVEL": "multiple"}, "multiple")):
        out = tmp_path / level
        result = mpiexec(2, "run", "--backend", "mpi", "--collectives", "all_reduce", "--sizes", "64K", "-n", "3",
                         "-w", "1", "--out", out, **env)
        assert result.returncode == 0, result.stderr
        versions = json.loads((out / "meta.json").read_text())["versions"]
        assert versions["mpi_thread_level"] == level
        assert versions["host_huge_pages"].startswith("numpy madvise o")  # on or off, and the kernel's mode


def test_the_c_reference_builds_and_runs_beside_commscale():
    import shutil
    if not shutil.which("cc") and not shutil.which("gcc"):
        pytest.skip("no C compiler (apt-get install gcc)")
    result = subprocess.run([sys.executable, "-m", "benchmarks.mpi_reference", "--ranks", "2", "--rounds", "2",
                             "--sizes", "8,64K", "--collectives", "all_reduce,all_to_all", "--iters", "20",
                             "--warmup", "2"], capture_output=True, text=True, timeout=600, cwd=REPO, env=_env())
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| all_")]
    assert len(rows) == 3  # all_reduce 8 B and 64 KiB; all_to_all 8 B holds no element per rank
    for row in rows:
        c_us, bare_us, ours_us = (float(x) for x in row.split("|")[4:7])
        assert c_us > 0 and bare_us > 0 and ours_us > 0

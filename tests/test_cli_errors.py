"""Every bad input: one line naming the problem and the fix, exit status 2, no traceback.
The cases go through the console script's entry point (benchmarks.cli.main) in this
process; a few run the installed `commscale` script as a user would (marked slow)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LAUNCH_VARIABLES, REPO, commscale, commscale_here, read_records

# A valid `commscale slurm` line to spoil; it never gets as far as writing to --out.
SLURM = ["slurm", "--nodes", "1,2", "--time", "10", "--gpus-per-node", "0", "--ranks-per-node", "2",
         "--out", "/tmp/commscale-never-slurm"]
CASES = [
    (["run", "--collectives", "allreduce"], "unknown collective 'allreduce'"),
    (["run", "--backend", "ucc"], "unknown backend 'ucc'"),
    (["run", "--backend", "nccl"], "needs CUDA GPUs"),
    (["run", "-d", "float8"], "unknown dtype 'float8'"),
    (["run", "-o", "prod"], "unknown reduction 'prod'"),
    (["run", "-b", "1M", "-e", "1K"], "is above -e/--max-bytes"),
    (["run", "-b", "1.5M"], "malformed size '1.5M'"),
    (["run", "--sizes", "8,lots"], "malformed size 'lots'"),
    (["run", "-f", "1"], "must be above 1"),
    (["run", "-f", "0.5"], "must be above 1"),
    (["run", "-f", "two"], "is not a number"),
    (["run", "-n", "0"], "must be at least 1"),
    (["run", "-n", "many"], "neither a number nor 'auto'"),
    (["run", "-w", "-1"], "is negative"),
    (["run", "--in-place", "sometimes"], "choose from out, in, both"),
    (["run", "--ranks", "2,x"], "not a list of integers"),
    (["run", "--ranks", "0"], "at least 1"),
    (["run", "--ranks", "2", "--nodes", "1"], "choose one way"),
    (["run", "--ranks", "2"], "launch has 1"),
    (["run", "--nodes", "2"], "spans 1 host"),
    (["run", "--cuda-graph"], "--cuda-graph needs GPUs"),
    (["run", "--timeout", "0"], "--timeout must be positive"),
    (["run", "--out", "/proc/commscale-cannot-write"], "cannot write output directory"),
    (["dryrun", "--nproc", "4", "--ranks", "8"], "--nproc is 4"),
    (["dryrun", "--nproc", "0"], "--nproc 0 must be at least 1"),
    (["dryrun", "--nodes", "2"], "dryrun runs on one host"),
    (["run", "--device", "tpu"], "--device 'tpu': choose from auto, cpu, cuda"),
    (["run", "--backend", "gloo", "--device", "cuda"], "does not go with --backend gloo"),
    (["run", "--backend", "mpi", "--device", "cuda"], "--device cuda needs CUDA GPUs"),
    (["dryrun", "--backend", "mpi", "--device", "cuda"], "dryrun runs CPU ranks: drop --device cuda"),
    (["dryrun", "--backend", "mpi"], "COMMSCALE_MPIEXEC='/no/such/mpiexec' is not an executable"),
    (["fit", "/no/such/run"], "'/no/such/run' holds no records.jsonl"),
    (["fit", "/no/such/run", "--bootstrap", "3"], "--bootstrap 3 is too few"),
    (["crossover", "/no/such/run", "--workload", "gpt5"], "workload 'gpt5' is neither a preset"),
    (["crossover", "/no/such/run", "--workload", "llama-7b-dp", "--gpu-tflops", "-1"], "--gpu-tflops -1.0 must be positive"),
    (["crossover", "/no/such/run", "--workload", "llama-7b-dp"], "no GEMM rate for bfloat16"),
    (["compute", "--shapes", "12x"], "--shapes '12x' is not N or MxNxK"),
    (["compute", "--device", "tpu"], "--device 'tpu': choose from auto, cpu, cuda"),
    (["import", "/no/such/file", "--format", "osu", "--out", "/tmp/commscale-never"], "is not a file"),
    (["import", "README.md", "--format", "hpl", "--out", "/tmp/commscale-never"], "--format 'hpl': choose from"),
    (["import", "README.md", "--format", "imb", "--out", "/tmp/commscale-never"], "no IMB collective table"),
    (["import", "README.md", "--format", "nccl-tests", "--out", "/tmp/commscale-never"], "no nccl-tests result rows found"),
    (["compare", "/no/such/run", "/no/such/run"], "holds no records.jsonl"),
    (["report", "/no/such/run", "--out", "/tmp/commscale-never"], "holds no records.jsonl"),
    (SLURM[:1] + SLURM[3:], "--nodes is required"),
    ([*SLURM[:3], *SLURM[5:]], "--time is required"),
    ([*SLURM, "--time", "1h"], "'1h' is not a Slurm time limit"),
    ([*SLURM, "--signal", "600"], "fewer seconds than the time limit (600 s)"),
    ([*SLURM, "--gpus-per-node", "-1"], "--gpus-per-node -1 is negative"),
    ([*SLURM, "--ranks-per-node", "0"], "--ranks-per-node must be at least 1"),
    ([*SLURM, "--ranks", "2"], "use --nodes, not --ranks"),
    ([*SLURM, "--launcher", "slurmrun"], "unknown --launcher 'slurmrun'"),
    ([*SLURM, "--backend", "mpi", "--launcher", "tasks"], "--launcher tasks does not start --backend mpi ranks"),
    ([*SLURM, "--backend", "mpi", "--mpi", "pmi3"], "--mpi 'pmi3': choose from pmi2, pmix"),
    ([*SLURM, "--job-name", 'say "hi"'], "cannot go into an #SBATCH line"),
    ([*SLURM, "--partition", "gpu\nhostile"], "cannot go into an #SBATCH line"),
    ([*SLURM, "--python", "/no/such/python"], "is not an executable here"),
    ([*SLURM, "--out", "/tmp/commscale-%j"], "has a '%'"),
    ([*SLURM, "--sizes", "1K,2K"], "needs 3 or more sizes"),
    ([*SLURM, "--wait"], "--wait goes with --submit"),
    ([*SLURM, "--print", "--submit"], "not allowed with argument"),
    ([*SLURM, "--port", "70000"], "--port 70000 is not a TCP port"),
    ([*SLURM, "--collectives", "allreduce"], "unknown collective 'allreduce'"),
    (["run", "--warmup", "many"], "invalid int value: 'many': see 'commscale run --help'"),
    (["run", "--no-such-flag"], "unrecognized arguments: --no-such-flag: see 'commscale run --help'"),
    (["fit", "/no/such/run", "--bogus"], "unrecognized arguments: --bogus: see 'commscale fit --help'"),
    (["import", "x.log", "--format", "osu", "--out", "/tmp/commscale-never", "--bogus"],
     "unrecognized arguments: --bogus: see 'commscale import --help'"),
    (["emulate", "--cuda-graph=yes"], "see 'commscale emulate --help'"),
    (["teleport"], "invalid choice: 'teleport'"),
    (["teleport"], "see 'commscale --help'"),
    ([], "required"),
]


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def _bad(argv, message, tmp_path):
    """The case as run: --out in a fresh directory for the verbs that write one, and the
    environment a case needs."""
    if "--out" not in argv and argv and argv[0] in ("run", "dryrun", "compute"):
        argv = argv + ["--out", tmp_path / "run"]
    if "needs CUDA GPUs" in message and _cuda():
        pytest.skip("a GPU is visible here, so this input is not bad")
    env = {"COMMSCALE_MPIEXEC": "/no/such/mpiexec"} if "COMMSCALE_MPIEXEC" in message else None
    return argv, env


def _check_one_line(result, message):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("commscale: error: ") and message in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a) or "no-verb" for a, _ in CASES])
def test_bad_input_gets_one_line_and_status_2(argv, message, tmp_path, capfd):
    argv, env = _bad(argv, message, tmp_path)
    result = commscale_here(*argv, env=env)
    beyond = capfd.readouterr()  # what got past sys.stdout and sys.stderr (a library writing to fd 2)
    result.stdout, result.stderr = result.stdout + beyond.out, result.stderr + beyond.err
    _check_one_line(result, message)


SCRIPT_CASES = [(["run", "--collectives", "allreduce"], "unknown collective 'allreduce'"),
                (["run", "--no-such-flag"], "unrecognized arguments: --no-such-flag: see 'commscale run --help'"),
                (["teleport"], "invalid choice: 'teleport'")]
"""A few cases through the installed console script, in a new process as a user runs it: a
check made by the verb, an argparse error, an unknown verb."""
assert all(case in CASES for case in SCRIPT_CASES)


@pytest.mark.slow
@pytest.mark.parametrize("argv, message", SCRIPT_CASES, ids=[" ".join(a) for a, _ in SCRIPT_CASES])
def test_the_installed_script_gets_one_line_and_status_2(argv, message, tmp_path):
    script = shutil.which("commscale", path=str(Path(sys.executable).parent))
    assert script, f"no commscale script beside {sys.executable}: pip install -e ."
    argv, env = _bad(argv, message, tmp_path)
    result = subprocess.run([script, *map(str, argv)], capture_output=True, text=True, timeout=120, cwd=REPO,
                            env={k: v for k, v in os.environ.items() if k not in LAUNCH_VARIABLES})
    _check_one_line(result, message)


def test_a_bad_environment_fallback_is_a_usage_error(tmp_path):
    result = commscale_here("run", "--out", tmp_path / "run", env={"COMMSCALE_WARMUP": "abc"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("commscale: error: argument -w/--warmup: invalid int value: 'abc'")


@pytest.mark.slow
def test_environment_fallbacks_are_read(tmp_path):
    """A run alone (one rank, in a new process as under srun) takes its flags from COMMSCALE_*."""
    result = commscale("run", "--out", tmp_path / "run",
                       env={"COMMSCALE_COLLECTIVES": "broadcast", "COMMSCALE_SIZES": "4K", "COMMSCALE_ITERS": "3"})
    assert result.returncode == 0, result.stderr
    (rec,) = read_records(tmp_path / "run")
    assert (rec["collective"], rec["size_bytes"], rec["iters"]) == ("broadcast", 4096, 3)


def test_an_existing_run_is_not_overwritten(tmp_path):
    (tmp_path / "records.jsonl").write_text("")
    result = commscale_here("run", "--out", tmp_path)
    assert result.returncode == 2 and "already holds a run" in result.stderr


def test_a_file_in_the_way_of_the_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = commscale_here("dryrun", "--out", blocker / "run")
    assert result.returncode == 2 and "cannot write output directory" in result.stderr


@pytest.mark.slow
def test_version():
    """`python -m benchmarks --version`, in a new process: the module entry point."""
    result = commscale("--version")
    assert result.returncode == 0, result.stderr
    from importlib.metadata import version
    assert result.stdout.strip() == f"commscale {version('commscale')}"


def test_cpu_verbs_show_their_own_defaults_and_no_gpu_flags(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse's width, as in a pipe
    for verb, shown in (("emulate", ["-w WARMUP, --warmup WARMUP\n                        warm-up calls per point [2]",
                                     "[10]", "[intra,inter,full]", "sendrecv [all_reduce,all_to_all]",
                                     "smallest size [64K]"]),
                        ("dryrun", ["warm-up calls per point [5]", "smallest size [1K]", "largest size [16M]"])):
        text = " ".join(commscale_here(verb, "--help").stdout.split())
        for piece in shown:
            assert " ".join(piece.split()) in text, (verb, piece)
        for gpu_only in ("--cuda-graph", "--fabric", "--device"):
            assert gpu_only not in text, (verb, gpu_only)
    run_help = commscale_here("run", "--help").stdout
    assert "--cuda-graph" in run_help and "--fabric" in run_help and "[full]" in run_help

"""The sbatch renderer (slurm/render.py) against golden files, each checked by bash -n; and the
quoting that keeps every user string a string. Regenerate the golden files after an
intended change with COMMSCALE_UPDATE_GOLDEN=1."""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import commscale_here
from slurm.render import JobPlan, check_directive, render

GOLDEN = Path(__file__).with_name("golden") / "slurm"
RUN_ARGS = ("--backend", "nccl", "--device", "cuda", "--collectives", "all_reduce,all_to_all", "--dtype", "bfloat16",
            "--op", "sum", "--in-place", "out", "-b", "8", "-e", "1G", "-f", "2", "--warmup", "5", "--iters", "20",
            "--iters-budget-s", "1.0", "--timeout", "300.0")
BASE = dict(nodes=(1, 2, 4, 8), ranks_per_node=8, gpus_per_node=8, partition="gpu", time="2:00:00",
            out="/scratch/commscale/h100-ib", python="/opt/commscale/venv/bin/python", run_args=RUN_ARGS)
PLANS = {
    "tasks": JobPlan(launcher="tasks", account="ml-infra", constraint="h100&ib", exclusive=True, **BASE),
    "torchrun": JobPlan(launcher="torchrun", **BASE),
    "srun-mpi-pmix": JobPlan(launcher="srun-mpi", mpi="pmix", **{**BASE, "run_args": ("--backend", "mpi")}),
    "mpiexec": JobPlan(launcher="mpiexec", mpiexec="/opt/mpi/bin/mpiexec", signal_s=0,
                       **{**BASE, "run_args": ("--backend", "mpi")}),
    "per-count": JobPlan(launcher="tasks", job_per_count=True, **{**BASE, "nodes": (1, 2)}),
}


def _golden_name(case, file_name):
    return f"{case}.sbatch" if file_name == "commscale.sbatch" else f"{case}--{file_name}"


@pytest.mark.parametrize("case", PLANS)
def test_rendered_scripts_match_the_golden_files(case):
    files = render(PLANS[case])
    for name, text in files.items():
        path = GOLDEN / _golden_name(case, name)
        if os.environ.get("COMMSCALE_UPDATE_GOLDEN"):
            path.write_text(text)
        assert path.exists(), f"no golden file {path}: run with COMMSCALE_UPDATE_GOLDEN=1 once, then review it"
        assert text == path.read_text(), f"{path} differs: review, then COMMSCALE_UPDATE_GOLDEN=1"


@pytest.mark.slow  # bash
@pytest.mark.parametrize("case", PLANS)
def test_rendered_scripts_are_bash(case):
    for name, text in render(PLANS[case]).items():
        syntax = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
        assert syntax.returncode == 0, (name, syntax.stderr)


def test_one_job_sweeps_the_smaller_counts_and_reads_the_largest_from_slurm():
    (text,) = render(PLANS["tasks"]).values()
    assert "#SBATCH --nodes=8\n" in text and 'NODES="1,2,4,$SLURM_JOB_NUM_NODES"' in text
    assert "1,2,4,8" not in text.split("set -euo pipefail")[1]  # the largest count is written once
    assert "#SBATCH --signal=USR1@120" in text and "#SBATCH --exclusive" in text
    assert '#SBATCH --constraint="h100&ib"' in text


def test_a_job_per_count_and_a_report_job():
    files = render(PLANS["per-count"])
    assert sorted(files) == ["commscale-n1.sbatch", "commscale-n2.sbatch", "report.sbatch"]
    assert "#SBATCH --nodes=2\n" in files["commscale-n2.sbatch"]
    assert 'NODES="$SLURM_JOB_NUM_NODES"' in files["commscale-n1.sbatch"]
    assert "--gpus-per-node" not in files["report.sbatch"] and "--signal" not in files["report.sbatch"]


HOSTILE = "x'; touch /tmp/commscale-pwned; echo '$(touch /tmp/commscale-pwned)`id` \"a\" \\ b"
# What may also go into an #SBATCH line (the output path does): no double quote or backslash.
HOSTILE_PATH = "x'; touch /tmp/commscale-pwned; echo '$(touch /tmp/commscale-pwned)`id` b"


@pytest.mark.slow  # bash
def test_every_string_in_the_script_body_is_one_word_for_the_shell(tmp_path):
    """Run the rendered assignments in bash: the hostile path and python come back as they went in."""
    plan = JobPlan(launcher="torchrun", **{**BASE, "out": "/scratch/" + HOSTILE_PATH, "python": "/opt/" + HOSTILE,
                                            "run_args": ("--collectives", HOSTILE)})
    (text,) = render(plan).values()
    body = text.split("set -euo pipefail\n", 1)[1].split("\necho ", 1)[0]
    probe = body + '\nprintf "%s\\n" "$OUT" "${COMMSCALE[0]}" "${RUN_ARGS[1]}" "${#RUN_ARGS[@]}"\n'
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env={"SLURM_JOB_NUM_NODES": "8"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["/scratch/" + HOSTILE_PATH, "/opt/" + HOSTILE, HOSTILE, "2"]
    assert not Path("/tmp/commscale-pwned").exists()


@pytest.mark.parametrize("value", ['a"b', "a\\b", "a\nb", "a\rb", "a\x00b", ""])
def test_directive_values_sbatch_cannot_carry_are_refused(value):
    with pytest.raises(ValueError, match="cannot go into an #SBATCH line"):
        check_directive("--job-name", value)


def test_directive_values_keep_shell_characters_inside_double_quotes():
    plan = JobPlan(launcher="tasks", job_name="a;b $(id) #c", **BASE)
    (text,) = render(plan).values()
    assert '#SBATCH --job-name="a;b $(id) #c"\n' in text


def test_print_writes_and_prints_the_same_script_then_the_same_out_takes_the_same_job(tmp_path):
    out = tmp_path / "job"
    flags = ["--nodes", "1,2", "--time", "30", "--gpus-per-node", "0", "--ranks-per-node", "2", "--out", out]
    result = commscale_here("slurm", *flags, "--print")
    assert result.returncode == 0, result.stderr
    script = (out / "commscale.sbatch").read_text()
    assert result.stdout == script + f"# wrote {out / 'commscale.sbatch'}\n# submit with: sbatch {out / 'commscale.sbatch'}\n"
    again = commscale_here("slurm", *flags)  # look first, then the same job again (README): kept as it is
    assert again.returncode == 0, again.stderr
    assert (out / "commscale.sbatch").read_text() == script
    other = commscale_here("slurm", *flags, "-e", "1M")
    assert other.returncode == 2 and "holds other commscale job scripts" in other.stderr
    assert (out / "commscale.sbatch").read_text() == script
    (out / "submitted.json").write_text('{"job_ids": ["7"]}\n')
    submitted = commscale_here("slurm", *flags)
    assert submitted.returncode == 2 and "already holds a submitted commscale Slurm job" in submitted.stderr

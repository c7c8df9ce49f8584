"""Submit rendered scripts with sbatch and wait for them with scontrol (no accounting
database needed). Errors are `JobError` with one line naming the problem and the fix."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass

#: Job states after which a job never runs again (scontrol's JobState).
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
            "BOOT_FAIL", "DEADLINE"}


class JobError(Exception):
    """sbatch or scontrol failed: the message names the problem and the fix."""


@dataclass(frozen=True, slots=True)
class JobEnd:
    job_id: str
    state: str
    exit_status: int
    """The batch script's exit status (scontrol's ExitCode=status:signal); 128+signal
    when a signal ended it."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise JobError(f"{name} not found: run on a Slurm login node, or use --print and submit the script there")
    return path


def submit(script, dependency: list[str] | None = None) -> str:
    """sbatch the script; returns the job id."""
    argv = [_tool("sbatch"), "--parsable"]
    if dependency:
        argv.append("--dependency=afterany:" + ":".join(dependency))
    result = subprocess.run([*argv, str(script)], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise JobError(f"sbatch rejected {script}: {last}: fix the option it names (or edit the script) and retry")
    return result.stdout.strip().split(";")[0]


def job_state(job_id: str) -> tuple[str, int]:
    result = subprocess.run([_tool("scontrol"), "show", "job", "-o", job_id], capture_output=True, text=True)
    if result.returncode != 0:
        raise JobError(f"scontrol cannot show job {job_id} ({result.stderr.strip()}): "
                       f"it may have left scontrol's memory (MinJobAge); look in its slurm-*.out")
    state = re.search(r"\bJobState=(\S+)", result.stdout)
    code = re.search(r"\bExitCode=(\d+):(\d+)", result.stdout)
    status, sig = (int(code.group(1)), int(code.group(2))) if code else (0, 0)
    return (state.group(1) if state else "UNKNOWN"), (128 + sig if sig else status)


def wait(job_ids: list[str], poll_s: float = 1.0, on_end=None) -> list[JobEnd]:
    """Poll until every job has ended; `on_end(JobEnd)` is called as each one does."""
    pending, ended = list(job_ids), {}
    while pending:
        for job_id in list(pending):
            state, status = job_state(job_id)
            if state in TERMINAL:
                ended[job_id] = JobEnd(job_id, state, status)
                pending.remove(job_id)
                if on_end:
                    on_end(ended[job_id])
        if pending:
            time.sleep(poll_s)
    return [ended[j] for j in job_ids]

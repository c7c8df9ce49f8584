"""After a local launch ended badly: what the launcher, which outlives the ranks, says
and records."""
from __future__ import annotations

import sys
from pathlib import Path

from collectives.records import now_utc, read_meta, write_meta

from ..errors import EXIT_FAILED, EXIT_LOST, EXIT_STOPPED


def mark_abandoned(run_dir: Path, code: int) -> None:
    """After a launch that failed: a meta.json still 'running' means rank 0 was ended
    before it could say so (killed, or MPICH's mpiexec ended every rank when one died):
    the launcher marks the run incomplete."""
    meta = read_meta(run_dir)
    if meta and meta.get("status") == "running":
        write_meta(run_dir, {**meta, "status": "incomplete", "finished_at": now_utc(),
                             "failure": f"the ranks were ended with status {code} before rank 0 could record why "
                                        f"(a rank killed? see the launcher's output)"})


def launch_failed(out: Path, code: int, resume_command: str) -> int:
    """After ranks ended with a status other than 0, 1 or 2: mark the run if rank 0 could
    not, say where the records are (and, stopped or lost, the command that finishes the
    run), and return the status. A verdict rank 0 recorded (the watchdog's exit_status in
    meta.json) stands whatever the launcher reports after it: MPICH's mpiexec, ending the
    job on MPI_Abort, can report another rank's SIGKILL (status 9) instead of the abort's 5."""
    verdict = (read_meta(out) or {}).get("exit_status")
    if verdict in (EXIT_STOPPED, EXIT_LOST):
        code = verdict
    mark_abandoned(out, code)
    if code in (EXIT_STOPPED, EXIT_LOST):
        print(f"commscale: records measured so far are in {out}; finish with: {resume_command} --resume {out}",
              file=sys.stderr)
        return code
    print(f"commscale: error: a rank exited with status {code}; records measured so far are in {out}",
          file=sys.stderr)
    return EXIT_FAILED

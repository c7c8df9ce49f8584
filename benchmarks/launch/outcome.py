"""After a local launch ended badly: what the launcher, which outlives the ranks, says
and records."""
from __future__ import annotations

import json
import signal
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


def launch_stopped(out: Path, signum: int, resume_command: str) -> int:
    """After the launcher forwarded a stop signal to the ranks (as SIGTERM): meta.json says
    'incomplete', `stopped_by` the signal the ranks had (rank 0 writes it when it can; this
    fills in what it could not) and `launcher_signal` the one the launcher had; the line
    says where the records are and the command that finishes the run; EXIT_STOPPED."""
    name = signal.Signals(signum).name
    meta = read_meta(out)
    if not meta:
        print(f"commscale: stopped by {name} before the ranks wrote anything to {out}: start again with the same "
              f"command", file=sys.stderr, flush=True)
        return EXIT_STOPPED
    status = "incomplete" if meta.get("status") == "running" else meta.get("status")
    write_meta(out, {**meta, "status": status, "stopped_by": meta.get("stopped_by") or name,
                     "finished_at": meta.get("finished_at") or now_utc(), "launcher_signal": name})
    print(f"commscale: stopped by {name}: records measured so far are in {out}; finish with: {resume_command} "
          f"--resume {out}", file=sys.stderr, flush=True)
    return EXIT_STOPPED


def doctor_stopped(out: Path, signum: int) -> int:
    """After a stop signal forwarded to the doctor's ranks: doctor.json and meta.json say
    'incomplete' (where rank 0 could not), the line says what was kept; EXIT_STOPPED. The
    doctor has no --resume: a new run measures every round again."""
    from reports.doctor.stats import DOCTOR_FILE
    name = signal.Signals(signum).name
    for path in (out / DOCTOR_FILE, out / "meta.json"):
        doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        if doc and doc.get("status") == "running":
            doc.update(status="incomplete", finished_at=now_utc(), stopped_by=name)
            path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"commscale: stopped by {name}: what the doctor measured is in {out} ({DOCTOR_FILE}, records.jsonl); it "
          f"has no --resume: run it again to finish", file=sys.stderr, flush=True)
    return EXIT_STOPPED

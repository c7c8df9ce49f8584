"""Where a verb writes: a new directory of its own by default, created on demand; a run's
directory checked before anything is measured into it.

The analysis verbs (fit, crossover, plan, report, compare) never write into the runs they
read unless told: without --out each writes into a new commscale-runs/<verb>-<time>
(`analysis_out`), a file already there is replaced only with --force (`claim`), and each
prints the paths it wrote (`say_written`)."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError


RUNS_DIR = "commscale-runs"
"""Where verbs write without --out; $COMMSCALE_RUNS_DIR moves it."""


def default_out(verb: str) -> str:
    """RUNS_DIR/<verb>-<local time>, with -2, -3, ... where a verb ran twice in one second:
    where a verb writes without --out, a directory nothing has written to."""
    import datetime as dt
    base = os.path.join(os.environ.get("COMMSCALE_RUNS_DIR") or RUNS_DIR, f"{verb}-{dt.datetime.now():%Y%m%d-%H%M%S}")
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = f"{base}-{n}"
    return path


def analysis_out(verb: str, out) -> Path:
    """Where an analysis verb writes: --out, else a new commscale-runs/<verb>-<time>."""
    return Path(out) if out else Path(default_out(verb))


def claim(path, force: bool) -> Path:
    """`path` may be written: it does not exist yet, or --force says to replace it."""
    path = Path(path)
    if path.exists() and not force:
        raise UsageError(f"{str(path)!r} exists: add --force to replace it, or choose another --out")
    return path


def say_written(*paths) -> None:
    """One line per file written, as the last lines a verb prints."""
    for path in paths:
        print(f"# wrote {path}", flush=True)


def make_out_dir(out) -> Path:
    """Create an output directory (fit, crossover, report, compare, compute); a failure is
    a usage error naming the directory."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r} ({exc.strerror}): choose another --out") from None
    return out


def write_json(out, name: str, doc: dict) -> Path:
    """`doc` as OUT/name (OUT made if needed); a directory that cannot be written is a usage error."""
    import json
    path = make_out_dir(out) / name
    try:
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {str(path.parent)!r} ({exc.strerror}): choose another --out") from None
    return path


def check_out_dir(out: Path, resume: bool = False, resumable: bool = True) -> Path:
    """Create the run directory if needed and prove it is writable and holds no run yet
    (or, resuming, that it is writable and holds the run). `resumable`: the verb measures
    (and so has a default --out and --resume to offer); import has neither."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".commscale-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write output directory {str(out)!r} ({exc.strerror}): choose another --out") from None
    if resume:
        if not (out / "meta.json").exists():
            raise UsageError(f"--resume {str(out)!r}: no meta.json there, so no run to resume: "
                             f"give the directory of an interrupted run")
    elif (out / "records.jsonl").exists() and not resumable:
        raise UsageError(f"{str(out)!r} already holds a run (records.jsonl): choose a new --out directory")
    elif (out / "records.jsonl").exists():
        raise UsageError(f"{str(out)!r} already holds a run (records.jsonl): choose a new --out directory (or leave "
                         f"--out out: a new commscale-runs/<verb>-<time> each time), or finish it with --resume {out}")
    return out

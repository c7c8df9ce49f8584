"""Where a verb writes: a new directory of its own by default, created on demand; a run's
directory checked before anything is measured into it."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError


def default_out(verb: str) -> str:
    """commscale-runs/<verb>-<local time>: where a verb writes without --out."""
    import datetime as dt
    return os.path.join("commscale-runs", f"{verb}-{dt.datetime.now():%Y%m%d-%H%M%S}")


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


def check_out_dir(out: Path, resume: bool = False) -> Path:
    """Create the run directory if needed and prove it is writable and holds no run yet
    (or, resuming, that it is writable and holds the run)."""
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
    elif (out / "records.jsonl").exists():
        raise UsageError(f"{str(out)!r} already holds a run (records.jsonl): choose a new --out directory (or leave "
                         f"--out out: a new commscale-runs/<verb>-<time> each time), or finish it with --resume {out}")
    return out

"""`commscale import FILE --format nccl-tests|osu --out RUN`: another tool's output as a
commscale run (records.jsonl and meta.json), parsed by reports/importers.py."""
from __future__ import annotations

import hashlib
from pathlib import Path

from collectives.records import SCHEMA_VERSION, RecordWriter, make_record, now_utc, write_meta

from .config import check_out_dir
from .errors import EXIT_OK, UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="nccl-tests (text or -J JSON) or OSU output as a commscale run",
                       description="Convert nccl-tests stdout or -J JSON, or OSU collective latency output, into "
                                   "records so report, compare and fit work on them.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", required=True, help="nccl-tests (text or JSON, told apart by content) or osu")
    p.add_argument("--out", required=True, help="the new run directory")
    p.add_argument("--collective", help="when the file does not say (e.g. all_reduce)")
    p.add_argument("--nranks", type=int, help="ranks that ran (required for OSU, which does not print it)")


def run(args) -> int:
    from reports.importers import FORMATS, ImportFailure, parse
    if args.format not in FORMATS:
        raise UsageError(f"--format {args.format!r}: choose from {', '.join(FORMATS)}")
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file!r} is not a file: give the tool's output file")
    if args.nranks is not None and args.nranks < 1:
        raise UsageError(f"--nranks {args.nranks} must be at least 1")
    try:
        points, info = parse(path, args.format, args.collective, args.nranks)
    except ImportFailure as exc:
        raise UsageError(str(exc)) from None
    except KeyError as exc:  # a collective commscale does not have
        raise UsageError(exc.args[0]) from None
    out = check_out_dir(Path(args.out))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    run_id = f"import-{digest[:12]}"
    now = now_utc()
    with RecordWriter(out) as writer:
        for fields in points:
            writer.write(make_record(run_id=run_id, timestamp=now, **fields))
    write_meta(out, {"schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "complete", "started_at": now,
                     "finished_at": now, "imported_from": str(path.resolve()), "sha256": digest,
                     "format": args.format, **info, "hosts": info.get("hosts", []),
                     "timing": "as the tool printed it: the average over ranks (commscale run records the max)"})
    print(f"# imported {len(points)} points from {path} ({info['tool']}) into {out / 'records.jsonl'}")
    return EXIT_OK

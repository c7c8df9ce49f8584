"""`commscale import FILE... --out DIR`: other tools' output as commscale runs
(records.jsonl and meta.json each), parsed by reports/importers/.

One file holding one run: --out is that run's directory. Several files, or a file
holding several runs: --out holds one run directory per run, named after the file (and
the collective where a file holds several), so `fit`, `crossover` and `report` take them
as one series (`commscale fit DIR/*`)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from collectives.domains import domain_fields
from collectives.records import SCHEMA_VERSION, RecordWriter, make_record, now_utc, write_meta

from ..errors import EXIT_OK, UsageError
from ..outdirs import check_out_dir


def add_parser(sub):
    p = sub.add_parser("import", help="nccl-tests (text or -J JSON), OSU or IMB output as commscale runs",
                       description="Convert nccl-tests stdout or -J JSON, OSU collective latency output or IMB-MPI1 "
                                   "tables into records so fit, report and compare work on them. The collective, "
                                   "rank and node counts come from the log; a flag settles what the log does not "
                                   "say, and a flag that contradicts the log is an error.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", required=True,
                   help="nccl-tests (text or JSON, told apart by content), osu, or imb (Intel MPI Benchmarks, "
                        "IMB-MPI1)")
    p.add_argument("--out", required=True,
                   help="the new run directory (one run), or a directory for one run directory per run")
    p.add_argument("--collective", help="when the log does not say (e.g. all_reduce); one, or one per FILE: a,b,... "
                                        "(empty where that file says it)")
    p.add_argument("--nranks", help="ranks that ran, when the log does not say; one, or one per FILE: 8,16,...")
    p.add_argument("--nnodes", help="nodes that ran, when the log does not say; one, or one per FILE: 1,,4")
    p.add_argument("--domain-size", type=int, default=None, metavar="N",
                   help="nodes per NVLink domain or rack of the cluster (GB300 NVL72: 18), filled in order: the fit "
                        "then tells the tiers inside a node, inside a domain and across domains")
    return p


def _per_file(args, name: str, n_files: int, kind=int) -> list:
    text = getattr(args, name)
    if text is None:
        return [None] * n_files
    values = [v.strip() for v in str(text).split(",")]
    if len(values) not in (1, n_files):
        raise UsageError(f"--{name} {text}: give one value, or one per file ({n_files})")
    out = []
    for v in values:
        if not v and len(values) > 1:  # --nnodes 1,,4: the second file's log says it
            out.append(None)
            continue
        if kind is int:
            if not v.isdigit() or int(v) < 1:
                raise UsageError(f"--{name} {v!r} must be a whole number, at least 1")
            v = int(v)
        out.append(v)
    return out * n_files if len(out) == 1 else out


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportOptions:
    files: tuple[Path, ...]
    format: str
    out: Path
    given: tuple[tuple, ...]
    """Per file: (collective, nranks, nnodes) from the flags, None where the log must say."""
    domain_size: int | None = None
    """Nodes per domain (--domain-size), None: the domains are unknown."""


def options(args) -> ImportOptions:
    from reports.importers import FORMATS
    if args.format not in FORMATS:
        raise UsageError(f"--format {args.format!r}: choose from {', '.join(FORMATS)}")
    paths = tuple(Path(f) for f in args.files)
    for path in paths:
        if not path.is_file():
            raise UsageError(f"{str(path)!r} is not a file: give the tool's output file")
    given = tuple(zip(_per_file(args, "collective", len(paths), str), _per_file(args, "nranks", len(paths)),
                      _per_file(args, "nnodes", len(paths))))
    if args.domain_size is not None and args.domain_size < 1:
        raise UsageError(f"--domain-size {args.domain_size}: a domain holds at least one node: give the nodes per "
                         f"NVLink domain or rack (GB300 NVL72: 18)")
    return ImportOptions(files=paths, format=args.format, out=Path(args.out), given=given,
                         domain_size=args.domain_size)


def _parse(path: Path, fmt: str, given: tuple) -> list[dict]:
    """The runs in one file; what the parser cannot read is a usage error naming the file."""
    from reports.importers import ImportFailure, parse
    collective, nranks, nnodes = given
    try:
        return parse(path, fmt, {"collective": collective, "nranks": nranks, "nnodes": nnodes})
    except ImportFailure as exc:
        raise UsageError(str(exc)) from None
    except KeyError as exc:  # a collective name commscale does not know
        raise UsageError(f"{path}: --collective: {exc.args[0]}") from None
    except (ValueError, IndexError, ZeroDivisionError) as exc:  # a layout no one has shown us yet
        raise UsageError(f"{path}: cannot read this log ({type(exc).__name__}: {exc}): check --format, or "
                         f"report the file so its layout can be added") from None


def _targets(out: Path, parsed: list) -> list[tuple]:
    """(file, run, directory) per run: --out itself for one run, else one directory per run
    under it, named after the file (and the run's label where a file holds several)."""
    from reports.importers import safe_name
    single = len(parsed) == 1 and len(parsed[0][1]) == 1
    targets, stems = [], {}
    for path, runs in parsed:
        stem = safe_name(path.stem)
        stems[stem] = stems.get(stem, 0) + 1
        if stems[stem] > 1:
            stem = f"{stem}-{stems[stem]}"
        for r in runs:
            targets.append((path, r, out if single else
                            out / (stem if len(runs) == 1 else r["label"] if len(parsed) == 1
                                   else f"{stem}-{r['label']}")))
    return targets


def _write(path: Path, r: dict, out: Path, now: str, domain_size: int | None = None) -> None:
    """One imported run: records.jsonl and meta.json, and what the importer noticed."""
    run_id = f"import-{r['meta']['sha256'][:12]}" + ("" if r["meta"]["runs_in_file"] == 1 else f"-{r['label']}")
    with RecordWriter(out) as writer:
        for fields in r["points"]:
            writer.write(make_record(run_id=run_id, timestamp=now, **domain_fields(fields, domain_size)))
    domains = {} if domain_size is None else {"domains": {"source": f"--domain-size {domain_size}",
                                                          "domain_size_nodes": domain_size}}
    write_meta(out, {"schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "complete", "started_at": now,
                     "finished_at": now, **r["meta"], **domains})
    for note in r.get("notes", []):
        print(f"# {path}: {note}")
    if r["warning"]:
        print(f"commscale: warning: {path}: {r['warning']}", file=sys.stderr)
    said = ", ".join(f"{'?' if v is None else v} {w if v == 1 else w + 's'}" for v, w in ((r["nranks"], "rank"),
                                                                                      (r["nnodes"], "node")))
    print(f"# imported {len(r['points'])} points ({r['collective']}, {said}) from {path} into {out}")


def run(args) -> int:
    opts = options(args)
    parsed = [(path, _parse(path, opts.format, given)) for path, given in zip(opts.files, opts.given)]
    targets = _targets(opts.out, parsed)
    outs = [check_out_dir(out, resumable=False) for _, _, out in targets]  # all refused before any is written
    now = now_utc()
    for (path, r, _), out in zip(targets, outs):
        _write(path, r, out, now, opts.domain_size)
    if not (len(parsed) == 1 and len(parsed[0][1]) == 1):
        print(f"# {len(outs)} runs under {args.out}: fit, report or compare them together with {args.out}/*")
    return EXIT_OK

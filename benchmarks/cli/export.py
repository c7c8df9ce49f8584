"""`commscale export RUN --to astra-sim|simai|calculon --out FILE`: the measured network of
RUN/model.json as a planning tool's input file (reports/exports/), with FILE.commscale.json
beside it (intervals, units, notes). docs/exports.md says what each target gets."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import EXIT_OK, UsageError
from ..outdirs import claim, say_written


def add_parser(sub):
    from reports.exports import TARGETS
    p = sub.add_parser("export", help="write model.json's network as ASTRA-sim, SimAI or Calculon input",
                       description="Carry the fitted network (tiers: alpha, bandwidth, intervals) of RUN/model.json "
                                   "(written by 'commscale fit RUN') into a planning tool's input file.")
    p.add_argument("run", metavar="RUN", help="a run directory holding model.json, or the model.json file")
    p.add_argument("--to", required=True, choices=TARGETS, help="the tool whose input to write")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the file to write; FILE.commscale.json gets the intervals and notes")
    p.add_argument("--collective", default="all_reduce", help="whose fit describes the network [all_reduce]")
    p.add_argument("--backend", help="which backend's fit, if model.json has several")
    p.add_argument("--dtype", help="which dtype's fit, if model.json has several")
    p.add_argument("--nodes", type=int, help="nodes the exported network spans [the largest measured]")
    p.add_argument("--force", action="store_true", help="replace FILE (and FILE.commscale.json) if there")
    return p


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportOptions:
    run: str
    target: str
    out: Path
    collective: str
    backend: str | None
    dtype: str | None
    nodes: int | None
    """None: the largest node count measured."""
    force: bool = False

    def __post_init__(self):
        if self.nodes is not None and self.nodes < 1:
            raise UsageError(f"--nodes {self.nodes} must be at least 1: e.g. --nodes 4")


def options(args) -> ExportOptions:
    return ExportOptions(run=args.run, target=args.to, out=Path(args.out), collective=args.collective,
                         backend=args.backend, dtype=args.dtype, nodes=args.nodes, force=args.force)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r} ({exc.strerror}): choose another --out") from None


def run(args) -> int:
    from reports.exports import SIDE_SUFFIX, ExportError, export, read_model
    opts = options(args)
    side = opts.out.with_name(opts.out.name + SIDE_SUFFIX)
    for path in (opts.out, side):
        claim(path, opts.force)
    try:
        model, path = read_model(opts.run)
        made = export(model, opts.target, opts.collective, opts.backend, opts.dtype, opts.nodes)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    _write(opts.out, made.text)
    _write(side, json.dumps({"model": str(path), "file": str(opts.out), **made.side}, indent=1) + "\n")
    for note in made.side["notes"]:
        print(f"# note: {note}")
    print(f"# export: {made.summary}; intervals and notes beside it")
    say_written(opts.out, side)
    return EXIT_OK

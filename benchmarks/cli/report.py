"""`commscale report RUN [RUN ...] --out DIR`: report.html, report.md, figures, summary.csv."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analysis.crossover import CROSSOVER_FILE
from ..analysis.plan import PLAN_FILE
from ..analysis.records import load_records
from ..errors import EXIT_OK, UsageError
from ..outdirs import analysis_out, claim, make_out_dir, say_written


def add_parser(sub):
    p = sub.add_parser("report", help="HTML and Markdown report, figures and summary CSV of runs",
                       description="Write report.html (self-contained), report.md, figures/*.png and summary.csv.")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run directories; a directory that crossover or plan wrote (crossover.json, plan.json) is "
                        "shown beside them")
    p.add_argument("--out", help="directory for the report [a new commscale-runs/report-<time>]")
    p.add_argument("--force", action="store_true", help="replace a report already in --out")
    p.add_argument("--scale-sizes", help="sizes for the busbw-vs-scale figure, e.g. 1M,64M [two per run]")
    return p


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportOptions:
    runs: tuple[str, ...]
    out: str
    force: bool
    scale_sizes: tuple[int, ...] | None
    """Sizes for the busbw-vs-scale figure; None: two per run."""


def options(args) -> ReportOptions:
    from collectives.sizes import parse_size
    try:
        sizes = tuple(parse_size(s) for s in args.scale_sizes.split(",")) if args.scale_sizes else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return ReportOptions(runs=tuple(args.runs), out=str(analysis_out("report", args.out)), force=args.force,
                         scale_sizes=sizes)


RESULT_FILES = (CROSSOVER_FILE, PLAN_FILE)
"""What crossover and plan write: a directory holding one (and no records) is shown beside the runs."""


def split_runs(paths) -> tuple[list[str], list[str]]:
    """(run directories, directories of crossover or plan results): `commscale report RUN
    commscale-runs/plan-<time>` shows the plan that `plan RUN` wrote outside the run."""
    from collectives.records import RECORDS_FILE
    runs, results = [], []
    for path in map(str, paths):
        p = Path(path)
        is_result = not (p / RECORDS_FILE).exists() and any((p / f).exists() for f in RESULT_FILES)
        (results if is_result else runs).append(path)
    if not runs:
        raise UsageError(f"no run among {', '.join(map(str, paths))}: give the run directories (records.jsonl) "
                         f"the crossover or plan was made from")
    return runs, results


def run(args) -> int:
    from reports.present.report import build_report
    args.runs, results = split_runs(args.runs)
    load_records(args.runs)  # every RUN must be a readable run: one-line errors otherwise
    opts = options(args)
    out = make_out_dir(opts.out)
    for name in ("report.html", "report.md", "summary.csv"):
        claim(out / name, opts.force)
    made = build_report(list(opts.runs), out, list(opts.scale_sizes) if opts.scale_sizes else None, results=results)
    print(f"# report: {len(made['figures'])} figures, inline in the HTML and in {made['html'].parent / 'figures'}")
    say_written(made["html"], made["md"], made["csv"])
    return EXIT_OK

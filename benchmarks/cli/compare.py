"""`commscale compare BASE NEW [NEW ...]`: ratios per aligned point, flagged beyond noise;
`--fail-on METRIC:THRESHOLD%` exits 1 on a regression (reports/runs/compare.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from collectives.sizes import format_size

from ..analysis.records import load_records
from ..errors import EXIT_OK, EXIT_WRONG_DATA, UsageError
from ..outdirs import make_out_dir


def add_parser(sub):
    p = sub.add_parser("compare", help="compare runs point by point; fail on a regression beyond noise",
                       description="Align NEW runs' points with BASE's and print new/base ratios; differences are "
                                   "flagged only beyond the points' own noise.")
    p.add_argument("base", metavar="BASE")
    p.add_argument("new", nargs="+", metavar="NEW")
    p.add_argument("--fail-on", action="append", default=[], metavar="METRIC:THRESHOLD%",
                   help="e.g. busbw_gbps:-5%% or time_us:+10%%; exit 1 if a point goes that far beyond noise "
                        "(repeatable; metrics time_us, busbw_gbps, algbw_gbps)")
    p.add_argument("--match", default=",".join(_default_match()),
                   help="fields that align points [collective,backend,fabric,dtype,size_bytes,nranks]")
    p.add_argument("--noise-floor-pct", type=float, default=2.0,
                   help="least noise assumed, and the spread of points that record none [2]")
    p.add_argument("--all", action="store_true", help="print every point, not only the flagged ones")
    p.add_argument("--out", help="directory for compare.csv")
    return p


def _default_match():
    from reports.runs.compare import DEFAULT_MATCH
    return DEFAULT_MATCH


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareOptions:
    base: str
    new: tuple[str, ...]
    fail_on: tuple[str, ...]
    """--fail-on rules as typed (the closing line repeats them)."""
    rules: tuple
    """The same, parsed (reports.runs.compare.parse_rule)."""
    match: tuple[str, ...]
    """Record fields that align points."""
    noise_floor_pct: float
    show_all: bool
    out: str | None


def options(args) -> CompareOptions:
    from collectives.records import FIELDS
    from reports.runs.compare import CompareError, parse_rule
    try:
        rules = tuple(parse_rule(r) for r in args.fail_on)
    except CompareError as exc:
        raise UsageError(str(exc)) from None
    match = tuple(f.strip() for f in args.match.split(",") if f.strip())
    bad = [f for f in match if f not in FIELDS]
    if not match or bad:
        raise UsageError(f"--match {args.match!r} names no record field {', '.join(bad)}: use fields such as "
                         f"collective,dtype,size_bytes,nranks")
    if args.noise_floor_pct < 0:
        raise UsageError("--noise-floor-pct must be 0 or more: use e.g. 2")
    return CompareOptions(base=args.base, new=tuple(args.new), fail_on=tuple(args.fail_on), rules=rules, match=match,
                          noise_floor_pct=args.noise_floor_pct, show_all=args.all, out=args.out)


def run(args) -> int:
    opts = options(args)
    base = load_records([opts.base])
    failed = sum(_compare_one(opts, base, new_run) for new_run in opts.new)
    if opts.rules:
        print(f"# --fail-on {' '.join(opts.fail_on)}: {failed} point(s) fail" + ("" if failed else ", none regressed"))
    return EXIT_WRONG_DATA if failed else EXIT_OK


def _compare_one(opts: CompareOptions, base, new_run: str) -> int:
    """Compare one NEW run with BASE, print it (and write its CSV); the points that fail."""
    from reports.runs.compare import CompareError, compare, describe_keys, failures, one_sided
    match = opts.match
    new = load_records([new_run])
    try:
        table = compare(base, new, match, opts.noise_floor_pct)
    except CompareError as exc:
        raise UsageError(f"{new_run}: {exc}") from None
    only_base, only_new = one_sided(base, new, match)
    bad_rows = failures(table, opts.rules)
    counts = table["verdict"].value_counts().to_dict()
    print(f"# compare {new_run} against {opts.base}: {len(table)} point-metrics aligned on {', '.join(match)}; "
          f"{counts.get('worse', 0)} worse, {counts.get('better', 0)} better, {counts.get('same', 0)} within noise")
    if only_base or only_new:
        print(f"# not compared: {describe_keys(only_base)} only in BASE, {describe_keys(only_new)} only in NEW "
              f"(by {match[0]}; --all lists them)")
        if opts.show_all:
            for side, keys in (("BASE", only_base), ("NEW", only_new)):
                for key in keys:
                    print(f"  only in {side}: " + ", ".join(f"{f}={v}" for f, v in zip(match, key)))
    shown = table if opts.show_all else table[table["verdict"] != "same"]
    if not shown.empty:
        _print_rows(shown, match, bad_rows)
    if opts.out:
        table.to_csv(make_out_dir(opts.out) / f"compare-{Path(new_run).name}.csv", index=False)
    return len(bad_rows)


def _print_rows(shown, match, bad_rows) -> None:
    print("# " + "  ".join(f"{c:<14}" for c in (*match[:2], "size", "ranks")) +
          f" {'metric':<11} {'base':>10} {'new':>10} {'ratio':>7} {'change%':>8} {'noise%':>7}  verdict")
    for _, r in shown.iterrows():
        size = format_size(int(r["size_bytes"])) if "size_bytes" in r else "-"
        ranks = str(r.get("nranks", "-"))
        flag = "  FAIL" if r.name in bad_rows.index else ""
        print(f"  {str(r[match[0]]):<14}  {str(r[match[1]]) if len(match) > 1 else '-':<14}  {size:<14}  "
              f"{ranks:<14} {r['metric']:<11} {r['base']:10.4g} {r['new']:10.4g} {r['ratio']:7.3f} "
              f"{r['change_pct']:+8.1f} {r['noise_pct']:7.1f}  {r['verdict']}{flag}")

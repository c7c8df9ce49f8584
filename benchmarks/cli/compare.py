"""`commscale compare BASE NEW [NEW ...]` (each NEW against BASE) or `commscale compare --base A
[--base B ...] --new C [--new D ...]` (several runs a side, pooled): per point and per collective,
on one statistic, beyond a measured noise model; `--fail-on METRIC:THRESHOLD%` exits 1 when a
collective regressed that far beyond noise (reports/runs/compare.py, docs/compare.md)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from collectives.sizes import format_size

from ..analysis.records import load_records
from ..errors import EXIT_OK, EXIT_WRONG_DATA, UsageError
from ..outdirs import claim, make_out_dir, say_written


def add_parser(sub):
    p = sub.add_parser("compare", help="compare runs per point and per collective; fail on a regression beyond noise",
                       usage="commscale compare BASE NEW [NEW ...] | --base RUN [--base RUN ...] --new RUN "
                             "[--new RUN ...]  [options]",
                       description="Align NEW runs' points with BASE's on one statistic (time and bandwidths from "
                                   "it); print the points beyond noise, a verdict per collective, and a last line "
                                   "PASS or FAIL. Exit 1: a collective regressed beyond noise and a --fail-on "
                                   "threshold. docs/compare.md")
    p.add_argument("runs", nargs="*", metavar="RUN", help="BASE, then NEW runs each compared with BASE")
    p.add_argument("--base", action="append", default=[], metavar="RUN",
                   help="a base run; repeat for several, pooled (then give NEW runs with --new)")
    p.add_argument("--new", action="append", default=[], metavar="RUN", help="a new run; repeat for several, pooled")
    p.add_argument("--fail-on", action="append", default=[], metavar="METRIC:THRESHOLD%",
                   help="e.g. time_us:+5%% or busbw_gbps:-5%%; exit 1 if a collective's median change goes that far "
                        "and beyond noise (repeatable; metrics time_us, busbw_gbps, algbw_gbps)")
    p.add_argument("--statistic", default=None, metavar="STAT",
                   help="per point: min, median or mean of the timed calls; bandwidths follow it [min: measured the "
                        "most repeatable, docs/compare.md]")
    p.add_argument("--match", default=",".join(_default_match()),
                   help="fields that align points [collective,backend,fabric,dtype,size_bytes,nranks]")
    p.add_argument("--noise-floor-pct", type=float, default=None,
                   help="least noise of a point, and the spread of points that record none [measured: docs/compare.md]")
    p.add_argument("--collective-floor-pct", type=float, default=None,
                   help="least half-width of a collective's interval [measured: docs/compare.md]")
    p.add_argument("--all", action="store_true", help="print every point, not only those beyond noise")
    p.add_argument("--out", help="directory for compare-NEW.csv (one row per point and metric) [none written]")
    p.add_argument("--force", action="store_true", help="replace a compare-NEW.csv already in --out")
    return p


def _default_match():
    from reports.runs.compare import DEFAULT_MATCH
    return DEFAULT_MATCH


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareOptions:
    base: tuple[str, ...]
    """The base side: one run, or several pooled."""
    new: tuple[tuple[str, ...], ...]
    """Each comparison's new side: one run each (BASE NEW NEW), or one pooled side (--new)."""
    fail_on: tuple[str, ...]
    """--fail-on rules as typed (the closing line repeats them)."""
    rules: tuple
    """The same, parsed (reports.runs.compare.parse_rule)."""
    match: tuple[str, ...]
    """Record fields that align points."""
    noise: object
    """reports.runs.compare.NoiseModel: the statistic and the noise floors."""
    show_all: bool
    out: str | None
    force: bool = False


def _sides(args) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    if args.base or args.new:
        if args.runs or not args.base or not args.new:
            raise UsageError("give runs either as BASE NEW [NEW ...] or as --base RUN [--base RUN ...] --new RUN "
                             "[--new RUN ...], not both: e.g. compare --base a --base b --new c --new d")
        return tuple(args.base), (tuple(args.new),)
    if len(args.runs) < 2:
        raise UsageError("compare needs a BASE run and a NEW run: commscale compare BASE NEW, or --base RUN --new RUN")
    return (args.runs[0],), tuple((r,) for r in args.runs[1:])


def options(args) -> CompareOptions:
    from collectives.records import FIELDS
    from reports.runs.compare import DEFAULT_STATISTIC, CompareError, NoiseModel, parse_rule
    base, new = _sides(args)
    try:
        rules = tuple(parse_rule(r) for r in args.fail_on)
        noise = NoiseModel.default(args.statistic or DEFAULT_STATISTIC, min(len(base), *(len(n) for n in new)),
                                   point_floor_pct=args.noise_floor_pct, collective_floor_pct=args.collective_floor_pct)
    except CompareError as exc:
        raise UsageError(str(exc).replace("statistic", "--statistic", 1)) from None
    match = tuple(f.strip() for f in args.match.split(",") if f.strip())
    bad = [f for f in match if f not in FIELDS]
    if not match or bad:
        raise UsageError(f"--match {args.match!r} names no record field {', '.join(bad)}: use fields such as "
                         f"collective,dtype,size_bytes,nranks")
    for flag, value in (("--noise-floor-pct", args.noise_floor_pct),
                        ("--collective-floor-pct", args.collective_floor_pct)):
        if value is not None and value < 0:
            raise UsageError(f"{flag} must be 0 or more: use e.g. 10")
    return CompareOptions(base=base, new=new, fail_on=tuple(args.fail_on), rules=rules, match=match, noise=noise,
                          show_all=args.all, out=args.out, force=args.force)


def _csv_path(opts: CompareOptions, new_runs: tuple[str, ...]) -> Path:
    return Path(opts.out) / f"compare-{Path(new_runs[0]).name}.csv"


def run(args) -> int:
    opts = options(args)
    if opts.out:  # every CSV checked before anything is compared
        for side in opts.new:
            claim(_csv_path(opts, side), opts.force)
    base = [load_records([b]) for b in opts.base]
    tallies = [_compare_one(opts, base, side) for side in opts.new]
    regressed = [name for t in tallies for name in t["regressed"]]
    counts = {k: sum(t[k] for t in tallies) for k in ("collectives", "points", "flagged")}
    line = (f"{len(regressed)} of {counts['collectives']} collectives regressed, {counts['flagged']} of "
            f"{counts['points']} points beyond noise ({len(tallies)} comparison{'s' if len(tallies) > 1 else ''})")
    if not opts.rules:
        print(f"PASS: {line}; no --fail-on rule given, so compare only reports (gate with e.g. --fail-on time_us:+5%)")
        return EXIT_OK
    rules = " ".join(opts.fail_on)
    if regressed:
        print(f"FAIL: {line}, beyond noise and --fail-on {rules}: {', '.join(regressed)}")
        return EXIT_WRONG_DATA
    print(f"PASS: {line}; none regressed beyond noise and --fail-on {rules}")
    return EXIT_OK


def _compare_one(opts: CompareOptions, base, new_runs: tuple[str, ...]) -> dict:
    """Compare one NEW side with BASE, print it (and write its CSV); its tallies."""
    from reports.runs.compare import CompareError, collective_verdicts, compare_points, describe_keys, long_form, \
        one_sided
    new = [load_records([n]) for n in new_runs]
    try:
        cmp = compare_points(base, new, opts.match, opts.noise)
    except CompareError as exc:
        raise UsageError(f"{', '.join(new_runs)}: {exc}") from None
    verdicts = collective_verdicts(cmp, opts.rules)
    _print_header(opts, cmp, new_runs)
    only_base, only_new = one_sided(base, new, opts.match)
    if only_base or only_new:
        print(f"# not compared: {describe_keys(only_base)} only in BASE, {describe_keys(only_new)} only in NEW "
              f"(by {opts.match[0]}; --all lists them)")
        if opts.show_all:
            for side, keys in (("BASE", only_base), ("NEW", only_new)):
                for key in keys:
                    print(f"  only in {side}: " + ", ".join(f"{f}={v}" for f, v in zip(opts.match, key)))
    points = cmp.points
    shown = points if opts.show_all else points[points["verdict"] != "same"]
    _print_points(shown, opts.match, len(points))
    _print_collectives(verdicts)
    if opts.out:
        make_out_dir(opts.out)
        path = _csv_path(opts, new_runs)
        long_form(cmp).to_csv(path, index=False)
        say_written(path)
    return {"collectives": len(verdicts), "points": len(points), "flagged": int((points["verdict"] != "same").sum()),
            "regressed": [name for name, v in zip(_labels(verdicts), verdicts) if v.verdict == "regressed"]}


def _print_header(opts: CompareOptions, cmp, new_runs) -> None:
    noise, stat = opts.noise, opts.noise.statistic
    kb, kn = cmp.runs
    fallback = int(cmp.points["fallback"].sum())
    print(f"# compare {', '.join(new_runs)} against {', '.join(opts.base)} (runs: {kb} base, {kn} new): "
          f"{len(cmp.points)} points aligned on {', '.join(opts.match)}")
    print(f"# statistic: the {stat} time of each point's timed calls (time_us_{stat}"
          + (f"; the mean for {fallback} points whose records have no {stat}" if fallback else "") +
          f"); busbw_gbps and algbw_gbps from it (the record's, x time_us_mean / time_us_{stat}), so time and "
          f"bandwidth changes always agree in sign")
    several = min(kb, kn) >= 3
    runs = f", the runs' spread (t interval{', robust: MAD' if several else ''})" if kb + kn > 2 else ""
    levels = "; a side's point is the median over its runs" if several else \
        (", the t interval of the runs' levels" if kb + kn > 2 else "")
    print(f"# noise: a point is beyond noise past the largest of {noise.point_floor_pct:g}%, "
          f"{noise.ci_scale:g} x its two medians' 95% intervals combined{runs}; a collective when 0 lies outside its "
          f"interval: the sign-test 95% interval of its points' median change, at least +-"
          f"{noise.collective_floor_pct:g}%{levels} (floors measured: docs/compare.md)")


def _print_points(shown, match, total: int) -> None:
    print(f"# points beyond noise: {int((shown['verdict'] != 'same').sum())} of {total}"
          + ("" if len(shown) else " (--all prints every point)"))
    if shown.empty:
        return
    print(f"# {match[0]:<15} {'size':>9} {'ranks':>5} {'time_us base':>12} {'new':>10} {'change%':>8} "
          f"{'busbw_gbps base':>15} {'new':>9} {'change%':>8} {'noise%':>7}  verdict")
    from reports.runs.compare import change_pct
    for _, r in shown.iterrows():
        size = format_size(int(r["size_bytes"])) if "size_bytes" in r else "-"
        print(f"  {str(r[match[0]]):<15} {size:>9} {str(r.get('nranks', '-')):>5} {r['time_us_base']:12.4g} "
              f"{r['time_us_new']:10.4g} {change_pct(r['log_ratio'], 'time_us'):+8.1f} {r['busbw_gbps_base']:15.4g} "
              f"{r['busbw_gbps_new']:9.4g} {change_pct(r['log_ratio'], 'busbw_gbps'):+8.1f} {r['noise_pct']:7.1f}  "
              f"{r['verdict']}")


def _labels(verdicts) -> list[str]:
    """Each collective's name, with the other match fields that differ between them (dtype ...)."""
    varying = [i for i in range(1, len(verdicts[0].key)) if len({v.key[i] for v in verdicts}) > 1] if verdicts else []
    return ["/".join(str(v.key[i]) for i in [0, *varying]) if v.key else "all" for v in verdicts]


def _print_collectives(verdicts) -> None:
    print("# per collective: the median change over its points, its 95% interval, the verdict")
    print(f"# {'collective':<15} {'points':>6} {'time_us change%':>15} {'interval%':>17} {'busbw_gbps change%':>18}"
          f"  verdict")
    for name, v in zip(_labels(verdicts), verdicts):
        lo, hi = v.interval_pct("time_us")
        why = f" ({', '.join(v.failed_rules)})" if v.failed_rules else ""
        print(f"  {name:<15} {v.n_points:>6} {v.change_pct('time_us'):+15.1f} "
              f"{f'[{lo:+.1f}, {hi:+.1f}]':>17} {v.change_pct('busbw_gbps'):+18.1f}  {v.verdict}{why}")

"""`commscale fit RUN [RUN ...]`: fit the scaling model (reports/fit.py) and write model.json."""
from __future__ import annotations

from pathlib import Path

from .config import make_out_dir
from .errors import EXIT_OK, UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("fit", help="fit the scaling model to runs; write model.json",
                       description="Fit T(n, p) = alpha A(p) + n B(p) / bandwidth per collective, backend, "
                                   "fabric and dtype (families, regimes, bootstrap intervals, held-out error).")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (records.jsonl), fitted together")
    p.add_argument("--out", help="directory for model.json [the first RUN]")
    p.add_argument("--each", action="store_true", help="fit every RUN on its own, model.json in each")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap samples for the intervals [1000]")


def load_records(runs):
    """Records of these runs as one DataFrame; bad directories are usage errors."""
    from reports.load import load_runs
    for run in runs:
        if not (Path(run) / "records.jsonl").is_file():
            raise UsageError(f"{run!r} holds no records.jsonl: give a run directory written by commscale run or dryrun")
    try:
        return load_runs(runs)
    except ValueError as exc:
        raise UsageError(f"{exc}: repair or remove that line") from None


def why_nothing(df) -> str:
    """Why no key could be fitted, in the user's terms."""
    from collectives.registry import COLLECTIVES
    ok = df[df["status"] == "ok"]
    if len(ok) and ok["nranks"].isna().all():
        return ("the rank count of every record is unknown (imported from a log that does not say it): "
                "import again with --nranks N")
    foreign = sorted(set(ok["collective"]) - set(COLLECTIVES))
    if foreign and set(ok["collective"]) <= set(foreign):
        return (f"commscale has no cost model for {', '.join(foreign)} (it imports and reports them): "
                f"fit runs of {', '.join(COLLECTIVES)}")
    sized = ok[(ok["size_bytes"].fillna(0) > 0) & (ok["nranks"].fillna(0) >= 2)]
    most = int(sized.groupby("collective")["size_bytes"].nunique().max()) if len(sized) else 0
    if most < 3:
        return (f"{most} size{'s' if most != 1 else ''} above 0 bytes at 2 or more ranks: a fit needs 3 or more per "
                f"collective, or several rank counts (fit a node-count series together: fit A B C): sweep more "
                f"sizes (-b/-e)")
    return ("a fit needs 'ok' records at 2 or more ranks and 3 or more sizes above 0 bytes per collective: "
            "sweep more sizes (-b/-e) or group sizes")


def fit_runs(runs, out, samples):
    """Fit, write OUT/model.json, print the tables; returns (fits, hierarchical fits)."""
    from reports.fit import fit_frame, fit_hierarchical
    from reports.model import fit_entries, format_fits, format_hier, hier_entries, write_model
    df = load_records(runs)
    fits, hier = fit_frame(df, samples), fit_hierarchical(df, samples)
    if not fits:
        raise UsageError(f"nothing to fit in {', '.join(map(str, runs))}: {why_nothing(df)}")
    path = write_model(out, runs, fits, hier, samples)
    print(f"# scaling model of {', '.join(map(str, runs))}: T = alpha A(p) + n B(p) / bw, "
          f"fitted on time_us_median, relative error, {samples} bootstrap samples")
    print(format_fits(fit_entries(fits)))
    table = format_hier(hier_entries(hier))
    if table:
        print(table)
    print(f"# model: {path}")
    return fits, hier


def run(args) -> int:
    if args.bootstrap < 10:
        raise UsageError(f"--bootstrap {args.bootstrap} is too few for an interval: use 100 or more")
    if args.each:
        if args.out:
            raise UsageError("--each writes model.json into every RUN: drop --out")
        for run_dir in args.runs:
            fit_runs([run_dir], run_dir, args.bootstrap)
        return EXIT_OK
    fit_runs(args.runs, make_out_dir(args.out or args.runs[0]), args.bootstrap)
    return EXIT_OK

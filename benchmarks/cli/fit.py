"""`commscale fit RUN [RUN ...]`: fit the scaling model (reports/fit.py) and write model.json."""
from __future__ import annotations

from ..analysis.fit import BOOTSTRAP, check_bootstrap, fit_runs
from ..errors import EXIT_OK, UsageError
from ..outdirs import make_out_dir


def add_parser(sub):
    p = sub.add_parser("fit", help="fit the scaling model to runs; write model.json",
                       description="Fit T(n, p) = alpha A(p) + n B(p) / bandwidth per collective, backend, "
                                   "fabric and dtype (families, regimes, bootstrap intervals, held-out error).")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (records.jsonl), fitted together")
    p.add_argument("--out", help="directory for model.json [the first RUN]")
    p.add_argument("--each", action="store_true", help="fit every RUN on its own, model.json in each")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP,
                   help=f"bootstrap samples for the intervals [{BOOTSTRAP}]")
    return p


def run(args) -> int:
    samples = check_bootstrap(args.bootstrap)
    if args.each:
        if args.out:
            raise UsageError("--each writes model.json into every RUN: drop --out")
        for run_dir in args.runs:
            fit_runs([run_dir], run_dir, samples)
        return EXIT_OK
    fit_runs(args.runs, make_out_dir(args.out or args.runs[0]), samples)
    return EXIT_OK

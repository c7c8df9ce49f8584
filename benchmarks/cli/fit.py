"""`commscale fit RUN [RUN ...]`: fit the scaling model (reports/model/fit.py) and write model.json."""
from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True, kw_only=True)
class FitOptions:
    runs: tuple[str, ...]
    out: str | None
    """Directory for model.json; None: the first run (with each: every run)."""
    each: bool
    bootstrap: int

    def __post_init__(self):
        check_bootstrap(self.bootstrap)
        if self.each and self.out:
            raise UsageError("--each writes model.json into every RUN: drop --out")


def run(args) -> int:
    opts = FitOptions(runs=tuple(args.runs), out=args.out, each=args.each, bootstrap=args.bootstrap)
    if opts.each:
        for run_dir in opts.runs:
            fit_runs([run_dir], run_dir, opts.bootstrap)
        return EXIT_OK
    fit_runs(list(opts.runs), make_out_dir(opts.out or opts.runs[0]), opts.bootstrap)
    return EXIT_OK

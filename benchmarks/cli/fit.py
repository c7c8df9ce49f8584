"""`commscale fit RUN [RUN ...]`: fit the scaling model (reports/model/fit.py) and write model.json."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analysis.fit import BOOTSTRAP, check_bootstrap, fit_runs
from ..errors import EXIT_OK, UsageError
from ..outdirs import analysis_out, claim, make_out_dir


def add_parser(sub):
    p = sub.add_parser("fit", help="fit the scaling model to runs; write model.json",
                       description="Fit T(n, p) = alpha A(p) + n B(p) / bandwidth per collective, backend, "
                                   "fabric and dtype (families, regimes, bootstrap intervals, held-out error).")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (records.jsonl), fitted together")
    p.add_argument("--out", help="directory for model.json [a new commscale-runs/fit-<time>]")
    p.add_argument("--each", action="store_true", help="fit every RUN on its own, model.json in each RUN")
    p.add_argument("--force", action="store_true", help="replace a model.json already there")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP,
                   help=f"bootstrap samples for the intervals [{BOOTSTRAP}]")
    return p


@dataclass(frozen=True, slots=True, kw_only=True)
class FitOptions:
    runs: tuple[str, ...]
    out: str | None
    """Directory for model.json; None: a new commscale-runs/fit-<time> (with each: every run)."""
    each: bool
    bootstrap: int
    force: bool = False
    """Replace a model.json already in the directory."""

    def __post_init__(self):
        check_bootstrap(self.bootstrap)
        if self.each and self.out:
            raise UsageError("--each writes model.json into every RUN: drop --out")


def run(args) -> int:
    from reports.model.store import MODEL_FILE
    opts = FitOptions(runs=tuple(args.runs), out=args.out, each=args.each, bootstrap=args.bootstrap,
                      force=args.force)
    if opts.each:
        jobs = [([run_dir], Path(run_dir)) for run_dir in opts.runs]
    else:
        jobs = [(list(opts.runs), analysis_out("fit", opts.out))]
    for _, place in jobs:  # every target checked before anything is fitted
        claim(place / MODEL_FILE, opts.force)
    for runs, place in jobs:
        fit_runs(runs, make_out_dir(place), opts.bootstrap)
    return EXIT_OK

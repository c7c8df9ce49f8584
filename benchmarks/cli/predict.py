"""`commscale predict RUN... --nodes N[,N...]`: time and busbw at node counts (and sizes)
not measured, with predictive intervals (reports/model/predict.py)."""
from __future__ import annotations

from ..analysis.predict import PredictOptions, run_predict
from ..errors import EXIT_OK, UsageError


def add_parser(sub):
    from collectives.registry import COLLECTIVES
    p = sub.add_parser("predict", help="time and busbw at node counts not measured, with predictive intervals",
                       description="Predict each key's time and busbw at --nodes (and --size) from runs at other "
                                   "node counts: a scale trend per size, a predictive interval that includes the "
                                   "model's error (docs/model.md#predictions).")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (records.jsonl), taken together")
    p.add_argument("--nodes", required=True, help="node counts to predict, comma-separated: 64 or 32,64,128")
    p.add_argument("--size", help="sizes, comma-separated (64M,1G) [the largest size measured]")
    p.add_argument("--collective", help=f"one collective ({', '.join(COLLECTIVES)}) [every one measured]")
    p.add_argument("--place", choices=("in", "out"), help="in-place or out-of-place records only [both]")
    p.add_argument("--ranks-per-node", type=int, help="ranks (GPUs) per node [the runs']")
    p.add_argument("--level", type=float, default=0.9, help="the intervals' level [0.9]")
    p.add_argument("--json", action="store_true", help="a JSON list of predictions instead of the table")
    return p


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"{flag} {text}: give whole numbers separated by commas, e.g. {flag} 32,64") from None


def _sizes(text: str | None) -> tuple[int, ...]:
    from collectives.sizes import parse_size
    if not text:
        return ()
    try:
        return tuple(parse_size(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise UsageError(f"--size: {exc}") from None


def run(args) -> int:
    opts = PredictOptions(runs=tuple(args.runs), nodes=_ints(args.nodes, "--nodes"), sizes=_sizes(args.size),
                          collective=args.collective, place=args.place, ranks_per_node=args.ranks_per_node,
                          level=args.level, as_json=args.json)
    run_predict(opts)
    return EXIT_OK

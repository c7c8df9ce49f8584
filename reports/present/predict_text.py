"""predict's printed table (format_predictions), from reports/model/predict.py's
Predictions. docs/model.md (predictions)."""
from __future__ import annotations

from .format import num, size


def _num(x) -> str:
    return "unbounded" if x is None else num(x, 4)


def format_predictions(preds: list) -> str:
    level = preds[0].level if preds else 0.9
    head = (f"# predictions at {level:.0%}: time and busbw with predictive intervals (model error included); "
            f"x = nodes over the largest measured in the tier")
    lines = [head, f"{'collective':<14} {'place':<5} {'nodes':>6} {'ranks':>6} {'size':>10} {'time_us':>11} "
                   f"{'busbw_gbps':>10} {'busbw interval':>22} {'x':>6} {'tier':<13} basis"]
    for p in preds:
        lo, hi = p.busbw_interval_gbps
        place = {True: "in", False: "out"}.get(p.in_place, "-")
        lines.append(f"{p.collective:<14} {place:<5} {p.nodes:>6} {p.nranks:>6} {size(p.size_bytes):>10} "
                     f"{_num(p.time_us):>11} {_num(p.busbw_gbps):>10} {f'[{_num(lo)}, {_num(hi)}]':>22} "
                     f"{p.extrapolation:>6.3g} {p.tier:<13} {p.basis}; {p.method}; interval: {p.interval_from}")
        if p.warning:
            lines.append(f"  warning: {p.warning}")
    return "\n".join(lines)

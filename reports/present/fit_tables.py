"""The verbs' printed tables of a fit: format_fits (one line per regime of each key) and
format_hier (one line per tier of each tiered fit), from model.json's entries.
docs/model.md (`commscale fit`) shows them."""
from __future__ import annotations

from collectives.sizes import format_size
from reports.model.fit import REACHED

from .format import fixed, interval, num


def format_fits(entries: list[dict]) -> str:
    head = (f"# {'collective':<15} {'backend':<7} {'fabric':<12} {'dtype':<8} {'place':<5} {'reg':>3} {'sizes':>19} "
            f"{'family':<18} {'alpha_us':>8} {'alpha_us_ci95':>21} {'bw_gbps':>8} {'busbw_asymptote':>15} "
            f"{'busbw_asym_ci95':>21} {'peak busbw@size':>17} {'R2':>6} {'MAPE%':>6} {'heldout%':>16} {'pts':>4}")
    lines = [head]
    for e in entries:
        asymptote = num(e["busbw_asymptote_gbps"]) + ("" if e.get("busbw_asymptote_reached", True) else "*")
        sizes = f"{format_size(e['size_bytes_min'])}-{format_size(e['size_bytes_max'])}"
        place = {True: "in", False: "out"}.get(e.get("in_place"), "-") + ("/b" if e.get("timing") == "batch" else "")
        peak = f"{num(e['peak_busbw_gbps'])}@{format_size(e['peak_at_size_bytes'])}"
        lines.append(
            f"  {e['collective']:<15} {e['backend']:<7} {e['fabric']:<12} {e['dtype']:<8} {place:<5} {e['regime']:>3} "
            f"{sizes:>19} {e['family']:<18} {num(e['alpha_us']):>8} {interval(e['alpha_us_ci'], compact=True):>21} "
            f"{num(e['bandwidth_gbps']):>8} {asymptote:>15} {interval(e['busbw_asymptote_gbps_ci'], compact=True):>21} "
            f"{peak:>17} {fixed(e['r2'], 3):>6} {fixed(e['mape_pct'], 1):>6} {heldout_words(e):>16} "
            f"{e['points']:>4}")
    if not all(e.get("busbw_asymptote_reached", True) for e in entries):
        lines.append(f"# * asymptote not reached: the regime's largest size is latency-bound (its busbw there under "
                     f"asymptote / {REACHED:g}); the value extrapolates past the measured sizes")
    return "\n".join(lines)


def heldout_words(e: dict) -> str:
    """'12.3%@8<2,4': the error predicting 8 ranks from a fit on 2 and 4; '-' when nothing
    was held out (one rank count)."""
    if e.get("heldout_mape_pct") is None:
        return "-"
    return f"{e['heldout_mape_pct']:.1f}%@{e['heldout_nranks']}<{','.join(map(str, e['heldout_from_nranks']))}"


def format_hier(entries: list[dict]) -> str:
    """One line per tier of each size regime of each tiered fit: its kind, alpha, bandwidth
    with interval, and the node counts that measured it."""
    if not entries:
        return ""
    lines = [f"# hierarchical tiers: {'collective':<15} {'backend':<7} {'G':>3} {'sizes':>19} {'family':<18} "
             f"{'tier':<13} {'kind':<6} {'alpha_us':>9} {'bw_gbps':>9} {'bw_gbps_ci95':>21} {'nodes':<12} "
             f"{'MAPE%':>6} {'heldout%':>8}"]
    for e in entries:
        held = "-" if e["heldout_mape_pct"] is None else f"{e['heldout_mape_pct']:.1f}@{e['heldout_nnodes']}"
        first = True
        for r in e["size_regimes"]:
            sizes = f"{format_size(r['size_bytes_min'])}-{format_size(r['size_bytes_max'])}"
            for i, tier in enumerate(r["tiers"]):
                kind = {"nodes": "B(q)", "ranks": "B(Q)"}.get(tier["scales_with"], "B(G)")
                head = f"{e['collective']:<15} {e['backend']:<7} {e['ranks_per_node']:>3}" if first else " " * 27
                what = f"{sizes:>19} {r['family']:<18}" if i == 0 else " " * 38
                tail = f"{fixed(e['mape_pct'], 1):>6} {held:>8}" if first else ""
                lines.append(f"  {'':<6} {head} {what} {tier['name']:<13} {kind:<6} {num(tier['alpha_us']):>9} "
                             f"{num(tier['bandwidth_gbps']):>9} {interval(tier['bandwidth_gbps_ci'], compact=True):>21} "
                             f"{','.join(map(str, tier['nnodes'])):<12} {tail}".rstrip())
                first = False
        if e.get("domain_size_nodes"):
            lines.append(f"  {'':<6} {'':<27} (domain: {e['domain_size_nodes']} nodes; B(q): tier by tier, "
                         f"B(Q): flat over every rank under the tier)")
    return "\n".join(lines)

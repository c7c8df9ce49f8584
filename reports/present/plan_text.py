"""plan's printed table (format_plan), its table and sentence in the report (plan_view,
plan_sentence), from its typed result. docs/plan.md explains the columns."""
from __future__ import annotations

import pandas as pd

from reports.planning.llm import KINDS_ORDER
from reports.planning.results import EXTRAPOLATED, MEASURED, PlanResult

from .format import MISSING, interval, num, percent


def format_plan(res: PlanResult) -> str:
    w = res.workload
    lines = [f"# plan: {w['name']} ({res.params['total'] / 1e9:.3g}B parameters; tp {w['tp']} pp {w['pp']} "
             f"ep {w['ep']}, global batch {w['global_batch']} x {w['seq']} tokens, micro-batch {w['micro_batch']}, "
             f"zero {w['zero']}, recompute {w['recompute']}{', sequence parallel' if w['sequence_parallel'] else ''})",
             f"# compute {res.compute_tflops:.4g} TFLOP/s per GPU (MFU against {res.peak_tflops:.4g}), "
             f"{res.gpus_per_node} GPUs and {res.rails} network rail(s) per node; measured up to "
             f"{res.measured_nodes} node(s)"]
    for name, m in res.models.items():
        stand = f" (not measured: priced as {m['factor']:g} x {m['priced_as']})" if m["priced_as"] else ""
        lines.append(f"# {name}: {m['model']}{stand}")
    head = f"# {'nodes':>6} {'dp':>5} {'m':>5} {'compute_ms':>10}"
    for k in KINDS_ORDER:
        head += f" {k + ' ms (exp)':>19}"
    lines.append(head + f" {'bubble':>6} {'step_ms':>9} {'step_ms_ci95':>19} {'tokens/s':>10} {'TFLOP/s':>8} "
                        f"{'MFU':>6}")
    for r in res.rows:
        if not r.fits:
            lines.append(f"  {r.nnodes:>6}  -- {r.problem}")
            continue
        line = f"  {r.nnodes:>6} {r.dp:>5} {r.microbatches:>5} {r.compute_ms:10.4g}"
        for k in KINDS_ORDER:
            c = r.kinds.get(k)
            line += f" {'-':>19}" if c is None else f" {c.comm_ms:>9.4g} ({c.exposed_ms:>7.3g})"
        ci = interval(r.step_ms_ci, 4, compact=True)
        lines.append(line + f" {r.bubble:6.3f} {r.step_ms:9.4g} {ci:>19} {r.tokens_per_s:10.4g} "
                            f"{r.tflops_per_gpu:8.4g} {r.mfu:6.1%}")
    for k, f in res.first.items():
        over = f"from {f['exceeds_window_nodes']} node(s)" if f["exceeds_window_nodes"] else "at none of these scales"
        shown = f"from {f['exposed_nodes']} node(s)" if f["exposed_nodes"] else "at none"
        lines.append(f"# {k}: longer than the compute it can hide under {over}; exposed {shown} "
                     f"(overlap {w['overlap'][k]:g})")
    return "\n".join(lines)


def plan_view(res: PlanResult):
    """The report's table: one row per node count."""
    rows = []
    for r in res.rows:
        if not r.fits:
            continue
        row = {"nodes": r.nnodes, "dp": r.dp, "micro-batches": r.microbatches, "compute_ms": r.compute_ms}
        for k in KINDS_ORDER:
            c = r.kinds.get(k)
            row[f"{k} ms (exposed)"] = MISSING if c is None else f"{num(c.comm_ms, 4)} ({num(c.exposed_ms)})"
        row.update({"bubble": r.bubble, "step_ms": r.step_ms,
                    "step_ms 95%": interval(r.step_ms_ci, 4),
                    "tokens/s": r.tokens_per_s, "MFU": percent(r.mfu),
                    "source": MEASURED if r.nnodes <= res.measured_nodes else EXTRAPOLATED})
        rows.append(row)
    return pd.DataFrame(rows)


def plan_sentence(res: PlanResult) -> str:
    """The plan in one sentence, after the report's "Training plan" label: the workload, the
    first communication past its window, and the MFU across the scales."""
    name, first = res.workload["name"], res.first
    over = sorted((f["exceeds_window_nodes"], k) for k, f in first.items() if f["exceeds_window_nodes"])
    ok = res.fitting_rows
    if not ok:
        return f"{name}: the layout fits none of the node counts asked for"
    lead = (f"{over[0][1]} communication is the first to outgrow the compute it can hide under, from "
            f"{over[0][0]} node(s)" if over else "no communication outgrows the compute it can hide under")
    return (f"{name}: {lead}; MFU {ok[0].mfu:.0%} at {ok[0].nnodes} node(s), "
            f"{ok[-1].mfu:.0%} at {ok[-1].nnodes} (measured up to {res.measured_nodes} node(s))")

"""The dry run's terminal in brief (its tables go to files; `dryrun -v` prints them): one or
a few lines per step, built from the same results and sentences the full text prints."""
from __future__ import annotations

from ..planning.results import CrossoverResult, PlanResult
from .crossover_text import format_crossover
from .plan_text import format_plan


def brief_compute(rows: list[dict]) -> str:
    """The best GEMM rate per dtype and the copy bandwidth of compute.jsonl's rows."""
    gemm = {}
    for r in rows:
        if r.get("kind") == "gemm" and r.get("tflops") is not None:
            gemm[r["dtype"]] = max(gemm.get(r["dtype"], 0.0), r["tflops"])
    copy = [r["bandwidth_gbps"] for r in rows if r.get("kind") == "copy" and r.get("bandwidth_gbps") is not None]
    parts = [f"{dtype} GEMM up to {rate:.3g} TFLOP/s" for dtype, rate in gemm.items()]
    if copy:
        parts.append(f"copy {max(copy):.3g} GB/s")
    return "# compute: " + (", ".join(parts) or "nothing measured")


def brief_fit(fits: list) -> str:
    """How many collectives and regimes were fitted, and the range of their held-out errors."""
    collectives = sorted({f.key["collective"] for f in fits})
    regimes = sum(len(f.regimes) for f in fits)
    errors = [f.heldout_mape_pct for f in fits if f.heldout_mape_pct is not None]
    held = (f"held-out error {min(errors):.1f}% to {max(errors):.1f}% across {len(errors)} fit(s)" if errors
            else "no held-out error (one rank count)")
    return f"# model: {len(collectives)} collective(s), {len(fits)} fit(s), {regimes} regime(s); {held}"


def brief_crossover(res: CrossoverResult) -> str:
    """The verdict lines under the crossover's table, headed by the workload."""
    lines = format_crossover(res).splitlines()
    verdict = lines[3 + len(res.rows):]
    return "\n".join([f"# crossover of workload {res.workload['name']} ({res.collective}):", *verdict])


def brief_plan(res: PlanResult) -> str:
    """The plan's first line, its step time at the smallest and largest node counts that fit,
    and the per-kind lines under its table."""
    lines = format_plan(res).splitlines()
    rows = res.fitting_rows
    first, last = rows[0], rows[-1]
    span = (f"# step {first.step_ms:.4g} ms at {first.nnodes} node(s) (MFU {first.mfu:.1%}), {last.step_ms:.4g} ms "
            f"at {last.nnodes} (MFU {last.mfu:.1%})")
    kinds = [line for line in lines if line.startswith(tuple(f"# {k}: longer" for k in res.first))]
    return "\n".join([lines[0], span, *kinds])

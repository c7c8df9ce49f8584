"""crossover's printed table (format_crossover), from its typed result. docs/model.md
(crossover) explains the columns."""
from __future__ import annotations

from reports.planning.results import CrossoverResult

from .format import fixed, interval, num


def format_crossover(res: CrossoverResult) -> str:
    """crossover's printed table and its verdict lines."""
    w = res.workload
    lines = [f"# crossover: workload {w['name']} ({w['kind']}, {w['scaling']} scaling), {res.collective} from "
             f"{res.model}",
             f"# compute {res.compute_tflops:.4g} TFLOP/s per GPU, {res.gpus_per_node} GPUs per node, "
             f"overlap {res.overlap:.2f}; measured up to {res.measured_nodes} node(s), {res.measured_ranks} ranks",
             f"# {'nodes':>6} {'ranks':>7} {'fabric':<12} {'tier':<13} {'compute_ms':>11} {'comm_ms':>11} {'comm_ms_ci95':>21} "
             f"{'comm/comp':>9} {'flop/B have':>11} {'flop/B need':>11}  source"]
    for r in res.rows:
        ci = interval(r.comm_ms_ci, 4, compact=True)
        have = num(r.workload_flops_per_byte, 4)
        need = num(r.needed_flops_per_byte, 4)
        lines.append(f"  {r.nnodes:>6} {r.nranks:>7} {r.fabric:<12} {r.tier or '-':<13} "
                     f"{r.compute_ms:11.4g} {r.comm_ms:11.4g} "
                     f"{ci:>21} {r.comm_over_compute:9.3g} {have:>11} {need:>11}  {r.source}")

    def when(n, ci):
        if n is None:
            return f"not within {res.limit_nodes} nodes"
        hi = "beyond the limit" if ci[1] is None else ci[1]
        return f"from {n} node(s) (95% interval {ci[0]} to {hi})"

    lines.append(f"# communication exceeds compute {when(res.crossover_nodes, res.crossover_nodes_ci)}"
                 + (f": {res.crossover_boundary}, the {res.crossover_tier} tier" if res.crossover_boundary
                    else ""))
    lines.append(f"# with {res.overlap:.0%} of compute to hide under, communication is exposed "
                 f"{when(res.hidden_crossover_nodes, res.hidden_crossover_nodes_ci)}")
    note = res.heldout_note or ("no held-out error" if res.heldout_mape_pct is None else
                                       f"held-out error {res.heldout_mape_pct:.1f}%")
    where = crossover_where(res)
    lines.append(f"# {where}; {note} (the error to expect one step up in scale)")
    errs = [(r.nnodes, r.model_error_pct) for r in res.rows if r.model_error_pct]
    if errs:
        lines.append("# intervals include the model's own error past the measured scale (90% of predictions within "
                     + ", ".join(f"x{1 + e / 100:.3g} either way at {k} node(s)" for k, e in errs[:1] + errs[-1:])
                     + "; docs/model.md#predictions)")
    return "\n".join(lines)



def answer_row(res: CrossoverResult):
    """The row the crossover rests on: the one at the crossover's node count (None where the
    rows skip it), or without a crossover the largest node count asked for."""
    if res.crossover_nodes is None:
        return res.rows[-1] if res.rows else None
    return next((r for r in res.rows if r.nnodes == res.crossover_nodes), None)


def crossover_within(res: CrossoverResult) -> bool:
    """The crossover lies within the measured scale: its node count is at most the largest
    measured node count, and its row is not extrapolated (more ranks than were measured)."""
    row = answer_row(res)
    return (res.crossover_nodes is not None and res.crossover_nodes <= res.measured_nodes
            and (row is None or row.measured))


def crossover_where(res: CrossoverResult, nodes=lambda n: f"{n} node(s)") -> str:
    """Where the crossover lies against the measured scale, in words: the same words in
    crossover's printed verdict and the report's findings (`nodes` writes a node count)."""
    measured, cross, row = res.measured_nodes, res.crossover_nodes, answer_row(res)
    if cross is None:
        return (f"no crossover within {res.limit_nodes} nodes, {fixed(res.limit_nodes / measured, 1)} x past the "
                f"largest measured scale ({nodes(measured)})")
    if crossover_within(res):
        return f"the crossover lies within the measured scale ({nodes(measured)})"
    if cross > measured:
        return (f"the crossover is extrapolated {fixed(cross / measured, 1)} x past the largest measured scale "
                f"({nodes(measured)})")
    return (f"the crossover is extrapolated: {nodes(cross)} hold {row.nranks} ranks, past the {res.measured_ranks} "
            f"ranks measured")

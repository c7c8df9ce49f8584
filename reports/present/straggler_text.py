"""The report's bullet on a straggler that `commscale import` found in nccl-tests' `-I 1`
per-process times (meta.json `stragglers`, reports/importers/stragglers.py; the rule:
docs/methods.md)."""
from __future__ import annotations

from reports.importers.stragglers import where

from .format import num, pct


def sentences(metas: dict) -> list[str]:
    """One sentence per straggler of the runs (`metas`: run name -> meta.json), the run named
    where there are several runs."""
    out = []
    for name, meta in metas.items():
        for f in (meta or {}).get("stragglers") or []:
            lead = f"Straggler in {name}:" if len(metas) > 1 else "Straggler:"
            out.append(f"{lead} process {f['process']} ({where(f)}) was the slowest of "
                       f"{f['processes']} processes in "
                       f"{f['points_slowest']} of {f['points_judged']} sized points (p = {num(f['p_value'], 2)} "
                       f"if every process were equally likely to be the slowest), its median per-iteration time "
                       f"{pct(f['median_excess_pct'])} above the other processes' (the median over the points; "
                       f"nccl-tests -I per-process times)")
    return out

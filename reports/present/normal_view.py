"""The report's "Is this normal?" section: each run's keys placed among comparable published
runs (reports/reference/), a sentence each, and for those placed a figure and the table
of the runs compared with, each with its source."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports.present import figures
from reports.present.normal_text import headline, rows, scope
from reports.reference.entries import load
from reports.reference.facts import run_keys
from reports.reference.match import place


@dataclass(frozen=True, slots=True)
class NormalView:
    run: str
    sentence: str
    compared: str
    """What was matched and relaxed ('' when nothing was compared)."""
    table: pd.DataFrame | None
    figure: tuple[str, Path] | None


def normal_views(names, frames, metas: dict, folder: Path) -> list[NormalView]:
    """Per run: a view per key placed or with too few to judge, and one sentence for all the
    keys nothing in the set compares with (a CPU dry run's fourteen keys are one line)."""
    ref = load()
    views = []
    for name, frame in zip(names, frames):
        placements = [place(key, ref.entries) for key in run_keys(frame, metas.get(name, {}))]
        views += [_view(name, pl, folder) for pl in placements if pl.status != "none"]
        views += _none(name, [pl for pl in placements if pl.status == "none"])
    return views


def _none(name: str, placements: list) -> list[NormalView]:
    """One sentence per reason: the collectives and rank counts nothing published compares with."""
    by_reason: dict[str, dict[str, list[int]]] = {}
    for pl in placements:
        k = pl.key
        where = "inside one node" if k.nnodes == 1 else "across nodes"
        reason = pl.reason or f"the reference set holds none on {k.device.generation} {where}"
        by_reason.setdefault(reason, {}).setdefault(k.collective, []).append(k.nranks)
    views = []
    for reason, colls in by_reason.items():
        what = "; ".join(f"{c} at {', '.join(map(str, sorted(r)))} ranks" for c, r in colls.items())
        views.append(NormalView(name, f"No comparable published run for {what}: {reason}.", "", None, None))
    return views


def _view(name: str, pl, folder: Path) -> NormalView:
    if pl.status != "placed":
        return NormalView(name, headline(pl), "", None, None)
    stem = f"normal_{name}_{pl.key.collective}_{pl.key.nranks}".replace("/", "_")
    path = folder / f"{stem}.png"
    figures.normal_band(pl, path)
    table = pd.DataFrame(rows(pl), columns=["busbw_gbps", "nodes x gpus", "device", "network", "system (publisher)",
                                            "source"])
    relaxed = ", ".join(pl.relaxed) or "nothing"
    compared = f"Compared with: {scope(pl.key)}; relaxed: {relaxed}; at {table.shape[0]} runs."
    return NormalView(name, headline(pl), compared, table, (pl.key.label, path))

"""`commscale predict`: the runs' records per key, predicted at the asked node counts and
sizes by reports/model/predict.py, printed as a table or JSON."""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import UsageError
from .records import load_records


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictOptions:
    runs: tuple[str, ...]
    nodes: tuple[int, ...]
    sizes: tuple[int, ...] = ()
    """bytes; () the largest size measured, per key"""
    collective: str | None = None
    place: str | None = None
    """"in", "out" or None (both)"""
    ranks_per_node: int | None = None
    level: float = 0.9
    as_json: bool = False

    def __post_init__(self):
        from collectives.registry import COLLECTIVES
        if not self.nodes or min(self.nodes) < 1:
            raise UsageError(f"--nodes {','.join(map(str, self.nodes))}: node counts are whole numbers from 1, "
                             f"e.g. --nodes 64 or --nodes 32,64,128")
        if any(s <= 0 for s in self.sizes):
            raise UsageError("--size must be above 0 bytes: e.g. --size 1G")
        if not 0 < self.level < 1:
            raise UsageError(f"--level {self.level}: a level is a fraction between 0 and 1, e.g. --level 0.9")
        if self.ranks_per_node is not None and self.ranks_per_node < 1:
            raise UsageError(f"--ranks-per-node {self.ranks_per_node}: give 1 or more")
        if self.collective is not None and self.collective not in COLLECTIVES:
            raise UsageError(f"unknown collective {self.collective!r}: choose from {', '.join(COLLECTIVES)}")


def key_models(opts: PredictOptions) -> list:
    """reports.model.predict.KeyModel per key of the runs, filtered by collective and placement."""
    from reports.model.fit import KEY, key_of, usable
    from reports.model.predict import key_model
    df = usable(load_records(opts.runs))
    if opts.collective:
        df = df[df["collective"] == opts.collective]
    if opts.place:
        df = df[df["in_place"] == (opts.place == "in")]
    df = df[df["nnodes"].notna()]
    if df.empty:
        what = (f"{opts.collective} " if opts.collective else "") + (f"{opts.place}-of-place " if opts.place == "out"
                                                                     else "in-place " if opts.place else "")
        raise UsageError(f"no usable {what}records with a known node count in {', '.join(opts.runs)}: "
                         f"measure or import them (import --nnodes N), or choose another --collective/--place")
    out = []
    for values, rows in df.groupby(list(KEY), sort=True, dropna=False):
        out.append(key_model(key_of(values), rows))
    return out


def predictions(opts: PredictOptions) -> list:
    from reports.model.predict import PredictError, predict
    out = []
    for model in key_models(opts):
        for size in opts.sizes or (model.largest_size,):
            for nodes in opts.nodes:
                try:
                    out.append(predict(model, nodes, size, opts.ranks_per_node, opts.level))
                except PredictError as exc:
                    raise UsageError(f"{model.collective}: {exc}") from None
    return out


def run_predict(opts: PredictOptions) -> list:
    from reports.present.predict_text import format_predictions
    preds = predictions(opts)
    print(json.dumps([p.to_json() for p in preds], indent=1) if opts.as_json else format_predictions(preds))
    return preds

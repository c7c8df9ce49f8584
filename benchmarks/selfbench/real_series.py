"""The model on real node-count series: fit the smaller scales, predict the largest.

For each series in tests/fixtures/real/series/series.json (real nccl-tests or OSU logs
others published of one cluster and one collective at several node counts, each with its
source URL in SOURCES*.md there), and for each placement (in, out of place): the logs are
read by commscale's importer, the records at every scale but the largest are fitted by
commscale's fit (reports.fit.fit_frame: family, regime cuts and count chosen without the
largest scale), and that fit predicts the largest scale. Printed per row:

- the scales used and the one predicted (nodes, ranks);
- at the largest size measured there: the predicted busbw with its 95% bootstrap interval,
  the measured busbw, and the error (predicted / measured - 1);
- `carry %`: the same error for the naive reference, "busbw stays what the next smaller
  scale measured at that size" (what reading an nccl-tests log at one scale assumes);
- `held-out MAPE %`: the error on time over every size at the predicted scale;
- the series' note: what the model cannot know (a run that crosses into a second rack
  meets a different network).

    python -m benchmarks.real_series             # the table, as in the README
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from collectives.records import FIELDS, make_record
from collectives.registry import get_collective
from collectives.sizes import format_size
from reports.fit import TIME_FIELD, fit_frame, usable
from reports.tiers import fit_tiers
from reports.importers import parse

REAL = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "real"
MANIFEST = REAL / "series" / "series.json"
SAMPLES = 200


def load_series(entry: dict, root: Path = REAL) -> pd.DataFrame:
    """The records of every log of one series (only its collective), one frame."""
    frames = []
    for item in entry["files"]:
        path = root / item["path"]
        for run in parse(path, entry["format"], dict(item.get("flags", {}))):
            if run["collective"] != entry["collective"]:
                continue
            records = [make_record(run_id=path.stem, timestamp="", **p) for p in run["points"]]
            frames.append(pd.DataFrame(records, columns=list(FIELDS)))
    if not frames:
        raise ValueError(f"series {entry['id']}: no {entry['collective']} run in its files")
    return pd.concat(frames, ignore_index=True)


def _busbw(factor, p, n, t_us):
    """busbw from a time; a bootstrap sample that predicts no time (a tier it left out)
    gives inf, which the interval's percentiles take as unbounded."""
    with np.errstate(divide="ignore"):
        return factor(p) * n / (np.asarray(t_us) * 1e3)


def _scales(df: pd.DataFrame) -> str:
    """'1,2,4 nodes (4-16 ranks)'."""
    nodes = sorted({int(x) for x in df["nnodes"].dropna()})
    ranks = sorted({int(x) for x in df["nranks"]})
    where = f"{','.join(map(str, nodes))} node{'s' if nodes != [1] else ''} " if nodes else ""
    span = str(ranks[0]) if len(ranks) == 1 else f"{ranks[0]}-{ranks[-1]}"
    return f"{where}({span} ranks)"


def _model(rest: pd.DataFrame, held: pd.DataFrame):
    """The model `crossover` would use, fitted on `rest` for the scale of `held`:
    (name, predict(n) -> time_us, samples(n) -> bootstrap times), or None. Hierarchical
    (intra- and inter-node tiers) where `rest` has one node and several, else flat."""
    nnodes, nranks = held["nnodes"].iloc[0], int(held["nranks"].iloc[0])
    hier = fit_tiers(rest, samples=SAMPLES) if pd.notna(nnodes) and nnodes > 1 else []
    if hier:
        h, g = hier[0], int(held["ranks_per_node"].iloc[0])
        return (f"hierarchical ({'B(N)' if h.inter == 'nodes' else 'B(NG)'})",
                lambda n: float(h.predict(n, int(nnodes), g)[0]), lambda n: h.predict_samples(n, int(nnodes), g))
    fits = fit_frame(rest, samples=SAMPLES)
    if not fits:
        return None
    fit = fits[0]
    return "flat", lambda n: fit.predict(n, nranks), lambda n: fit.predict_samples(n, nranks)


def predict_largest(entry: dict, df: pd.DataFrame) -> list[dict]:
    """One row per placement: the fit of the smaller scales predicting the largest one."""
    spec = get_collective(entry["collective"])
    rows = []
    for place, part in usable(df).groupby("in_place", dropna=False):
        ranks = sorted(part["nranks"].unique())
        row = {"series": entry["id"], "cluster": entry["cluster"], "collective": entry["collective"],
               "place": {True: "in", False: "out"}.get(place, "-"), "note": entry.get("note", "")}
        rows.append(row)
        if len(ranks) < 2:
            row["outcome"] = f"one scale measured ({_scales(part)}): nothing to predict"
            continue
        top = ranks[-1]
        rest, held = part[part["nranks"] < top], part[part["nranks"] == top]
        row.update(used=_scales(rest), predicted=_scales(held))
        n = float(held["size_bytes"].max())
        measured = float(held.loc[held["size_bytes"] == n, "busbw_gbps"].mean())
        model = _model(rest, held)
        if model is None:
            row["outcome"] = "no fit of the smaller scales (fit says why: commscale fit)"
            continue
        row["model"], predict, samples = model
        t_pred, t_boot = predict(n), samples(n)
        lo, hi = np.percentile(_busbw(spec.busbw_factor, top, n, t_boot), [2.5, 97.5])
        below = rest[rest["nranks"] == ranks[-2]]
        carry = below.loc[below["size_bytes"] == n, "busbw_gbps"].mean()
        times = np.array([predict(x) for x in held["size_bytes"]])
        row.update(size_bytes=int(n), predicted_busbw_gbps=_busbw(spec.busbw_factor, top, n, t_pred),
                   predicted_busbw_ci=[float(lo), float(hi)], measured_busbw_gbps=measured,
                   carry_busbw_gbps=None if pd.isna(carry) else float(carry),
                   heldout_mape_pct=float(np.mean(np.abs(times - held[TIME_FIELD]) / held[TIME_FIELD]) * 100))
        row["error_pct"] = (row["predicted_busbw_gbps"] / measured - 1) * 100
        row["carry_error_pct"] = None if row["carry_busbw_gbps"] is None else (row["carry_busbw_gbps"] / measured - 1) * 100
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table (the README's)."""
    def f(x, fmt="{:.3g}"):
        return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)
    out = ["| cluster | collective | place | scales used | scale predicted | model | size | predicted busbw GB/s [95%] "
           "| measured | error % | carry % | held-out MAPE % | note |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "outcome" in r:
            out.append(f"| {r['cluster']} | {r['collective']} | {r['place']} | {r.get('used', '-')} | "
                       f"{r.get('predicted', '-')} | - | - | {r['outcome']} | - | - | - | - | {r['note']} |")
            continue
        ci = r["predicted_busbw_ci"]
        out.append(f"| {r['cluster']} | {r['collective']} | {r['place']} | {r['used']} | {r['predicted']} | {r['model']} | "
                   f"{format_size(r['size_bytes'])} | {f(r['predicted_busbw_gbps'])} [{f(ci[0])}, {f(ci[1])}] | "
                   f"{f(r['measured_busbw_gbps'])} | {f(r['error_pct'], '{:+.1f}')} | "
                   f"{f(r['carry_error_pct'], '{:+.1f}')} | {f(r['heldout_mape_pct'], '{:.1f}')} | {r['note']} |")
    return "\n".join(out)


def summary(rows: list[dict]) -> str:
    """One line under the table: the model's and the naive reference's errors side by side."""
    done = [r for r in rows if "outcome" not in r]
    model = np.array([abs(r["error_pct"]) for r in done])
    paired = [r for r in done if r["carry_error_pct"] is not None]
    carry = np.array([abs(r["carry_error_pct"]) for r in paired])
    inside = sum(r["predicted_busbw_ci"][0] <= r["measured_busbw_gbps"] <= r["predicted_busbw_ci"][1] for r in done)
    wins = sum(abs(r["error_pct"]) < abs(r["carry_error_pct"]) for r in paired)
    return (f"{len(done)} predictions ({len(rows) - len(done)} rows with nothing to predict): model |error| median "
            f"{np.median(model):.1f}%, within 10% in {int((model <= 10).sum())}, within 25% in {int((model <= 25).sum())}; "
            f"where the next smaller scale measured the same size ({len(paired)}): model |error| median "
            f"{np.median(model[[done.index(r) for r in paired]]):.1f}% vs carry-forward {np.median(carry):.1f}%, "
            f"model closer in {wins}; measured busbw inside the model's 95% interval in {inside} of {len(done)}")


def run(manifest: Path = MANIFEST) -> list[dict]:
    rows = []
    for entry in json.loads(Path(manifest).read_text(encoding="utf-8")):
        rows += predict_largest(entry, load_series(entry, Path(manifest).parent.parent))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_series", description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="series.json (default: the real fixtures')")
    parser.add_argument("--json", action="store_true", help="the rows as JSON instead of the table")
    args = parser.parse_args(argv)
    rows = run(args.manifest)
    print(json.dumps(rows, indent=1) if args.json else f"{table(rows)}\n\n{summary(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

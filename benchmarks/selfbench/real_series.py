"""The model on real node-count series: the smaller scales predict the largest.

For each series in tests/fixtures/real/series/series.json (real nccl-tests or OSU logs
others published of one cluster and one collective at several node counts, each with its
source URL in SOURCES*.md there), and for each placement (in, out of place): the logs are
read by commscale's importer, and reports.model.predict (what `commscale predict` runs) predicts
the largest scale at its largest size from the others, its interval calibrated without
this series (leave one series out of the corpus prior). Printed per row:

- the scales used and the one predicted (nodes, ranks), and `x`, the extrapolation factor;
- the predicted busbw with its 90% interval ("unbounded" where the target crosses a tier
  no smaller scale measured), the measured busbw, whether it is inside, the error
  (predicted / measured - 1), and where the interval came from;
- `carry %`: the same error for the naive reference, "busbw stays what the next smaller
  scale measured at that size" (what reading an nccl-tests log at one scale assumes);
- the series' note: what the model cannot know.
Then coverage, width and error by extrapolation factor and tier crossing.

    python -m benchmarks.real_series                  # the tables, as in docs/guide.md
    python -m benchmarks.real_series --levels 0.5,0.8,0.9   # coverage and width by level
    python -m benchmarks.real_series --write-prior    # also rewrite reports/model/data/predict_prior.json
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from collectives.domains import domain_fields
from collectives.records import FIELDS, make_record
from collectives.sizes import format_size
from reports.model.fit import usable
from reports.importers import parse
from reports.model.predict import LEVEL, PRIOR_FILE, PredictError, busbw_gbps, key_model, predict, scales_of

REAL = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "real"
MANIFEST = REAL / "series" / "series.json"


def load_series(entry: dict, root: Path = REAL) -> pd.DataFrame:
    """The records of every log of one series (only its collective), one frame."""
    frames = []
    for item in entry["files"]:
        path = root / item["path"]
        for run in parse(path, entry["format"], dict(item.get("flags", {}))):
            if run["collective"] != entry["collective"]:
                continue
            records = [make_record(run_id=path.stem, timestamp="", **domain_fields(p, entry.get("domain_size")))
                       for p in run["points"]]
            frames.append(pd.DataFrame(records, columns=list(FIELDS)))
    if not frames:
        raise ValueError(f"series {entry['id']}: no {entry['collective']} run in its files")
    return pd.concat(frames, ignore_index=True)


def _scales(df: pd.DataFrame) -> str:
    """'1,2,4 nodes (4-16 ranks)'."""
    nodes = sorted({int(x) for x in df["nnodes"].dropna()})
    ranks = sorted({int(x) for x in df["nranks"]})
    where = f"{','.join(map(str, nodes))} node{'s' if nodes != [1] else ''} " if nodes else ""
    span = str(ranks[0]) if len(ranks) == 1 else f"{ranks[0]}-{ranks[-1]}"
    return f"{where}({span} ranks)"


def predict_largest(entry: dict, df: pd.DataFrame, level: float = LEVEL, prior=None) -> list[dict]:
    """One row per placement: the smaller scales predicting the largest one at its largest
    size through reports.model.predict, the corpus prior without this series (leave one out)."""
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
        key = {"collective": entry["collective"], "in_place": None if pd.isna(place) else bool(place)}
        try:
            pred = predict(key_model(key, rest), int(held["nnodes"].iloc[0]), n,
                           int(held["ranks_per_node"].iloc[0]), level, exclude=entry["id"], prior=prior)
        except PredictError as exc:
            row["outcome"] = f"no prediction: {exc}"
            continue
        below = [s for s in scales_of(rest, None) if s.nnodes < int(held["nnodes"].iloc[0])]
        carry = None
        if below:
            t, inside = below[-1].time_at(n)
            if inside:
                carry = busbw_gbps(entry["collective"], below[-1].nranks, n, t)
        lo, hi = pred.busbw_interval_gbps
        row.update(size_bytes=int(n), model=pred.method, extrapolation=pred.extrapolation, tier=pred.tier,
                   warning=pred.warning, crossed=pred.unmeasured_tier,
                   predicted_busbw_gbps=pred.busbw_gbps, interval=[lo, hi], interval_from=pred.interval_from,
                   measured_busbw_gbps=measured, carry_busbw_gbps=carry,
                   inside=bool(lo <= measured <= (math.inf if hi is None else hi)),
                   error_pct=(pred.busbw_gbps / measured - 1) * 100,
                   carry_error_pct=None if carry is None else (carry / measured - 1) * 100,
                   log_error=abs(math.log(pred.busbw_gbps / measured)))
    return rows


def prior_rows(rows: list[dict]) -> list[dict]:
    """The corpus prior's rows (reports/model/data/predict_prior.json) from a validation run."""
    return [{"series": r["series"], "place": r["place"], "extrapolation": r["extrapolation"],
             "crossed": r["crossed"], "error": round(r["log_error"], 6)} for r in rows if "outcome" not in r]


def _f(x, fmt="{:.3g}"):
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table (docs/guide.md's)."""
    out = ["| cluster | collective | place | scales used | scale predicted | x | size | predicted busbw GB/s "
           "[90%] | measured | in | error % | carry % | interval from | note |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "outcome" in r:
            out.append(f"| {r['cluster']} | {r['collective']} | {r['place']} | {r.get('used', '-')} | "
                       f"{r.get('predicted', '-')} | - | - | {r['outcome']} | - | - | - | - | - | {r['note']} |")
            continue
        lo, hi = r["interval"]
        ci = f"[{_f(lo)}, {_f(hi) if hi is not None else 'unbounded'}]"
        warn = " (crosses an unmeasured tier)" if r["crossed"] else ""
        out.append(f"| {r['cluster']} | {r['collective']} | {r['place']} | {r['used']} | {r['predicted']}{warn} | "
                   f"{r['extrapolation']:.3g} | {format_size(r['size_bytes'])} | {_f(r['predicted_busbw_gbps'])} {ci} | "
                   f"{_f(r['measured_busbw_gbps'])} | {'yes' if r['inside'] else 'no'} | {_f(r['error_pct'], '{:+.1f}')} | "
                   f"{_f(r['carry_error_pct'], '{:+.1f}')} | {r['interval_from'].split(' (')[0]} | {r['note']} |")
    return "\n".join(out)


def _stats(rows: list[dict]) -> dict:
    """Coverage, width, error and the carry-forward comparison of some rows."""
    bounded = [r for r in rows if r["interval"][1] is not None and r["interval"][0] > 0]
    plain = [r for r in rows if not r["crossed"]]
    paired = [r for r in plain if r["carry_error_pct"] is not None]
    return {"n": len(rows), "inside": sum(r["inside"] for r in rows),
            "width": float(np.median([r["interval"][1] / r["interval"][0] for r in bounded])) if bounded else None,
            "unbounded": len(rows) - len(bounded),
            "error": float(np.median([abs(r["error_pct"]) for r in plain])) if plain else None,
            "carry": float(np.median([abs(r["carry_error_pct"]) for r in paired])) if paired else None,
            "wins": sum(abs(r["error_pct"]) < abs(r["carry_error_pct"]) for r in paired), "paired": len(paired)}


def _line(name: str, s: dict) -> str:
    pct = f"{100 * s['inside'] / s['n']:.0f}%" if s["n"] else "-"
    return (f"| {name} | {s['n']} | {s['inside']} ({pct}) | {_f(s['width'], '{:.2f}')} | {s['unbounded']} | "
            f"{_f(s['error'], '{:.1f}')} | {s['wins']} of {s['paired']} | {_f(s['carry'], '{:.1f}')} |")


def by_group(rows: list[dict]) -> str:
    """The second table: coverage and error by extrapolation factor and tier crossing."""
    done = [r for r in rows if "outcome" not in r]
    out = ["| predictions | n | inside the 90% interval | median hi/lo (bounded) | unbounded | median abs error % "
           "(no unmeasured tier) | closer than carry-forward | carry-forward median abs error % |",
           "|---|---|---|---|---|---|---|---|", _line("all", _stats(done))]
    for name, test in (("up to 2x", lambda f: f <= 2.0001), ("2-4x", lambda f: 2.0001 < f <= 4.0001),
                       ("over 4x", lambda f: f > 4.0001)):
        out.append(_line(f"extrapolation {name}", _stats([r for r in done if test(r["extrapolation"])])))
    out.append(_line("crosses an unmeasured tier", _stats([r for r in done if r["crossed"]])))
    out.append(_line("stays in measured tiers", _stats([r for r in done if not r["crossed"]])))
    return "\n".join(out)


def by_level(manifest: Path, levels: list[float]) -> str:
    """Coverage and width at several levels: what a narrower interval would cost."""
    out = ["| level | inside (all) | inside (no unmeasured tier) | median hi/lo (bounded) |", "|---|---|---|---|"]
    for level in levels:
        done = [r for r in run(manifest, level)[0] if "outcome" not in r]
        s, plain = _stats(done), _stats([r for r in done if not r["crossed"]])
        out.append(f"| {level:g} | {s['inside']} of {s['n']} | {plain['inside']} of {plain['n']} | "
                   f"{_f(s['width'], '{:.2f}')} |")
    return "\n".join(out)


def summary(rows: list[dict]) -> str:
    """One line under the tables."""
    s = _stats([r for r in rows if "outcome" not in r])
    return (f"{s['n']} predictions: measured busbw inside the 90% interval in {s['inside']} of {s['n']}; "
            f"bounded intervals' median hi/lo {_f(s['width'], '{:.2f}')} ({s['unbounded']} unbounded, each crossing "
            f"a tier no smaller scale measured); without that warning: median |error| {_f(s['error'], '{:.1f}')}%, "
            f"closer than carry-forward in {s['wins']} of {s['paired']} (carry-forward median "
            f"{_f(s['carry'], '{:.1f}')}%)")


def run(manifest: Path = MANIFEST, level: float = LEVEL) -> tuple[list[dict], list[dict]]:
    """(the validation rows, the corpus prior's rows). The prior is the point model's
    errors, which no interval takes part in; each row's interval is calibrated on the
    prior without its own series."""
    entries = json.loads(Path(manifest).read_text(encoding="utf-8"))
    frames = [(e, load_series(e, Path(manifest).parent.parent)) for e in entries]
    first = [r for e, df in frames for r in predict_largest(e, df, level, prior=())]
    prior = prior_rows(first)
    return [r for e, df in frames for r in predict_largest(e, df, level, prior=prior)], prior


def write_prior(prior: list[dict], path: Path = PRIOR_FILE) -> Path:
    """reports/model/data/predict_prior.json: the rows and where they come from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"about": "errors of reports/model/predict.py's point model predicting the largest scale of each real "
                    "node-count series in tests/fixtures/real/series from its smaller scales (error: "
                    "|ln(predicted / measured busbw)| at the largest size; extrapolation: nodes predicted / "
                    "largest nodes used in the same tier; crossed: the target crossed a tier no smaller scale "
                    "measured). Sources: tests/fixtures/real/series/SOURCES.md",
           "generated_by": "python -m benchmarks.real_series --write-prior", "errors": prior}
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_series", description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="series.json (default: the real fixtures')")
    parser.add_argument("--json", action="store_true", help="the rows as JSON instead of the tables")
    parser.add_argument("--level", type=float, default=LEVEL, help=f"the intervals' level [{LEVEL}]")
    parser.add_argument("--levels", help="instead: coverage and width at each of these levels (0.5,0.8,0.9)")
    parser.add_argument("--write-prior", action="store_true",
                        help=f"also write the corpus prior the predictions ship with ({PRIOR_FILE.name})")
    args = parser.parse_args(argv)
    if args.levels:
        print(by_level(args.manifest, [float(x) for x in args.levels.split(",")]))
        return 0
    rows, prior = run(args.manifest, args.level)
    if args.write_prior:
        print(f"# wrote {write_prior(prior)}")
    print(json.dumps(rows, indent=1) if args.json else f"{table(rows)}\n\n{by_group(rows)}\n\n{summary(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

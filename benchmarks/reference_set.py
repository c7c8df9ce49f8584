"""`python -m benchmarks.reference_set [--check]`: build the reference set of published runs
(reports/reference/data/published.json, read by `commscale normal`) from the real logs in
tests/fixtures/real and the manifest benchmarks/published/reference_sources.json (each
log's source URL and the facts its text does not carry: device, network, GPUs per node).
--check builds it and compares with the shipped file (exit 1 when they differ: rebuild);
--place-each places every published log's runs among the others (each run's own log left
out, as `commscale normal` leaves a run out of its own comparison) and counts the answers."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "benchmarks" / "published" / "reference_sources.json"
LOGS = ROOT / "tests" / "fixtures" / "real"


def document(manifest_path: Path = MANIFEST, logs: Path = LOGS, leave_out: tuple[str, ...] = ()) -> dict:
    from reports.reference.build import build
    return build(json.loads(manifest_path.read_text(encoding="utf-8")), logs, leave_out)


def text(doc: dict) -> str:
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def summary(doc: dict) -> list[str]:
    entries = doc["entries"]
    notes = doc["notes"]
    lines = [f"# {notes['entries']} runs from {notes['logs']} logs of {notes['publishers']} publishers; "
             f"{notes['left_out']} left out"]
    by = Counter((e["collective"], e["generation"] or "unknown") for e in entries)
    for (coll, gen), n in sorted(by.items()):
        lines.append(f"  {coll:<15} {gen:<16} {n:>3}")
    why = Counter(w["why"].split(":")[0].split(" (")[0] if w["why"].startswith("the same run") else w["why"]
                  for w in doc["left_out"])
    lines.append("# left out:")
    lines += [f"  {n:>3}  {reason}" for reason, n in why.most_common()]
    return lines


def place_each(manifest_path: Path = MANIFEST, logs: Path = LOGS) -> list[str]:
    """Each log of the manifest, imported and placed against the shipped set: a line per run
    placed, then the count of each answer."""
    import pandas as pd

    from reports.importers import ImportFailure, parse
    from reports.reference.entries import load
    from reports.reference.facts import run_keys
    from reports.reference.match import place
    ref, tally, lines = load(), Counter(), []
    for item in json.loads(manifest_path.read_text(encoding="utf-8")):
        if item["exclude"]:
            continue
        try:
            runs = parse(logs / item["path"], item["format"], dict(item["flags"]))
        except ImportFailure:
            continue
        for run in runs:
            meta = {**run["meta"], "gpu": item["device"] or run["meta"].get("gpu")}
            for key in run_keys(pd.DataFrame(run["points"]), meta):
                pl = place(key, ref.entries)
                tally[pl.status] += 1
                if pl.status == "placed":
                    lines.append(f"  {pl.percentile:5.1f}  {len(pl.others):>3}  {', '.join(pl.relaxed) or '-':<46} "
                                 f"{key.label} ({key.device.generation}): {item['path']}")
    return ["# percentile, comparable runs, relaxed, the run: its log", *lines,
            f"# {sum(tally.values())} runs: " + ", ".join(f"{n} {s}" for s, n in tally.most_common())]


def main(argv=None) -> int:
    from reports.reference.entries import DATA
    p = argparse.ArgumentParser(prog="python -m benchmarks.reference_set", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="compare with the shipped file; exit 1 when it differs")
    p.add_argument("--place-each", action="store_true", help="place every published run among the others")
    p.add_argument("--out", default=str(DATA), help=f"where to write it [{DATA.relative_to(ROOT)}]")
    args = p.parse_args(argv)
    if args.place_each:
        print("\n".join(place_each()))
        return 0
    doc = document()
    if args.check:
        same = Path(args.out).is_file() and Path(args.out).read_text(encoding="utf-8") == text(doc)
        print(f"# {args.out}: " + ("up to date" if same else
                                    "differs from a fresh build: run python -m benchmarks.reference_set"))
        return 0 if same else 1
    Path(args.out).write_text(text(doc), encoding="utf-8")
    print("\n".join(summary(doc)))
    print(f"# wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

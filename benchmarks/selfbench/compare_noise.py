"""`commscale compare` on identical code: its false alarms and its power, measured, and the
floors its defaults are (reports/runs/compare.py: POINT_FLOOR_PCT, COLLECTIVE_FLOOR_PCT).

    python -m benchmarks.selfbench.compare_noise [--runs 11] [--out DIR] [--dryrun-args '--nproc 2'] [options]
    python -m benchmarks.selfbench.compare_noise --runs-dir DIR [options]
    options: [--statistic min[,median,mean]] [--runs-per-side 1,3] [--splits 20] [--all-pairs]
             [--noise-floor-pct P] [--collective-floor-pct C]

Runs `python -m benchmarks dryrun --out DIR/run-NN` RUNS times, one after another, with its
defaults (4 gloo ranks; 7 collectives at 2 and 4 ranks; 1 KiB to 16 MiB: 210 points a run),
the same code each time, into DIR (a new temporary directory unless --out; never commit
it). With --runs-dir, analyses the complete run-* directories already there (meta.json
status complete) and measures nothing.

Then compares them as `commscale compare` does with its defaults for that statistic and
number of runs a side (or with the floors given): one run a side, each run with the next
(every pair with --all-pairs); K runs a side, SPLITS seeded draws of 2K different runs.
Per comparison:

- false alarms: the points beyond noise (of those aligned) and the collectives whose
  verdict is not `same` -- targets: at most 1% of points, no collective;
- power: NEW's records copied with one collective's time fields x1.2 (its bandwidths / 1.2),
  for each collective in turn: in how many of the 7 the verdict was `slower` or `regressed`
  (the gate `--fail-on time_us:+5%`; target: 7 of 7), the same at x1.05, and the range of
  the median change the verdict lines show for the collective slowed.

Then the calibration, with no floors: the point floor that leaves 1% of points flagged,
the collective floor no identical comparison crosses (the largest median change whose
sign-test interval excludes 0) and how many x1.2 it still catches, printed as the flags to
pass; the load (`uptime`) before and after, and the seconds spent measuring and analysing.
The table, the command that produced it and what it means: docs/compare.md.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from reports.runs.compare import DEFAULT_STATISTIC

TIME_FIELDS = ("time_us_mean", "time_us_median", "time_us_min", "time_us_max", "time_us_p99")
BW_FIELDS = ("algbw_gbps", "busbw_gbps")
GATE = "time_us:+5%"


def measure(out: Path, runs: int, extra=()) -> list[float]:
    """RUNS dry runs (defaults, and `extra` flags) into out/run-NN, one after another; their seconds."""
    seconds = []
    for i in range(1, runs + 1):
        start = time.monotonic()
        run_dir = out / f"run-{i:02d}"
        with open(out / f"run-{i:02d}.log", "w") as log:
            rc = subprocess.run([sys.executable, "-m", "benchmarks", "dryrun", "--out", str(run_dir), *extra],
                                stdout=log, stderr=subprocess.STDOUT).returncode
        seconds.append(time.monotonic() - start)
        print(f"# run-{i:02d}: exit {rc}, {seconds[-1]:.0f} s, load {_load()}", flush=True)
        if rc != 0:
            raise SystemExit(f"dryrun into {run_dir} exited {rc}: see {out / f'run-{i:02d}.log'}")
    return seconds


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def slowed(runs, collective: str, factor: float):
    """Copies of runs' records with `collective`'s times x factor and bandwidths / factor."""
    return [_slowed(r, collective, factor) for r in runs]


def _slowed(records, collective: str, factor: float):
    out = records.copy()
    rows = out["collective"] == collective
    for col in TIME_FIELDS:
        out.loc[rows, col] = out.loc[rows, col] * factor
    for col in BW_FIELDS:
        out.loc[rows, col] = out.loc[rows, col] / factor
    return out


def comparison_figures(base, new, rules, noise) -> tuple[dict, dict]:
    """For one comparison of identical-code sides (lists of runs): (false alarms and power under
    `noise`, what the floors need). Each comparison is made once with no floors and judged at
    `noise`'s floors after (the floors only raise the thresholds); caught: the verdict of the
    collective slowed is `slower` or `regressed`."""
    from reports.runs.compare import collective_verdicts, compare_points
    bare = replace(noise, point_floor_pct=0.0, collective_floor_pct=0.0)
    null = compare_points(base, new, noise=bare)
    names = [v.key[0] for v in collective_verdicts(null)]
    hits = {f: {n: replace(compare_points(base, slowed(new, n, f), noise=bare), noise=noise) for n in names}
            for f in (1.2, 1.05)}
    judged = collective_verdicts(replace(null, noise=noise), rules)
    noise_pct = np.maximum(null.points["noise_pct"].to_numpy(), noise.point_floor_pct)
    flagged = np.abs(null.points["log_ratio"].to_numpy()) > np.log1p(noise_pct / 100)
    fig = {"points": len(null.points), "flagged": int(flagged.sum()),
           "coll_flagged": [v.key[0] for v in judged if v.verdict != "same"], "collectives": names}
    for factor, cmps in hits.items():
        verdicts = [_verdict_of(collective_verdicts(cmps[n], rules), n) for n in names]
        fig[factor] = (sum(v.verdict in ("slower", "regressed") for v in verdicts), [v.change_pct() for v in verdicts])
    return fig, needs(null, {n: replace(c, noise=bare) for n, c in hits[1.2].items()})


def needs(null, hits) -> dict:
    """With no floors: each point's |change| and own noise (with the runs' spread), and per
    collective the floor its verdict needs to stay `same` (its |median change| where the
    sign-test interval excludes 0), or with x1.2 injected, the most it allows to be caught
    (its median change, or 0 if not caught at all)."""
    from reports.runs.compare import collective_verdicts
    out = {"change_pct": 100 * np.expm1(np.abs(null.points["log_ratio"].to_numpy())),
           "own_pct": null.points["noise_pct"].to_numpy(), "null_floor": [], "hit_floor": []}
    for v in collective_verdicts(null):
        out["null_floor"].append(100 * np.expm1(abs(v.log_median)) if v.verdict != "same" else 0.0)
        hit = _verdict_of(collective_verdicts(hits[v.key[0]]), v.key[0])
        out["hit_floor"].append(100 * np.expm1(hit.log_median) if hit.verdict == "slower" else 0.0)
    return out


def _verdict_of(verdicts, name):
    return next(v for v in verdicts if v.key[0] == name)


def print_table(pairs: list[tuple[str, str]], figs: list[dict]) -> None:
    n_coll = len(figs[0]["collectives"])
    width = max(10, *(len(a) + len(b) + 1 for a, b in pairs))
    print(f"# {'BASE>NEW':<{width}} {'points flagged':>15} {'colls flagged':>13} {'x1.2 caught':>11} "
          f"{'x1.2 change%':>14} {'x1.05 caught':>12} {'x1.05 change%':>14}  collectives flagged")
    for (a, b), f in zip(pairs, figs):
        c12, c105 = f[1.2], f[1.05]
        flagged = f"{f['flagged']}/{f['points']} {100 * f['flagged'] / f['points']:4.1f}%"
        colls = f"{len(f['coll_flagged'])}/{n_coll}"
        print(f"  {a + '>' + b:<{width}} {flagged:>15} {colls:>13} "
              f"{f'{c12[0]}/{n_coll}':>11} {_span(c12[1]):>14} {f'{c105[0]}/{n_coll}':>12} {_span(c105[1]):>14}  "
              f"{','.join(f['coll_flagged']) or '-'}")
    total_pts, total_flag = sum(f["points"] for f in figs), sum(f["flagged"] for f in figs)
    print(f"# all {len(figs)}: points flagged {total_flag}/{total_pts} ({100 * total_flag / total_pts:.2f}%), "
          f"collectives flagged {sum(len(f['coll_flagged']) for f in figs)}/{n_coll * len(figs)}; "
          f"x1.2 caught {sum(f[1.2][0] for f in figs)}/{n_coll * len(figs)}, "
          f"x1.05 caught {sum(f[1.05][0] for f in figs)}/{n_coll * len(figs)} "
          f"(caught: the collective's verdict slower or regressed; change%: the range of its median change)")


def _span(values) -> str:
    return f"{min(values):+.1f}..{max(values):+.1f}"


def print_calibration(statistic: str, need: list[dict]) -> None:
    """What the defaults rest on: the point floor for 1% false alarms; the collective floor
    no identical pair crosses, and the largest that still catches x1.2 everywhere."""
    change = np.concatenate([n["change_pct"] for n in need])
    own = np.concatenate([n["own_pct"] for n in need])
    beyond = np.sort(change[change > own])[::-1]
    allowed = int(0.01 * len(change))
    point_floor = float(beyond[allowed]) if len(beyond) > allowed else 0.0
    null_floor = max(max(n["null_floor"]) for n in need)
    hit_floor = min(min(n["hit_floor"]) for n in need)
    print(f"# calibration ({statistic}): {len(beyond)} of {len(change)} point changes exceed the points' own noise "
          f"(and the runs' spread); "
          f"a point floor of {point_floor:.1f}% leaves {allowed} (1%) flagged")
    hits = np.concatenate([n["hit_floor"] for n in need])
    caught = int((hits > math.ceil(null_floor)).sum())
    print(f"# calibration ({statistic}): collective floor needed for no false alarm: {null_floor:.1f}%; largest that "
          f"catches every x1.2: {hit_floor:.1f}%" + ("" if hit_floor > null_floor else " (none does both)") +
          f"; at {math.ceil(null_floor)}% x1.2 is caught in {caught} of {len(hits)}")
    print(f"# calibration ({statistic}): floors from these runs: --noise-floor-pct {math.ceil(point_floor)} "
          f"--collective-floor-pct {math.ceil(null_floor)}")


def _complete(run_dir: Path) -> bool:
    """A run whose sweep finished (meta.json says complete): one still running is left out."""
    try:
        return json.loads((run_dir / "meta.json").read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def comparisons(names: list[str], per_side: int, all_pairs: bool, splits: int,
                seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """One run a side: each run and the next (or every pair); K runs a side: SPLITS draws of
    2K different runs (seeded by SEED), the first K as BASE."""
    if per_side == 1:
        pairs = itertools.combinations(names, 2) if all_pairs else zip(names, names[1:])
        return [([a], [b]) for a, b in pairs]
    if len(names) < 2 * per_side:
        return []
    rng = np.random.default_rng([seed, per_side])
    draws = [sorted(rng.choice(len(names), 2 * per_side, replace=False)[:per_side]) for _ in range(splits)]
    out = []
    for base in draws:
        rest = [i for i in range(len(names)) if i not in base]
        new = sorted(rng.choice(rest, per_side, replace=False))
        out.append(([names[i] for i in base], [names[i] for i in new]))
    return out


def _side_label(side: list[str]) -> str:
    return "+".join(n.removeprefix("run-") for n in side)


def analyse(runs_dir: Path, all_pairs: bool, statistics, per_sides, splits: int, floors: dict, seed: int) -> None:
    from reports.runs.compare import NoiseModel, parse_rule
    from reports.runs.load import load_run
    names = sorted(p.name for p in runs_dir.glob("run-*") if _complete(p))
    if len(names) < 2:
        raise SystemExit(f"{runs_dir} holds {len(names)} complete run-* directories: 2 or more are needed")
    runs = {n: load_run(runs_dir / n) for n in names}
    rules = [parse_rule(GATE)]
    for statistic, k in itertools.product(statistics, per_sides):
        pairs = comparisons(names, k, all_pairs, splits, seed)
        if not pairs:
            continue
        noise = NoiseModel.default(statistic, k, **floors)
        sides = [([runs[n] for n in b], [runs[n] for n in n_]) for b, n_ in pairs]
        both = [comparison_figures(b, n_, rules, noise) for b, n_ in sides]
        figs = [fig for fig, _ in both]
        given = "given" if any(v is not None for v in floors.values()) else "default"
        print(f"# {len(names)} identical-code dry runs in {runs_dir}; {k} run{'s' if k > 1 else ''} a side, "
              f"{len(pairs)} comparison{'s' if len(pairs) > 1 else ''}; statistic {statistic}, {given} floors "
              f"(point {noise.point_floor_pct:g}%, collective {noise.collective_floor_pct:g}%); gate --fail-on {GATE}; "
              f"slowdowns injected into one collective of NEW at a time")
        print_table([(_side_label(b), _side_label(n_)) for b, n_ in pairs], figs)
        print_calibration(f"{statistic}, {k} a side", [need for _, need in both])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=11, help="identical dry runs to measure [11]")
    ap.add_argument("--out", help="directory for the runs [a new temporary directory]")
    ap.add_argument("--runs-dir", help="analyse the run-* directories here; measure nothing")
    ap.add_argument("--dryrun-args", help="flags for each dry run, e.g. '--nproc 2' [its defaults]")
    ap.add_argument("--all-pairs", action="store_true", help="every pair of runs, not only consecutive ones")
    ap.add_argument("--statistic", default=DEFAULT_STATISTIC,
                    help=f"min, median, mean, or a comma list [{DEFAULT_STATISTIC}: compare's default]")
    ap.add_argument("--runs-per-side", default="1,3", help="runs pooled a side, a comma list [1,3]")
    ap.add_argument("--splits", type=int, default=20, help="draws of BASE and NEW runs when several a side [20]")
    ap.add_argument("--seed", type=int, default=0, help="of the draws [0]")
    ap.add_argument("--noise-floor-pct", type=float, help="judge with this point floor, not compare's default")
    ap.add_argument("--collective-floor-pct", type=float, help="judge with this collective floor, not the default")
    args = ap.parse_args(argv)
    start = time.monotonic()
    print(f"# uptime before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    if args.runs_dir:
        runs_dir, measured = Path(args.runs_dir), []
    else:
        runs_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="compare-noise-"))
        runs_dir.mkdir(parents=True, exist_ok=True)
        measured = measure(runs_dir, args.runs, shlex.split(args.dryrun_args or ""))
    analysed = time.monotonic()
    analyse(runs_dir, args.all_pairs, args.statistic.split(","), [int(k) for k in args.runs_per_side.split(",")],
            args.splits, {"point_floor_pct": args.noise_floor_pct, "collective_floor_pct": args.collective_floor_pct},
            args.seed)
    print(f"# uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"# seconds: measuring {sum(measured):.0f} ({len(measured)} dry runs"
          + (f", {min(measured):.0f} to {max(measured):.0f} each" if measured else ": reused") +
          f"), analysing {time.monotonic() - analysed:.0f}, in all {time.monotonic() - start:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

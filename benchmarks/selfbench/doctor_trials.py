"""The doctor against faults it is not told about: random emulated networks, some with
slowed nodes or a slowed pair, each run through `commscale emulate --doctor` (root), the
suspects compared with the faults built.

    python -m benchmarks.selfbench.doctor_trials [--trials 20] [--seed 1] [--out DIR]

Each trial draws: 4 to 8 nodes; a link rate of 200, 400 or 800 Mbit/s; and one of: no
fault, one slow node, two slow nodes, one slow pair, a slow node and a slow pair; each
slowed link at 1/4, 1/3 or 1/2 of the rate (or, for a mild fault, 0.6 of it). Printed per
trial: the network, the faults, what the doctor named, the false negatives (faults not
named) and false positives (suspects that are no fault), and the measured rate over the
emulated payload rate of each fault found; then the totals. Uses the emulation's own
check (doctor.json `fault_check`).
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("none", "node", "two nodes", "pair", "node and pair")
FACTORS = (0.25, 1 / 3, 0.5, 0.6)


def draw(rng: random.Random) -> tuple[int, int, str, list[str]]:
    """A trial: nodes, rate (Mbit/s), the kind of fault and the flags that build it."""
    nodes, rate, kind = rng.randint(4, 8), rng.choice((200, 400, 800)), rng.choice(KINDS)
    picked = rng.sample(range(nodes), 4)
    flags = []
    if kind in ("node", "two nodes", "node and pair"):
        flags += ["--link", f"{picked[0]}={int(rate * rng.choice(FACTORS))}mbit"]
    if kind == "two nodes":
        flags += ["--link", f"{picked[1]}={int(rate * rng.choice(FACTORS))}mbit"]
    if kind in ("pair", "node and pair"):
        a, b = sorted(picked[2:4])
        flags += ["--pair-link", f"{a},{b}={int(rate * rng.choice(FACTORS))}mbit"]
    return nodes, rate, kind, flags


def trial(i: int, nodes: int, rate: int, flags: list[str], out: Path) -> dict:
    argv = [sys.executable, "-m", "benchmarks", "emulate", "--doctor", "--emulated-nodes", str(nodes), "--rate",
            f"{rate}mbit", *flags, "--out", str(out / f"trial{i}")]
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True)
    (out / f"trial{i}.log").write_text(done.stdout + done.stderr)  # kept whole: a failed trial's traceback
    path = out / f"trial{i}" / "doctor.json"
    if not path.exists():
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1] + f" (see {out}/trial{i}.log)",
                "seconds": time.monotonic() - start}
    doc = json.loads(path.read_text())
    check = doc["fault_check"]
    return {"exit": done.returncode, "seconds": time.monotonic() - start, "check": check,
            "named": [s.get("node") or "-".join(s["nodes"]) for s in doc["suspects"]]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="doctor-trials-"))
    rng = random.Random(args.seed)
    faults = fn = fp = trials_fp = trials_fn = 0
    ratios = []
    print(f"# {args.trials} trials, seed {args.seed}, runs in {out}")
    print("# trial nodes rate_mbit kind           flags                                   named              "
          "FN FP  ratios        seconds")
    for i in range(args.trials):
        nodes, rate, kind, flags = draw(rng)
        got = trial(i, nodes, rate, flags, out)
        if "error" in got:
            print(f"  {i:>5} {nodes:>5} {rate:>9} {kind:<14} {' '.join(flags):<39} ERROR {got['error']}")
            continue
        check = got["check"]
        found = [f["ratio"] for f in check["faults"] if f["found"]]
        ratios += found
        faults += len(check["faults"])
        fn += check["false_negatives"]
        fp += check["false_positives"]
        trials_fn += bool(check["false_negatives"])
        trials_fp += bool(check["false_positives"])
        print(f"  {i:>5} {nodes:>5} {rate:>9} {kind:<14} {' '.join(flags):<39} {','.join(got['named']) or '-':<18} "
              f"{check['false_negatives']:>2} {check['false_positives']:>2}  "
              f"{','.join(f'{r:.3f}' for r in found) or '-':<13} {got['seconds']:>7.1f}", flush=True)
    spread = f"{min(ratios):.3f} to {max(ratios):.3f}" if ratios else "-"
    print(f"# {args.trials} trials, {faults} faults: {fn} false negative(s) in {trials_fn} trial(s), {fp} false "
          f"positive(s) in {trials_fp} trial(s); measured / emulated payload rate of the faults found: {spread}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The tables of docs/testing.md from a run's `--durations=0` lines:

    python -m pytest -q --durations=0 | tee full.log
    python tests/durations_table.py full.log [before.log]

prints the ten slowest tests and the seconds per file (setup, call and teardown summed;
with a second log, its seconds per file beside them), as Markdown. Durations pytest hides
(under 0.005 s) count as nothing."""
from __future__ import annotations

import re
import sys
from collections import defaultdict

LINE = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(tests/\S+?\.py)::(.+)$")


def read(lines) -> dict[tuple[str, str], float]:
    """{(file, test): seconds} over setup, call and teardown."""
    spent = defaultdict(float)
    for line in lines:
        m = LINE.match(line)
        if m:
            spent[(m[3].removeprefix("tests/"), m[4].strip())] += float(m[1])
    return spent


def per_file(spent) -> dict[str, float]:
    files = defaultdict(float)
    for (path, _), s in spent.items():
        files[path] += s
    return files


def tables(spent, before=None, top=10, least_s=1.0) -> str:
    """The `top` slowest tests; then the files, slowest first, those under `least_s` in one row."""
    rows = ["| test | s |", "|---|---:|"]
    for (path, test), s in sorted(spent.items(), key=lambda kv: -kv[1])[:top]:
        rows.append(f"| `{path}::{test}` | {s:.1f} |")
    files, then = per_file(spent), per_file(before or {})

    def cell(names) -> str:  # the before column, where there is one ("-": no such file then)
        if before is None:
            return ""
        return " | -" if not any(n in then for n in names) else f" | {sum(then.get(n, 0.0) for n in names):.1f}"
    rows += ["", "| file | s" + (" | before, s" if before is not None else "") + " |",
             "|---|---:" + ("|---:" if before is not None else "") + "|"]
    ordered = sorted(files.items(), key=lambda kv: -kv[1])
    rows += [f"| `{path}` | {s:.1f}{cell([path])} |" for path, s in ordered if s >= least_s]
    rest = [path for path, s in ordered if s < least_s]
    if rest:
        rows.append(f"| {len(rest)} other files, under {least_s:g} s each | "
                    f"{sum(files[p] for p in rest):.1f}{cell(rest)} |")
    gone = sorted(set(then) - set(files))
    if gone:
        rows.append(f"| files no longer there: {', '.join(gone)} | 0.0{cell(gone)} |")
    rows.append(f"| all | {sum(files.values()):.1f}{cell(list(then))} |")
    return "\n".join(rows)


if __name__ == "__main__":
    logs = []
    for path in sys.argv[1:3]:
        with open(path) as f:
            logs.append(read(f))
    print(tables(logs[0], logs[1] if len(logs) > 1 else None))

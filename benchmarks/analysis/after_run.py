"""What the dry run and the emulation do with their run once the ranks are done: the
summary, the fit (a run too small to fit says why), and the report, all into the run
directory."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable

from ..errors import UsageError
from .fit import BOOTSTRAP, fit_runs


def print_summary(out: Path, df) -> None:
    """The run at a glance (reports/runs/summary.py), after its table."""
    from reports.present.summary_text import format_summary
    from reports.runs.summary import summarize_run
    print(f"#\n# summary of {out}\n" + format_summary(summarize_run(df)), flush=True)


@contextlib.contextmanager
def step_output(out: Path, name: str, brief: bool):
    """With `brief`, what a step prints goes to OUT/<name>.txt (yielded; the caller prints
    its brief lines), else to the terminal (None)."""
    if not brief:
        yield None
        return
    path = Path(out) / f"{name}.txt"
    with open(path, "w", encoding="utf-8") as f, contextlib.redirect_stdout(f):
        yield path


def fit_or_say_why(out: Path, then: Callable | None = None, brief: bool = False) -> dict | None:
    """Fit the run into its own model.json and run `then(fitted)` (the dry run's
    crossover); {out: fits}, or None where the fit failed. A usage error from either is
    printed as the reason there is no model, and the caller goes on to the report. With
    `brief`, the fit's tables go to OUT/fit.txt and one line to the terminal."""
    from reports.present.brief_text import brief_fit
    fits = None
    try:
        with step_output(out, "fit", brief) as table:
            fitted = fit_runs([out], out, BOOTSTRAP)
        if table:
            print(f"{brief_fit(fitted[0])}\n#   tables: {table}; model: {Path(out) / 'model.json'}", flush=True)
        fits = {out: fitted[0]}
        if then is not None:
            print("#", flush=True)
            then(fitted)
    except UsageError as exc:
        print(f"# no model: {exc}", flush=True)
    return fits


def write_report(out: Path, fits: dict | None) -> None:
    """OUT/report from the run and the fit above (not a second one)."""
    from reports.present.report import build_report
    made = build_report([out], out / "report", fits=fits)
    print(f"#\n# report: {made['html']} ({len(made['figures'])} figures), {made['md']}", flush=True)

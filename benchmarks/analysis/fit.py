"""Fit runs' records (reports/model/fit.py), write model.json and print the tables."""
from __future__ import annotations

from reports.model.fit import BOOTSTRAP

from ..errors import UsageError
from ..outdirs import say_written
from .records import load_records, why_nothing

MIN_BOOTSTRAP = 10
__all__ = ["BOOTSTRAP", "check_bootstrap", "fit_records", "fit_runs"]


def check_bootstrap(samples: int) -> int:
    """--bootstrap: enough samples for a 95% interval."""
    if samples < MIN_BOOTSTRAP:
        raise UsageError(f"--bootstrap {samples} is too few for an interval: use 100 or more")
    return samples


def fit_records(runs, samples: int = BOOTSTRAP, fitted=None, places=(), df=None):
    """(the runs' records, their fits, their hierarchical fits). The fits are `fitted`
    ((fits, hierarchical fits) the caller has already), else those of a current model.json
    in `places` or the runs (fitted on exactly these records with `samples`), else fitted
    here. `df`: the runs' records where the caller has read them already."""
    from reports.model.fit import fit_frame
    from reports.model.store import current_model
    from reports.model.tiers import fit_tiers
    df = load_records(runs) if df is None else df
    if fitted is None:
        stored = current_model([*places, *runs], runs, samples)
        fitted = stored.fitted if stored else (fit_frame(df, samples), fit_tiers(df, samples))
    fits, hier = fitted
    return df, fits, hier


def fit_runs(runs, out, samples: int = BOOTSTRAP):
    """Fit, write OUT/model.json, print the tables; returns (fits, hierarchical fits)."""
    from reports.model.entries import fit_entries, hier_entries
    from reports.model.store import SAMPLES_FILE, write_model
    from reports.present.fit_tables import format_fits, format_hier
    df, fits, hier = fit_records(runs, samples, places=[out])
    if not fits:
        raise UsageError(f"nothing to fit in {', '.join(map(str, runs))}: {why_nothing(df)}")
    path = write_model(out, runs, fits, hier, samples)
    print(f"# scaling model of {', '.join(map(str, runs))}: T = alpha A(p) + n B(p) / bw, "
          f"fitted on time_us_median, relative error, {samples} bootstrap samples")
    print(format_fits(fit_entries(fits)))
    table = format_hier(hier_entries(hier))
    if table:
        print(table)
    say_written(path, path.with_name(SAMPLES_FILE))
    return fits, hier

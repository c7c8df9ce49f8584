"""Runs' records for the analysis verbs: bad directories and lines are usage errors."""
from __future__ import annotations

from pathlib import Path

from collectives.records import RECORDS_FILE

from ..errors import UsageError


def load_records(runs):
    """Records of these runs as one DataFrame; bad directories are usage errors."""
    from reports.runs.load import load_runs
    for run in runs:
        if not (Path(run) / RECORDS_FILE).is_file():
            raise UsageError(f"{run!r} holds no records.jsonl: give a run directory written by commscale run or dryrun")
    try:
        return load_runs(runs)
    except ValueError as exc:
        raise UsageError(f"{exc}: repair or remove that line") from None


def why_nothing(df) -> str:
    """Why no key could be fitted, in the user's terms."""
    from collectives.registry import COLLECTIVES
    ok = df[df["status"] == "ok"]
    if len(ok) and ok["nranks"].isna().all():
        return ("the rank count of every record is unknown (imported from a log that does not say it): "
                "import again with --nranks N")
    foreign = sorted(set(ok["collective"]) - set(COLLECTIVES))
    if foreign and set(ok["collective"]) <= set(foreign):
        return (f"commscale has no cost model for {', '.join(foreign)} (it imports and reports them): "
                f"fit runs of {', '.join(COLLECTIVES)}")
    sized = ok[(ok["size_bytes"].fillna(0) > 0) & (ok["nranks"].fillna(0) >= 2)]
    most = int(sized.groupby("collective")["size_bytes"].nunique().max()) if len(sized) else 0
    if most < 3:
        return (f"{most} size{'s' if most != 1 else ''} above 0 bytes at 2 or more ranks: a fit needs 3 or more per "
                f"collective, or several rank counts (fit a node-count series together: fit A B C): sweep more "
                f"sizes (-b/-e)")
    return ("a fit needs 'ok' records at 2 or more ranks and 3 or more sizes above 0 bytes per collective: "
            "sweep more sizes (-b/-e) or group sizes")

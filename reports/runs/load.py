"""Load run directories into one pandas DataFrame, one row per record."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from collectives.records import COMPUTE_FILE, FIELDS, RECORDS_FILE, read_records


def load_run(run_dir: str | Path) -> pd.DataFrame:
    """Records of one run (schema order), upgraded by `normalize`; raises ValueError on a
    corrupt line, naming file and line."""
    path = Path(run_dir) / RECORDS_FILE
    return pd.DataFrame(list(read_records(path)), columns=list(FIELDS))


def load_runs(run_dirs) -> pd.DataFrame:
    frames = [load_run(d) for d in run_dirs]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(FIELDS))


def load_compute(run_dir: str | Path) -> list[dict]:
    """`commscale compute` records of a run directory ([] when it has none)."""
    path = Path(run_dir) / COMPUTE_FILE
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]

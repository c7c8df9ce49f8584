"""The record schema: the contract between measuring (benchmarks/) and analysing (reports/).

One JSON object per measured point, appended to `records.jsonl` and flushed and fsynced
as soon as the point is measured, plus one `meta.json` per run. Fields are flat snake_case
with units in their names so `pandas.DataFrame(records)` works directly.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Iterable

SCHEMA_VERSION = 1
RECORDS_FILE = "records.jsonl"
META_FILE = "meta.json"
COMPUTE_FILE = "compute.jsonl"
"""Records of `commscale compute` (benchmarks/compute/measure.py): GEMM and copy figures."""

#: Every field of a record, in the order they are written. Documented in docs/records.md.
FIELDS = (
    "schema_version", "run_id", "timestamp", "status", "reason",
    "collective", "backend", "device", "fabric", "transport", "dtype", "reduce_op", "in_place",
    "size_bytes", "count", "nranks", "nnodes", "ranks_per_node",
    "ndomains", "nodes_per_domain", "domain_size_nodes",
    "warmup", "iters", "timing", "time_us_mean", "time_us_median", "time_us_min", "time_us_max",
    "time_us_p99", "median_ci95_rel_pct", "algbw_gbps", "busbw_gbps", "n_wrong",
    "samples_us", "samples_skipped", "process_samples_us",
)
"""The last three (optional, null where the tool gave no per-iteration times; records
written before them read as null): imported nccl-tests -I 1 times, see docs/records.md."""
STATUSES = ("ok", "skipped", "failed")
TIMINGS = ("call", "batch")
"""`timing`: each call timed alone (max over ranks per call), or a batch of calls between
two synchronisations, per call (benchmarks/sweep/harness.py)."""

#: Environment variables captured in meta.json: these prefixes/names only, and never a
#: name that looks like a credential.
ENV_ALLOW_PREFIXES = ("NCCL_", "CUDA_", "SLURM_", "TORCH_", "TORCHELASTIC_", "GLOO_",
                      "OMP_", "PMI_", "PMIX_", "OMPI_COMM_WORLD_", "MPI_", "MPIR_CVAR_", "UCX_", "FI_")
ENV_ALLOW_NAMES = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK",
                   "LOCAL_WORLD_SIZE", "GROUP_RANK", "HOSTNAME")
_SECRET_RE = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|(^|_)KEY($|_)|AUTH|COOKIE|PRIVATE", re.IGNORECASE)


def now_utc() -> str:
    """The time for records and meta.json: ISO 8601, UTC, milliseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def bandwidths(size_bytes: int, time_us: float, factor: float) -> tuple[float, float]:
    """(algbw_gbps, busbw_gbps): algbw = size_bytes / time, busbw = algbw x factor.

    GB/s are 1e9 bytes per second, as nccl-tests prints them.
    """
    if time_us <= 0:
        return 0.0, 0.0
    algbw = size_bytes / (time_us * 1e-6) / 1e9
    return algbw, algbw * factor


def make_record(**fields) -> dict:
    """A record with every schema field present (missing ones None), in schema order.

    Unknown fields raise ValueError: the schema is the contract.
    """
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown record fields: {sorted(unknown)}")
    record = {name: fields.get(name) for name in FIELDS}
    record["schema_version"] = SCHEMA_VERSION
    if record["status"] not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {record['status']!r}")
    return record


class RecordWriter:
    """Appends records to RUN/records.jsonl, one line each, flushed and fsynced per record."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / RECORDS_FILE
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def allowed_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed, non-secret subset of the environment, sorted by name."""
    environ = os.environ if environ is None else environ
    return {
        k: v for k, v in sorted(environ.items())
        if (k in ENV_ALLOW_NAMES or k.startswith(ENV_ALLOW_PREFIXES)) and not _SECRET_RE.search(k)
    }


def load_meta(run_dir: Path) -> dict:
    """RUN/meta.json: the one reader of it. Raises FileNotFoundError where it is missing,
    ValueError where it is not a JSON object, OSError where it cannot be read."""
    meta = json.loads((Path(run_dir) / META_FILE).read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError(f"{Path(run_dir) / META_FILE} is not a JSON object")
    return meta


def read_meta(run_dir: Path) -> dict | None:
    """RUN/meta.json, or None where it is missing or unreadable (for a launcher that only
    adds to it after the ranks are gone)."""
    try:
        return load_meta(run_dir)
    except (OSError, ValueError):
        return None


def write_meta(run_dir: Path, meta: dict) -> None:
    """Write RUN/meta.json atomically (write a temp file, then rename)."""
    path = Path(run_dir) / META_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def normalize(record: dict) -> dict:
    """Upgrade a loaded record to the current schema; unknown versions raise ValueError."""
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"record schema_version {version!r} is not supported (this commscale reads {SCHEMA_VERSION})")
    out = {name: record.get(name) for name in FIELDS}
    if out["timing"] is None and "timing" not in record:
        out["timing"] = "call"  # written before the field: commscale timed every call
    return out


def read_records(path: Path) -> Iterable[dict]:
    """Yield normalized records from a records.jsonl file.

    A last line without its newline that does not parse is a write cut short (the process
    was killed mid-line): it is reported on stderr and skipped. Any other bad line raises
    ValueError naming file and line.
    """
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if line_no == len(lines) and not line.endswith("\n"):
                print(f"commscale: warning: {path}:{line_no}: the last line is cut short (the run was killed "
                      f"mid-write); skipped", file=sys.stderr)
                return
            raise ValueError(f"{path}:{line_no}: not a JSON record ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{line_no}: not a JSON object")
        try:
            yield normalize(record)
        except ValueError as exc:
            raise ValueError(f"{path}:{line_no}: {exc}") from None

"""meta.json of a run in the making: written by rank 0 at the start, on a stop signal (from
the watchdog thread, while the main thread may be blocked in a collective), on a failure
and at the end; one lock keeps the writes whole and in order."""
from __future__ import annotations

import platform
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from collectives.records import SCHEMA_VERSION, allowed_env, now_utc, write_meta


def new_meta(cfg, launch, backend, run_id: str, hosts: list[str], topology: dict) -> dict:
    """meta.json as written at the start of a run; later writes update status, finished_at,
    stopped_by, failure, the point counts and the transport check. `topology`: per host,
    collectives/topology.py's answer."""
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "running",
        "started_at": now_utc(), "finished_at": None, "stopped_by": None, "failure": None,
        "command_line": sys.argv, "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "launcher": launch.launcher, "world_size": backend.world_size,
        "hosts": list(dict.fromkeys(hosts)), "rank_hosts": hosts,
        "versions": {"python": platform.python_version(), "commscale_schema": SCHEMA_VERSION, **backend.versions()},
        "platform": platform.platform(), "env": allowed_env(), "topology": topology,
        "host_load": backend.host_load() if hasattr(backend, "host_load") else None,
    }


class RunMeta:
    def __init__(self, out: Path, meta: dict):
        self.out, self.meta = Path(out), meta
        self._lock = threading.Lock()

    def update(self, **fields) -> None:
        with self._lock:
            self.meta.update(fields)
            write_meta(self.out, self.meta)

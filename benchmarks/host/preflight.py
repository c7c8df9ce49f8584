"""Preflight: a launch that cannot work is one line within seconds, not minutes of retries.

`check_launch` runs on every rank before the backend starts (torch backends only: MPI does
not use MASTER_ADDR; a world of one needs no store). Rank 0, which hosts the store, checks
at once that MASTER_ADDR resolves, that it is an address of this host and that MASTER_PORT
is free here; the other ranks (and rank 0 when torchrun's agent hosts the store) check that
MASTER_ADDR resolves and that rank 0's store answers at MASTER_ADDR:MASTER_PORT within the
deadline, as a torch.distributed.TCPStore client: something that accepts connections but
does not speak the store's protocol fails it too.

Who prints: rank 0 raises and the CLI prints its line (rank 0 speaks for all). A rank
other than 0 reports only after it has waited (RESOLVE_RETRY_S for its resolver, the
deadline for the store), and then prints its own line: by then rank 0, if it saw the same
problem, has said so and exited, and a launcher that ends the step when one rank fails
(torchrun, srun --kill-on-bad-exit as commscale's job scripts use, mpiexec, commscale's own
dryrun and emulate) has ended this rank. Ended so by SIGTERM while waiting, a rank exits
with status 2 quietly, so the step's status is the preflight's. A launcher that lets the
other ranks run on shows the waiting rank's own line as well, naming that rank.

`check_world` runs once the backend exists, on every rank: it gathers each rank's host,
commscale version and source hash, torch, NCCL and MPI versions, the GPUs it sees and its
clock's offset from rank 0's, and raises the same UsageError on every rank when they do not
agree (rank 0 prints it; from then on the rank ignores SIGTERM, so a launcher that ends the
step when the first rank exits does not turn the others' status 2 into 143). The
comparisons are plain functions of the gathered list.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import importlib.util
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from collectives.launch import LaunchEnv

from ..errors import EXIT_USAGE, UsageError, report_usage_error
from .detect import node_name

TORCH_BACKENDS = ("gloo", "nccl")
"""The backends that meet at MASTER_ADDR:MASTER_PORT (rank 0's TCPStore)."""

DEADLINE_S = 10.0
"""How long a rank other than 0 waits for rank 0's store to answer."""

RESOLVE_RETRY_S = 5.0
"""How long a rank other than 0 asks its resolver again for a MASTER_ADDR that does not
resolve (a resolver slow at job start), quietly; rank 0 says it at once."""

CLOCK_SKEW_BOUND_S = 1.0
"""The most two ranks' wall clocks may differ (records and meta.json carry timestamps)."""

CLOCK_ROUNDS = 3
"""Round trips measured for the clock offsets; the tightest is kept."""

SOURCE_PACKAGES = ("collectives", "benchmarks", "reports", "slurm")
SOURCE_SUFFIXES = (".py", ".sh", ".sbatch", ".c")

_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class _Rank:
    """This rank as the messages name it, and where it looks for the store."""
    rank: int
    host: str
    addr: str
    port: int
    addr_origin: str

    def says(self, problem: str) -> UsageError:
        return UsageError(f"rank {self.rank} on host {self.host}: {problem}")


# --- before the backend: the launch ------------------------------------------------------
def check_launch(launch: LaunchEnv, backend_name: str, deadline_s: float = DEADLINE_S) -> None:
    """Raise UsageError (one line: rank, host, problem, fix) when this rank cannot meet the
    others at MASTER_ADDR:MASTER_PORT. A rank other than 0 prints its line itself (after
    waiting: see the module's note) and marks it reported."""
    if backend_name not in TORCH_BACKENDS or launch.world_size == 1:
        return
    me = _Rank(launch.rank, node_name(os.environ), launch.master_addr, launch.master_port,
               "" if "MASTER_ADDR" in os.environ or launch.launcher != "srun"
               else " (unset, so srun's first node)")
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == str(True)
    if launch.rank == 0 and not agent_store:
        found = _resolve_or_fail(me, deadline_s, retry_s=0.0)
        _check_own_address(me, found)
        _check_port_free(me)
        return
    try:
        with _launcher_may_end_this_rank():
            end = time.monotonic() + deadline_s
            found = _resolve_or_fail(me, deadline_s, retry_s=0.0 if launch.rank == 0 else
                                     min(RESOLVE_RETRY_S, deadline_s))
            sockaddr = _connect(me, found, end, deadline_s)
            _store_answers(me, sockaddr[0], end, deadline_s)
    except UsageError as exc:
        if launch.rank != 0:  # the CLI prints rank 0's only: this rank speaks for itself
            report_usage_error(exc)
            exc.reported = True
        raise


@contextlib.contextmanager
def _launcher_may_end_this_rank():
    """While this rank waits for rank 0, a SIGTERM (the launcher ending the step because
    another rank failed its preflight) ends it with status 2 and no output."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _end_quietly)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _end_quietly(signum, frame):
    os._exit(EXIT_USAGE)


def _resolve(host: str, port: int, timeout_s: float) -> list:
    """getaddrinfo in a thread of its own, so a resolver that never answers cannot hold this
    rank past `timeout_s` (raises OSError, or TimeoutError then)."""
    box = {}

    def look():
        try:
            box["found"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc
    thread = threading.Thread(target=look, name="commscale-resolve", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "found" in box:
        return box["found"]
    raise box.get("error") or TimeoutError(f"the resolver did not answer within {timeout_s:g} s")


def _resolve_or_fail(me: _Rank, deadline_s: float, retry_s: float) -> list:
    """MASTER_ADDR's addresses; asked again quietly for `retry_s`, then one line."""
    end = time.monotonic() + retry_s
    while True:
        try:
            return _resolve(me.addr, me.port, max(deadline_s, 1.0))
        except OSError as exc:
            reason = str(exc) if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            if time.monotonic() >= end:
                raise me.says(f"MASTER_ADDR {me.addr!r}{me.addr_origin} does not resolve here ({reason}): "
                              f"set MASTER_ADDR to a name or IP address of rank 0's host that every node "
                              f"resolves") from None
            time.sleep(min(0.5, max(end - time.monotonic(), 0.0)))


def _ips(found: list) -> list[str]:
    return list(dict.fromkeys(sockaddr[0] for *_, sockaddr in found))


def _check_own_address(me: _Rank, found: list) -> None:
    """Rank 0: one of MASTER_ADDR's addresses is this host's (it can bind to it)."""
    for family, _, _, _, sockaddr in found:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((sockaddr[0], 0, *sockaddr[2:]))
            return
        except OSError:
            continue
    raise me.says(f"MASTER_ADDR {me.addr!r}{me.addr_origin} ({', '.join(_ips(found))}) is not an address of this host, "
                  f"where rank 0 runs and its store listens: set MASTER_ADDR to rank 0's host name or address, "
                  f"or start rank 0 on {me.addr}")


def _check_port_free(me: _Rank) -> None:
    """Rank 0: MASTER_PORT can be bound as the store binds it (every address, IPv6 with
    IPv4, SO_REUSEADDR: a closed connection's TIME_WAIT does not count)."""
    for family, wildcard in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # no IPv6 here: the store falls back to IPv4
        with s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                s.bind((wildcard, me.port))
                return
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise me.says(f"port {me.port} on host {me.host} is taken by another process (ss -ltnp "
                                  f"'sport = :{me.port}' names it), so rank 0's store cannot listen there: "
                                  f"pick another MASTER_PORT") from None
                if family == socket.AF_INET6 and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    continue
                raise me.says(f"MASTER_PORT {me.port} cannot be bound on host {me.host} ({exc.strerror}): "
                              f"pick another MASTER_PORT (above 1023 unless rank 0 runs as root)") from None


def _connect(me: _Rank, found: list, end: float, deadline_s: float):
    """The first of MASTER_ADDR's addresses that accepts a TCP connection, tried again until
    `end` (rank 0 may still be starting); its sockaddr."""
    last = "nothing tried"
    while True:
        for family, kind, proto, _, sockaddr in found:
            try:
                with socket.socket(family, kind, proto) as s:
                    s.settimeout(max(min(end - time.monotonic(), 2.0), 0.05))
                    s.connect(sockaddr)
                return sockaddr
            except OSError as exc:
                last = exc.strerror or str(exc) or type(exc).__name__
        if time.monotonic() >= end:
            raise me.says(f"nothing answers at MASTER_ADDR:MASTER_PORT {me.addr}:{me.port}{me.addr_origin} within "
                          f"{deadline_s:g} s ({last}): check that rank 0 was started, that MASTER_ADDR names rank 0's "
                          f"host and that port {me.port} is open between the nodes")
        time.sleep(_POLL_S)


def _store_answers(me: _Rank, ip: str, end: float, deadline_s: float) -> None:
    """A TCPStore client at `ip` (no second lookup) in a thread of its own: one that
    accepted but never answers (not a store) cannot hold this rank past `end`."""
    import torch.distributed as dist
    box = {}

    def join():
        try:
            store = dist.TCPStore(ip, me.port, is_master=False,
                                  timeout=timedelta(seconds=max(end - time.monotonic(), 1.0)))
            box["ok"] = store.check(["commscale/preflight"]) in (True, False)
        except Exception as exc:  # the store's own error, named in the line
            box["error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    thread = threading.Thread(target=join, name="commscale-store-check", daemon=True)
    thread.start()
    thread.join(max(end - time.monotonic(), 1.0))
    if box.get("ok"):
        return
    if "error" in box:
        raise me.says(f"rank 0's store at {me.addr}:{me.port} failed ({box['error']}): check that MASTER_PORT is "
                      f"the same on every rank and not used by another program on rank 0's host")
    raise me.says(f"something at {me.addr}:{me.port} accepts connections but is not rank 0's store (no answer "
                  f"within {deadline_s:g} s): another process holds port {me.port} on rank 0's host: pick another "
                  f"MASTER_PORT")


# --- once the backend exists: the world agrees -------------------------------------------
def check_world(backend, launch: LaunchEnv, gpus_expected: int | None = None) -> None:
    """Gather every rank's facts (local_facts, and its clock's offset from rank 0's) and
    raise the same UsageError on every rank when they disagree (world_problem)."""
    if backend.world_size == 1 and gpus_expected is None:
        return
    offsets = measure_clock_offsets(backend)
    offset, error = offsets[backend.rank]
    facts = backend.all_gather_object(dict(local_facts(backend, launch), clock_offset_s=offset,
                                           clock_error_s=error))
    problem = world_problem(facts, backend.device, gpus_expected)
    if problem:
        if threading.current_thread() is threading.main_thread():
            # Every rank leaves with status 2; one that leaves first must not turn the
            # others' status into 143 (srun --kill-on-bad-exit, torchrun send SIGTERM).
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise UsageError(problem)


def local_facts(backend, launch: LaunchEnv) -> dict:
    """What this rank runs and sees: host, versions, source hash, GPUs."""
    import torch
    versions = backend.versions()
    return {"rank": backend.rank, "host": node_name(os.environ), "commscale": commscale_version(),
            "source": source_hash(), "torch": torch.__version__, "nccl": _nccl_version(torch),
            "mpi": _mpi_version(versions), "gpus": torch.cuda.device_count(), "local_rank": launch.local_rank}


def commscale_version() -> str:
    """The installed distribution's version (benchmarks/cli's version(), which this layer
    may not import)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("commscale")
    except PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=1)
def source_hash() -> str:
    """A short SHA-256 over commscale's source files (path and content), so two checkouts
    with the same version number are told apart."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _nccl_version(torch) -> str | None:
    try:
        if torch.cuda.is_available():
            return ".".join(map(str, torch.cuda.nccl.version()))
    except Exception:  # a build without NCCL
        pass
    return None


def _mpi_version(versions: dict) -> str | None:
    """The MPI library's first line, from the mpi backend or from mpi4py loaded without
    initialising MPI (MPI_Get_library_version may be called before MPI_Init)."""
    text = versions.get("mpi_library_version")
    if text is None and importlib.util.find_spec("mpi4py") is not None:
        try:
            import mpi4py
            if "mpi4py.MPI" not in sys.modules:
                saved, mpi4py.rc.initialize = mpi4py.rc.initialize, False
                try:
                    importlib.import_module("mpi4py.MPI")  # loads the library; MPI not initialised
                finally:
                    mpi4py.rc.initialize = saved
            text = sys.modules["mpi4py.MPI"].Get_library_version()
        except Exception:  # mpi4py without a loadable MPI library
            text = None
    lines = (text or "").strip().splitlines()
    return " ".join(lines[0].split()) if lines else None


def measure_clock_offsets(backend, rounds: int = CLOCK_ROUNDS) -> list[tuple[float, float]]:
    """Every rank's (offset from rank 0's wall clock, error bound), the same list on every
    rank: rank 0 sends its time t0, each rank notes when it arrives, the notes come back
    to rank 0 by t3; a rank's note lies between t0 and t3 of rank 0's clock. The round
    with the smallest t3 - t0 of `rounds` is kept."""
    best = None
    for _ in range(rounds):
        backend.barrier()
        t0 = backend.broadcast_object(time.time() if backend.rank == 0 else None)
        arrived = backend.all_gather_object(time.time())
        t3 = backend.broadcast_object(time.time() if backend.rank == 0 else None)
        if best is None or t3 - t0 < best[1] - best[0]:
            best = (t0, t3, arrived)
    return clock_offsets(*best)


def clock_offsets(t0: float, t3: float, arrived: list[float]) -> list[tuple[float, float]]:
    """Each rank's offset (its clock minus rank 0's) and its bound: half the round trip."""
    middle, error = (t0 + t3) / 2, max(t3 - t0, 0.0) / 2
    return [(when - middle, error) for when in arrived]


# --- the comparisons (pure: lists of gathered dicts) -------------------------------------
VERSION_KEYS = ("commscale", "source", "torch", "nccl", "mpi")


def _runs(facts: dict, keys: list[str]) -> str:
    """What a rank runs, for the keys that differ ("commscale 0.1.0 (source ab12...)")."""
    parts = []
    if "commscale" in keys or "source" in keys:
        parts.append(f"commscale {facts.get('commscale')} (source {facts.get('source')})")
    for key, name in (("torch", "torch"), ("nccl", "NCCL"), ("mpi", "MPI")):
        if key in keys:
            value = facts.get(key)
            parts.append(f"{name} {value}" if value else f"no {name}")
    return ", ".join(parts)


def version_problem(facts: list[dict]) -> str | None:
    """The first rank whose versions differ from rank 0's, and the fix."""
    first = facts[0]
    for f in facts[1:]:
        keys = [k for k in VERSION_KEYS if f.get(k) != first.get(k)]
        if not keys:
            continue
        names = (["commscale"] if {"commscale", "source"} & set(keys) else []) + \
            [{"torch": "torch", "nccl": "NCCL", "mpi": "MPI library"}[k] for k in keys if k in ("torch", "nccl", "mpi")]
        return (f"rank {f['rank']} on host {f['host']} runs {_runs(f, keys)} but rank 0 on host {first['host']} runs "
                f"{_runs(first, keys)}: install the same {' and '.join(names)} on every node (one package or one "
                f"checkout, e.g. an environment on a shared file system)")
    return None


def gpu_problem(facts: list[dict], device: str, gpus_expected: int | None = None) -> str | None:
    """With CUDA ranks: every rank of a node and every node see as many GPUs as rank 0,
    at least as many as the node has ranks; with `gpus_expected`, exactly that many."""
    per_host = Counter(f["host"] for f in facts)
    first_on = {}
    for f in facts:
        first_on.setdefault(f["host"], f)
    ref = facts[0]
    for f in facts:
        who, gpus = f"rank {f['rank']} on host {f['host']}", f["gpus"]
        if gpus_expected is not None and gpus != gpus_expected:
            return (f"{who} sees {gpus} GPU(s) where {gpus_expected} are expected: check nvidia-smi and "
                    f"CUDA_VISIBLE_DEVICES on {f['host']}, or leave {f['host']} out of the job")
        if device != "cuda":
            continue
        mate = first_on[f["host"]]
        if gpus != mate["gpus"]:
            return (f"{who} sees {gpus} GPU(s) but rank {mate['rank']} on the same host sees {mate['gpus']}: give "
                    f"every rank of a node the same CUDA_VISIBLE_DEVICES (each rank takes the GPU of its LOCAL_RANK)")
        if gpus != ref["gpus"]:
            return (f"{who} sees {gpus} GPU(s) but rank 0 on host {ref['host']} sees {ref['gpus']}: a GPU is "
                    f"missing or hidden on {f['host']} (check nvidia-smi and CUDA_VISIBLE_DEVICES there), or leave "
                    f"it out of the job")
        if gpus < per_host[f["host"]]:
            return (f"{who} sees {gpus} GPU(s) but host {f['host']} runs {per_host[f['host']]} ranks: start at most "
                    f"{gpus} ranks per node (--nproc-per-node, --ntasks-per-node) or make every GPU visible")
    return None


def clock_problem(facts: list[dict], bound_s: float = CLOCK_SKEW_BOUND_S) -> str | None:
    """The first rank whose clock is certainly more than `bound_s` off rank 0's."""
    ref = facts[0]
    for f in facts[1:]:
        offset = f["clock_offset_s"] - ref["clock_offset_s"]
        error = f.get("clock_error_s") or 0.0
        if abs(offset) - error > bound_s:
            return (f"rank {f['rank']} on host {f['host']}: its clock is {offset:+.3f} s (+- {error * 1e3:.1f} ms) off "
                    f"rank 0's on host {ref['host']}, more than the {bound_s:g} s allowed: synchronise the nodes' "
                    f"clocks (chrony or ntpd) and launch again")
    return None


def world_problem(facts: list[dict], device: str, gpus_expected: int | None = None,
                  bound_s: float = CLOCK_SKEW_BOUND_S) -> str | None:
    """The first disagreement of versions, GPUs, then clocks; None when the world agrees."""
    return version_problem(facts) or gpu_problem(facts, device, gpus_expected) or clock_problem(facts, bound_s)

"""Fabrics: NCCL environment presets that force one path between GPUs, and the transport
NCCL actually used, read back from its debug log.

NCCL reads these variables when it creates its first communicator and keeps them for the
life of the process, so each fabric needs a launch of its own (benchmarks/launch/fabrics.py).
`nccl_env` adds the preset and the debug log to the user's NCCL_* settings without
overwriting any: a preset variable set to another value is an error, debug settings that
hide the connection lines turn the transport check off, with a note saying why.

- nvlink: P2P only where GPUs are joined by NVLink (NCCL_P2P_LEVEL=NVL), no shared-memory
  fallback: without NVLink, NCCL goes to the network, and the read-back says so.
- pcie: no GPU peer-to-peer, so data goes through host memory over PCIe (SHM transport);
  NVLink SHARP off.
- net: neither peer-to-peer nor shared memory: even GPUs of one node talk through the
  network transport (NET/IB or NET/Socket); NVLink SHARP off.

Between nodes NCCL always uses NET; the presets choose the path within a node. The
transport of a group is what its ranks' logs say they connected with, as NCCL names it:
"P2P/CUMEM", "P2P/IPC", "SHM/direct", "NET/IB", "NET/Socket", "NVLS", "CollNet".
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

FABRICS = ("nvlink", "pcie", "net")
"""Fabrics with a preset; "auto" sets nothing, "all" is each of these in turn."""

NCCL_PRESETS = {
    "nvlink": {"NCCL_P2P_DISABLE": "0", "NCCL_P2P_LEVEL": "NVL", "NCCL_SHM_DISABLE": "1"},
    "pcie": {"NCCL_P2P_DISABLE": "1", "NCCL_SHM_DISABLE": "0", "NCCL_NVLS_ENABLE": "0"},
    "net": {"NCCL_P2P_DISABLE": "1", "NCCL_SHM_DISABLE": "1", "NCCL_NVLS_ENABLE": "0"},
}

EXPECTED_CLASS = {"nvlink": "P2P", "pcie": "SHM", "net": "NET"}
"""The transport class each preset asks for within a node."""

# host:pid:tid [dev] NCCL INFO Channel 00/0 : 0[0] -> 1[1] [send] via NET/IB/0/GDRDMA
_CHANNEL = re.compile(r"NCCL INFO Channel \d+(?:/\d+)? : (\d+)\[\d+\] -> (\d+)\[\d+\](?: \[(?:send|receive)\])? "
                      r"via (\S+)")


DEBUG_SUBSYS = "INIT,P2P,NET"
"""NCCL_DEBUG_SUBSYS set where the user has none."""

_LOUD_LEVELS = {"INFO", "ABORT", "TRACE"}
"""NCCL_DEBUG levels that print INFO lines (NCCL's order: VERSION < WARN < INFO < ABORT < TRACE;
it compares the names case-insensitively)."""


class FabricEnvError(ValueError):
    """A variable of the fabric's preset is already set in the environment to another value."""


@dataclass(frozen=True)
class NcclEnv:
    """What to do to the environment before NCCL starts (`nccl_env`).

    set: variables to add, none of them already in the environment: the user's NCCL_* stay.
    log_path: the file NCCL will write its debug log to, for NcclLog; None when the transport
      read-back cannot work with the user's settings.
    note: one line saying why the transport check is off (log_path None), else None."""
    set: dict[str, str]
    log_path: Path | None
    note: str | None


def nccl_env(fabric: str, default_log: Path, environ: Mapping[str, str], host: str, pid: int) -> NcclEnv:
    """The fabric's preset and the debug log the transport read-back needs, added to the
    user's NCCL_* settings in `environ`, never overwriting them.

    - NCCL_DEBUG: INFO where unset; INFO or TRACE (or ABORT) kept; a quieter level (VERSION,
      WARN, NONE, anything else) kept, and the check is off.
    - NCCL_DEBUG_SUBSYS: INIT,P2P,NET where unset; a user's list kept as it is. NCCL logs each
      connection line under INIT and the transport's own subsystem (INIT|P2P, INIT|SHM, INIT|NET),
      so the list must let INIT through, or all of P2P, SHM and NET; else the check is off.
      Parsed as NCCL does: comma-separated, case-insensitive, ALL, a leading ^ inverts.
    - NCCL_DEBUG_FILE: `default_log` where unset (a % in it written %%, which NCCL reads as
      one %); a user's file kept and read back from its
      path as NCCL expands it (%h: `host` up to its first dot, %p: `pid`, %%: %, any other %x
      left as it is). Without %p every process of a host would write (and truncate) the same
      file, so the check is off; empty (NCCL logs to stdout) too.
    - The preset (NCCL_PRESETS[fabric]): its variables added where unset; one set to another
      value raises FabricEnvError.

    Where the check is off, the debug variables are left alone (only the preset is added): they
    would only move or add to the user's own NCCL output. `host` is socket.gethostname() and
    `pid` os.getpid() of the process that starts NCCL; nothing here reads the environment."""
    preset = NCCL_PRESETS.get(fabric, {})
    clash = [k for k, v in preset.items() if k in environ and not _same_value(environ[k], v)]
    if clash:
        said = ", ".join(f"{k}={environ[k]}" for k in clash)
        needs = ", ".join(f"{k}={preset[k]}" for k in clash)
        raise FabricEnvError(f"{said} in the environment contradicts --fabric {fabric} (which needs {needs}): "
                             f"unset {' and '.join(clash)}, or drop --fabric")
    add = {k: v for k, v in preset.items() if k not in environ}

    # NCCL expands % in the file name: %% keeps a % of the path (OUT may have one) as it is
    debug = {"NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": DEBUG_SUBSYS,
             "NCCL_DEBUG_FILE": str(default_log).replace("%", "%%")}
    why = []
    level = environ.get("NCCL_DEBUG")
    if level is not None and level.upper() not in _LOUD_LEVELS:
        why.append(f"NCCL_DEBUG={level} hides NCCL's connection lines (NCCL_DEBUG=INFO turns it on)")
    subsys = environ.get("NCCL_DEBUG_SUBSYS")
    if subsys is not None and (missing := _subsys_missing(subsys)):
        why.append(f"NCCL_DEBUG_SUBSYS={subsys} hides connection lines: it lacks {missing} "
                   f"(adding INIT turns it on)")
    log_path = Path(default_log)
    file = environ.get("NCCL_DEBUG_FILE")
    if file is not None:
        log_path, problem = _expand_debug_file(file, host, pid)
        if problem:
            why.append(problem)
    if why:
        return NcclEnv(add, None, "transport check off: " + "; ".join(why))
    return NcclEnv({**add, **{k: v for k, v in debug.items() if k not in environ}}, log_path, None)


def _same_value(have: str, want: str) -> bool:
    """Equal for NCCL: integer variables as numbers (NCCL_P2P_DISABLE=01 is 1), others as written."""
    try:
        return int(have) == int(want)
    except ValueError:
        return have == want


def _subsys_missing(value: str) -> str | None:
    """What a NCCL_DEBUG_SUBSYS value lacks for every connection line to be logged, or None.
    NCCL splits it at commas, compares names without case, and inverts the list after a
    leading ^ (all subsystems but those named)."""
    invert = value.startswith("^")
    names = {t.upper() for t in (value[1:] if invert else value).split(",")}
    wanted = ("INIT", "P2P", "SHM", "NET")
    if invert:
        on = set() if "ALL" in names else {s for s in wanted if s not in names}
    else:
        on = set(wanted) if "ALL" in names else names & set(wanted)
    if "INIT" in on or {"P2P", "SHM", "NET"} <= on:
        return None
    others = [s for s in ("P2P", "SHM", "NET") if s not in on]
    return f"INIT (or {', '.join(others)})"


def _expand_debug_file(value: str, host: str, pid: int) -> tuple[Path | None, str | None]:
    """NCCL_DEBUG_FILE's path as NCCL expands it (src/debug.cc): %h the host name up to its first
    dot, with % and / made -; %p the pid; %% a %; any other %x kept as it is. Returns (path, None),
    or (None, why the read-back cannot use it)."""
    if not value:
        return None, "NCCL_DEBUG_FILE is empty, so NCCL logs to stdout"
    short = host.split(".", 1)[0].replace("%", "-").replace("/", "-")
    out, i, has_pid = [], 0, False
    while i < len(value):
        if value[i] != "%":
            out.append(value[i])
            i += 1
            continue
        if i + 1 == len(value):
            return None, f"NCCL_DEBUG_FILE={value} ends in a lone %, which NCCL does not expand predictably"
        nxt = value[i + 1]
        has_pid |= nxt == "p"
        out.append({"%": "%", "h": short, "p": str(pid)}.get(nxt, "%" + nxt))
        i += 2
    if not has_pid:
        return None, (f"NCCL_DEBUG_FILE={value} has no %p, so all processes of a host would write one file "
                      f"(adding %p turns it on)")
    return Path("".join(out)), None


def transport_label(via: str) -> str:
    """'P2P/CUMEM/read' -> 'P2P/CUMEM', 'NET/IB/0/GDRDMA' -> 'NET/IB', 'NVLS' -> 'NVLS'."""
    return "/".join(via.split("/")[:2])


def transport_class(label: str) -> str:
    return label.split("/")[0]


def parse_transports(lines) -> set[str]:
    """Transports of the connections in NCCL debug-log lines."""
    return {transport_label(m.group(3)) for line in lines if (m := _CHANNEL.search(line))}


class NcclLog:
    """One process's NCCL debug log, read incrementally: `new_transports()` gives the
    transports of connections logged since the last call."""

    def __init__(self, path: Path):
        self.path, self._offset, self._partial = Path(path), 0, ""

    def new_transports(self) -> set[str]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                f.seek(self._offset)
                text = f.read()
                self._offset = f.tell()
        except FileNotFoundError:  # NCCL writes it at its first communicator
            return set()
        text, self._partial = self._partial + text, ""
        if text and not text.endswith("\n"):
            text, _, self._partial = text.rpartition("\n")
        return parse_transports(text.splitlines())


def transport_problem(fabric: str, transports: set[str], nnodes: int) -> str | None:
    """Why the transports seen in a group do not match the fabric asked for, or None.
    On one node every connection must be of the fabric's class; across nodes the
    connections between nodes are NET, so only the class asked for and NET may appear."""
    if fabric not in EXPECTED_CLASS or not transports:
        return None
    want = EXPECTED_CLASS[fabric]
    allowed = {want} if nnodes == 1 else {want, "NET"}
    classes = {transport_class(t) for t in transports}
    if classes - allowed or (nnodes == 1 and want not in classes):
        return (f"fabric {fabric} asked for {want} transport{'' if nnodes == 1 else ' within nodes'} but NCCL "
                f"connected via {', '.join(sorted(transports))}")
    return None

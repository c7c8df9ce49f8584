"""Fabrics: NCCL environment presets that force one path between GPUs, and the transport
NCCL actually used, read back from its debug log.

NCCL reads these variables when it creates its first communicator and keeps them for the
life of the process, so each fabric needs a launch of its own (benchmarks/fabrics.py).

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


def debug_env(fabric: str, log_file: Path) -> dict:
    """Variables to set before NCCL starts: the fabric's preset, and an INFO log of
    initialisation and connections written to `log_file` (read back by NcclLog)."""
    return {**NCCL_PRESETS.get(fabric, {}), "NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,P2P,NET",
            "NCCL_DEBUG_FILE": str(log_file)}


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

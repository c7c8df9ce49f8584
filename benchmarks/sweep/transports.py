"""The fabric and transport fields of a sweep's records: which path the points took."""
from __future__ import annotations

import os

from collectives.fabric import FABRICS, NcclLog

EMULATED_FABRIC_VAR = "COMMSCALE_NET_FABRIC"
"""Set by `commscale emulate` on its ranks: the fabric label of records between nodes."""


def fabric_label(asked: str, backend, nnodes: int) -> str:
    """The record's fabric: the preset asked for, else the label of an emulated network
    between nodes (COMMSCALE_NET_FABRIC, set by `commscale emulate`), else the backend's.
    The vocabulary is documented in docs/records.md ("fabric")."""
    if asked in FABRICS:
        return asked
    emulated = os.environ.get(EMULATED_FABRIC_VAR)
    if emulated and nnodes > 1:
        return emulated
    return backend.fabric(nnodes)


class Transports:
    """The transport of each group's records. NCCL: what its debug log on the group's ranks
    says they connected with, gathered after every point (connections are made lazily);
    the connections logged while the launch started belong to the whole world's group.
    Other backends, and NCCL when its log cannot be read back: their fixed answer."""

    def __init__(self, backend, nccl_log: NcclLog | None):
        self.backend, self.log = backend, nccl_log
        self.at_launch = nccl_log.new_transports() if nccl_log else set()
        self.seen: set[str] = set()
        self._member, self._fixed = False, None

    @property
    def reads_log(self) -> bool:
        return self.log is not None

    def begin(self, plan, member: bool) -> None:
        self._member = member
        self.seen = set(self.at_launch) if len(plan.ranks) == self.backend.world_size else set()
        self._fixed = self.backend.transport(plan.nnodes)

    def after_point(self) -> str | None:
        """Every rank, after each point: the group's transports so far, as one label."""
        if not self.reads_log:
            return self._fixed
        mine = sorted(self.log.new_transports()) if self._member else []
        for theirs in self.backend.all_gather_object(mine):
            self.seen.update(theirs)
        return ",".join(sorted(self.seen)) or None

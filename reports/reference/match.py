"""Where a run sits among comparable published runs (`commscale normal`).

Comparable means, in this order of strictness (the first level with enough runs wins, and
the result says what was relaxed):
  0. same collective; same device generation (CPU runs only with CPU runs); one node only
     with one node and several only with several; same GPUs (ranks) per node; a node count
     within a factor of 2; the same network class;
  1. ... any network class;
  2. ... any node count (still one node against one node);
  3. ... any GPUs per node.
The collective, the generation and one-node-or-several are never relaxed: a run on another
generation, or inside one node against across a network, does not say what is normal.

The busbw compared is at one size for every run: the largest size the run measured that at
least MIN_COMPARABLE comparable runs also reached (a published curve is interpolated in log
size between its measured sizes, never extrapolated). Repeats of one configuration in one
published log count as one comparable run (their median).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from .devices import Device
from .entries import Entry

MIN_COMPARABLE = 3
NEAR_NODES = 2.0
"""A node count within this factor of the run's is near enough at level 0."""
LEVELS = ("exact", "any network", "any node count", "any GPUs per node")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunKey:
    """What the run being judged is: one collective at one rank count."""
    label: str
    collective: str
    device: Device
    memory: str
    nranks: int
    nnodes: int | None
    gpus_per_node: int | None
    network_class: str
    """'unknown' when neither the run nor the user says it: then not matched on."""
    sizes_bytes: tuple[int, ...]
    busbw_gbps: tuple[float, ...]
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Comparable:
    """One published configuration (its repeats in one log folded into their median)."""
    entries: tuple[Entry, ...]

    @property
    def first(self) -> Entry:
        return self.entries[0]

    def busbw_at(self, size_bytes: float) -> float | None:
        """The median of its runs that reached this size (a log of one-size runs has one each)."""
        values = [v for v in (e.busbw_at(size_bytes) for e in self.entries) if v is not None]
        return statistics.median(values) if values else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """The answer for one key: `status` 'placed', 'too_few' or 'none'."""
    key: RunKey
    status: str
    level: int | None = None
    relaxed: tuple[str, ...] = ()
    size_bytes: int | None = None
    busbw_gbps: float | None = None
    percentile: float | None = None
    below: int = 0
    """Comparable runs with a lower busbw than the run's."""
    others: tuple[tuple[Comparable, float], ...] = ()
    """The comparable runs and their busbw at size_bytes, lowest first."""
    candidates: tuple[Comparable, ...] = ()
    """When too few: the comparable runs there are (any size)."""
    left_out_self: tuple[str, ...] = field(default=())
    """Entries that are this very run (the same rows): left out of the comparison, with
    every other run of the logs they came from."""
    reason: str = ""

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.others]


def _matches(key: RunKey, e: Entry, level: int) -> bool:
    if e.collective != key.collective or key.device.generation is None or e.generation != key.device.generation:
        return False
    if key.nnodes is None or (e.nnodes == 1) != (key.nnodes == 1):
        return False
    if level < 3 and key.gpus_per_node and e.gpus_per_node != key.gpus_per_node:
        return False
    if level < 2 and not (key.nnodes / NEAR_NODES <= e.nnodes <= key.nnodes * NEAR_NODES):
        return False
    return not (level < 1 and key.network_class not in ("unknown", "none") and e.network_class != key.network_class)


def _relaxed(key: RunKey, level: int) -> tuple[str, ...]:
    """The criteria given up at this level that did constrain the run: a run whose network is
    unknown (or one node) was never matched on network, nor a one-node run on node count."""
    skip = {"any network"} if key.network_class in ("unknown", "none") else set()
    if key.nnodes == 1:
        skip.add("any node count")
    return tuple(r for r in LEVELS[1:level + 1] if r not in skip)


def _fold(entries: list[Entry]) -> list[Comparable]:
    groups: dict[tuple, list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.id.split("#")[0], e.collective, e.nranks), []).append(e)
    return [Comparable(tuple(g)) for g in groups.values()]


def _size(key: RunKey, comps: list[Comparable]) -> tuple[int, float, list[tuple[Comparable, float]]] | None:
    """The largest of the run's sizes that MIN_COMPARABLE comparable runs reached."""
    for size, bw in sorted(zip(key.sizes_bytes, key.busbw_gbps), reverse=True):
        got = [(c, v) for c in comps if (v := c.busbw_at(size)) is not None]
        if len(got) >= MIN_COMPARABLE:
            return size, bw, sorted(got, key=lambda cv: cv[1])
    return None


def place(key: RunKey, entries: tuple[Entry, ...] | list[Entry]) -> Placement:
    same = tuple(e.id for e in entries if e.fingerprint == key.fingerprint)
    logs = {i.split("#")[0] for i in same}  # the run's own log: its other runs are not others' results
    pool = [e for e in entries if e.id.split("#")[0] not in logs]
    if key.device.generation is None:
        which = f"{key.device.name!r}, a model of no known generation" if key.device.name else "not recorded"
        return Placement(key=key, status="none", left_out_self=same,
                         reason=f"the GPU model is {which}: name it with --device (e.g. --device H100)")
    if key.nnodes is None:
        return Placement(key=key, status="none", left_out_self=same,
                         reason="the node count is unknown (import again with --nnodes N)")
    for level in range(len(LEVELS)):
        comps = _fold([e for e in pool if _matches(key, e, level)])
        found = _size(key, comps)
        if found:
            size, bw, others = found
            below = sum(1 for _, v in others if v < bw)
            ties = sum(1 for _, v in others if v == bw)
            return Placement(key=key, status="placed", level=level, relaxed=_relaxed(key, level), size_bytes=size,
                             busbw_gbps=bw, percentile=100.0 * (below + 0.5 * ties) / len(others), below=below,
                             others=tuple(others), left_out_self=same)
    if comps:  # the last level's: every relaxation made
        return Placement(key=key, status="too_few", level=len(LEVELS) - 1, relaxed=_relaxed(key, len(LEVELS) - 1),
                         candidates=tuple(comps), left_out_self=same)
    return Placement(key=key, status="none", left_out_self=same)

"""Measuring groups of nodes at the same time: every rank runs `Prober.measure` with the
same list of disjoint node groups; the members of each group measure their points on that
group (harness.measure_point), the others wait; then every rank meets and rank 0 learns
each group's fields. Groups are made once per set of ranks and kept."""
from __future__ import annotations

from ..sweep.harness import Point, Timing, measure_point
from ..sweep.plan import plan_points


def doctor_points(backend, tests, size_bytes: int) -> list[Point]:
    """One float32 point per test at `size_bytes`, out of place where the library can
    (sum for the reductions)."""
    return plan_points(tests, ("float32",), ("sum",), (False,), (size_bytes,), backend)


class Prober:
    def __init__(self, backend, hosts: list[str], layout: str, timing: Timing, beat):
        self.backend, self.timing, self.layout, self.beat = backend, timing, layout, beat
        self.nodes = list(dict.fromkeys(hosts))
        self.node_ranks = [[r for r, h in enumerate(hosts) if h == node] for node in self.nodes]
        self._groups = {}

    def ranks_of(self, nodes) -> tuple[int, ...]:
        """The ranks a group of nodes runs on: the first of each node, or all of them."""
        if self.layout == "inter":
            return tuple(sorted(self.node_ranks[i][0] for i in nodes))
        return tuple(sorted(r for i in nodes for r in self.node_ranks[i]))

    def _group(self, ranks: tuple[int, ...]):
        if ranks not in self._groups:  # every rank asks in the same order: new_group is collective
            self._groups[ranks] = self.backend.new_group(list(ranks))
        return self._groups[ranks]

    def measure(self, node_groups, points: list[Point]) -> list[dict] | None:
        """Each group of nodes' {test: record fields}, in order, on rank 0 (None elsewhere)."""
        return self.measure_ranks([self.ranks_of(nodes) for nodes in node_groups], points)

    def measure_ranks(self, rank_groups, points: list[Point]) -> list[dict] | None:
        """Each group of ranks' {test: record fields}, in order, on rank 0 (None elsewhere)."""
        rank = self.backend.rank
        mine, fields = None, {}
        for index, ranks in enumerate(rank_groups):
            ranks = tuple(sorted(ranks))
            self._group(ranks)
            if rank in ranks:
                mine = (index, ranks)
        if mine is not None:
            index, ranks = mine
            for point in points:
                fields[point.spec.name] = measure_point(self.backend, self._groups[ranks], ranks.index(rank),
                                                        len(ranks), point, self.timing, self.beat)
        speaks = mine is not None and mine[1][0] == rank
        gathered = self.backend.all_gather_object((mine[0], fields) if speaks else None)
        if rank != 0:
            return None
        out = [None] * len(rank_groups)
        for item in gathered:
            if item is not None:
                out[item[0]] = item[1]
        return out

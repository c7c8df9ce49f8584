"""What a sweep measures: the points (collective, dtype, op, placement, size) and the
groups of ranks that measure them: the `--layout` of ranks over nodes, and the group
sizes (`--ranks`) or node counts (`--nodes`) within it.

Hosts are ordered by their lowest rank. Layouts:

- `full`: all ranks. `--nodes k` takes every rank on the first k hosts; `--ranks n` the
  first n ranks; by default powers of two from 2 up to the world, and the world.
- `intra`: ranks within the first node only (NVLink/PCIe): `--ranks n` takes its first
  n ranks; by default powers of two up to the node's ranks, and all of them (none when
  nodes hold one rank).
- `inter`: one rank per node (the network): the first rank of each of the first k hosts,
  k from `--nodes`; by default powers of two up to the hosts, and all of them (none on
  one host).
- `intra-domain`: one rank per node inside the first domain (NVLink domain, rack:
  collectives/domains.py): the first rank of each of its first k hosts, k from `--nodes`
  or powers of two up to its hosts (none where it holds one node).
- `inter-domain`: one rank per domain (the fabric between domains): the first rank of the
  first host of each of the first k domains, k from `--nodes` or powers of two up to the
  domains (none with one domain).
The domain layouts need the domains (`--domain-size`, `--domain-file`, or detected).

Several layouts measure each distinct group once.
"""
from __future__ import annotations

from dataclasses import dataclass

from collectives.domains import group_domains
from collectives.dtypes import get_dtype
from collectives.registry import get_collective

from ..errors import UsageError
from .harness import Point

DOMAIN_LAYOUTS = ("intra-domain", "inter-domain")
LAYOUTS = ("full", "intra", "inter", *DOMAIN_LAYOUTS)


@dataclass(frozen=True, slots=True)
class GroupPlan:
    ranks: tuple[int, ...]
    """Global ranks in the group."""
    nnodes: int
    ranks_per_node: int | None
    """None when hosts hold different numbers of the group's ranks."""
    ndomains: int | None = None
    """Domains the group's nodes span (None: the domains are unknown)."""
    nodes_per_domain: int | None = None
    """The group's nodes in each domain; None where they differ or are unknown."""


def _counts(asked: tuple[int, ...] | None, available: int) -> tuple[int, ...]:
    """`asked`, or powers of two from 2 up to `available` and `available` itself."""
    if asked:
        return asked
    return tuple(sorted({2 ** i for i in range(1, available.bit_length()) if 2 ** i <= available} | {available}))


def _check_nodes(counts: tuple[int, ...], host_order: list[str]) -> tuple[int, ...]:
    if max(counts) > len(host_order):
        raise UsageError(f"--nodes asks for {max(counts)} nodes but the launch spans {len(host_order)} host(s): "
                         f"lower --nodes or launch on more nodes")
    return counts


def _full(hosts, host_order, ranks, nodes):
    world = len(hosts)
    if nodes:
        _check_nodes(nodes, host_order)
        return [tuple(r for r in range(world) if hosts[r] in host_order[:k]) for k in nodes]
    counts = _counts(ranks, world)
    if max(counts) > world:
        raise UsageError(f"--ranks asks for {max(counts)} ranks but the launch has {world}: "
                         f"lower --ranks or launch more processes")
    return [tuple(range(n)) for n in counts]


def _intra(hosts, host_order, ranks, nodes):
    if nodes and max(nodes) > 1:
        raise UsageError("--layout intra measures ranks within one node: drop --nodes, or use --layout full or inter")
    local = [r for r in range(len(hosts)) if hosts[r] == host_order[0]]
    if not ranks and len(local) == 1:
        return []  # one rank per node: nothing within a node to measure
    counts = _counts(ranks, len(local))
    if max(counts) > len(local):
        raise UsageError(f"--ranks asks for {max(counts)} ranks but the first node holds {len(local)}: lower --ranks "
                         f"or use --layout full for groups across nodes")
    return [tuple(local[:n]) for n in counts]


def _inter(hosts, host_order, ranks, nodes):
    if ranks:
        raise UsageError("--layout inter takes one rank per node: give node counts with --nodes, not --ranks")
    if not nodes and len(host_order) == 1:
        return []  # one node: no network between nodes to measure
    counts = _check_nodes(_counts(nodes, len(host_order)), host_order)
    leaders = [hosts.index(h) for h in host_order]
    return [tuple(leaders[:k]) for k in counts]


def _leaders(hosts, chosen_hosts, ranks, nodes, layout, what):
    """The first rank of each of the first k of `chosen_hosts`, k from --nodes (those from 2
    up to how many there are: --nodes serves every layout) or powers of two up to all of
    them; none where there is one."""
    if ranks:
        raise UsageError(f"--layout {layout} takes one rank per {what}: give counts with --nodes, not --ranks")
    available = len(chosen_hosts)
    counts = [k for k in nodes if 2 <= k <= available] if nodes else _counts(None, available) if available > 1 else []
    return [tuple(hosts.index(h) for h in chosen_hosts[:k]) for k in counts]


def _intra_domain(hosts, host_order, ranks, nodes, host_domain):
    first = host_domain[host_order[0]]
    return _leaders(hosts, [h for h in host_order if host_domain[h] == first], ranks, nodes, "intra-domain", "node")


def _inter_domain(hosts, host_order, ranks, nodes, host_domain):
    firsts = {}  # domain -> its first host, domains in the order their first hosts come
    for h in host_order:
        firsts.setdefault(host_domain[h], h)
    return _leaders(hosts, list(firsts.values()), ranks, nodes, "inter-domain", "domain")


_LAYOUT_GROUPS = {"full": _full, "intra": _intra, "inter": _inter}
_DOMAIN_GROUPS = dict(zip(DOMAIN_LAYOUTS, (_intra_domain, _inter_domain)))


def _layout_groups(layout, hosts, host_order, ranks, nodes, host_domain):
    if layout not in _DOMAIN_GROUPS:
        return _LAYOUT_GROUPS[layout](hosts, host_order, ranks, nodes)
    if host_domain is None:
        raise UsageError(f"--layout {layout} needs the domains and none were found: give --domain-size N (nodes per "
                         f"domain) or --domain-file F, or drop {layout}")
    return _DOMAIN_GROUPS[layout](hosts, host_order, ranks, nodes, host_domain)


def plan_groups(hosts: list[str], ranks: tuple[int, ...] | None, nodes: tuple[int, ...] | None,
                layouts: tuple[str, ...] = ("full",), host_domain: dict | None = None) -> list[GroupPlan]:
    """Subgroups to measure, given each global rank's host, in the order of `layouts`;
    `host_domain` (host -> domain, None where unknown) for the domain layouts and the
    groups' domain counts."""
    host_order = list(dict.fromkeys(hosts))
    groups = []
    for layout in layouts:
        for group in _layout_groups(layout, hosts, host_order, ranks, nodes, host_domain):
            if group not in groups:
                groups.append(group)
    if not groups:
        raise UsageError(f"--layout {','.join(layouts)} finds nothing to measure in {len(hosts)} rank(s) on "
                         f"{len(host_order)} host(s): add --layout full, or launch more ranks per node or more nodes")
    plans = []
    for group in groups:
        group_hosts = list(dict.fromkeys(hosts[r] for r in group))
        per_host = [sum(1 for r in group if hosts[r] == h) for h in group_hosts]
        ndomains, per_domain = group_domains([host_domain[h] for h in group_hosts] if host_domain else [])
        plans.append(GroupPlan(group, len(per_host), per_host[0] if len(set(per_host)) == 1 else None,
                               ndomains, per_domain))
    return plans


def plan_points(collectives, dtypes, ops, placements, sizes, backend) -> list[Point]:
    """Every point of the sweep, in order: collective, dtype, op (reductions only),
    placement, size. A placement the backend cannot do is measured the way it can
    (`in_place_only`, `out_of_place_only`) and recorded so."""
    points = []
    for name in collectives:
        spec = get_collective(name)
        where = placements
        if name in backend.in_place_only:
            where = (True,)
        elif spec.in_place is None or name in backend.out_of_place_only:
            where = (False,)
        for dtype_name in dtypes:
            for op in (ops if spec.reduces else (None,)):
                for in_place in where:
                    for size in sizes:
                        points.append(Point(spec, get_dtype(dtype_name), op, in_place, size))
    return points

"""Domains: the tier above the node. A domain is a set of nodes joined by a faster fabric
than the one between domains: an NVLink domain (a GB200/GB300 NVL72 rack: 18 nodes of 4
GPUs), or a rack or leaf switch behind an oversubscribed uplink.

Where a run learns them (benchmarks/sweep/sweep.py; the first found wins, in this order):

- `--domain-file F`: lines `host domain` (blank lines and `#` comments ignored);
- `--domain-size N`: N nodes per domain, hosts taken in launch order (by lowest rank);
- COMMSCALE_DOMAIN_NAME in each rank's environment (set by `commscale emulate` per rack,
  or by a site's launch wrapper);
- NVML's fabric information of each rank's GPU (cluster UUID and clique id: the GPUs of
  one NVLink domain share both; collectives/topology.py);
- Slurm's topology (`scontrol show topology`: the lowest switch, or the block, that
  lists the host; benchmarks/host/slurm_topology.py);
- otherwise unknown: the model then knows two tiers, inside a node and across nodes.

A group of ranks is described in its records by `ndomains` (the domains its nodes span),
`nodes_per_domain` (its nodes in each domain, null where they differ) and
`domain_size_nodes` (the nodes of a whole domain of this cluster, where known), all null
when the domains are unknown. This module is pure: no I/O but reading a domain file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

DOMAIN_ENV = "COMMSCALE_DOMAIN_NAME"
"""A rank's domain, named by whoever launched it (emulate: rack0, rack1, ...)."""

TIER_NAMES = ("intra_node", "intra_domain", "inter_domain")
"""The tiers a group can cross, innermost first. Where the domains are unknown the tier
across nodes is "inter_node" (the domain boundary is not known)."""
INTER_NODE = "inter_node"


class DomainError(ValueError):
    """A domain flag or file that cannot be used: the message names the problem and the fix."""


@dataclass(frozen=True, slots=True)
class Domains:
    """Each host's domain, and where that came from."""
    host_domain: dict
    """host -> domain name"""
    source: str
    """"--domain-file PATH", "--domain-size N", "COMMSCALE_DOMAIN_NAME", "nvml", "slurm topology" """
    domain_size_nodes: int | None = None
    """Nodes in a whole domain of the cluster where the source says it (--domain-size, or
    every domain found the same size); None where domains differ or only part is seen."""

    def group(self, hosts) -> tuple[int | None, int | None]:
        """(ndomains, nodes_per_domain) of a group whose nodes are `hosts` (distinct);
        nodes_per_domain is None where the group's domains hold different node counts."""
        return group_domains([self.host_domain.get(h) for h in hosts])

    def describe(self) -> dict:
        """meta.json's "domains"."""
        names = list(dict.fromkeys(self.host_domain.values()))
        return {"source": self.source, "domain_size_nodes": self.domain_size_nodes, "ndomains": len(names),
                "host_domain": dict(self.host_domain),
                "domain_hosts": {d: [h for h, x in self.host_domain.items() if x == d] for d in names}}


def group_domains(domains) -> tuple[int | None, int | None]:
    """(ndomains, nodes_per_domain) from each node's domain (None: unknown, then both None)."""
    domains = list(domains)
    if not domains or any(d is None for d in domains):
        return None, None
    counts = {}
    for d in domains:
        counts[d] = counts.get(d, 0) + 1
    per = set(counts.values())
    return len(counts), (per.pop() if len(per) == 1 else None)


def by_size(hosts: list[str], size: int) -> Domains:
    """`size` nodes per domain, hosts in the order given (launch order)."""
    if size < 1:
        raise DomainError(f"--domain-size {size}: a domain holds at least one node: use --domain-size 1 or more")
    hosts = list(dict.fromkeys(hosts))
    return Domains({h: f"domain{i // size}" for i, h in enumerate(hosts)}, f"--domain-size {size}", size)


def from_names(host_domain: dict, source: str) -> Domains:
    """Domains named per host by a source; the domain size where every domain has the same
    node count (a size seen on part of a cluster is a lower bound, so it is kept only from
    sources that list whole domains: the caller says which by what it passes)."""
    sizes = {}
    for d in host_domain.values():
        sizes[d] = sizes.get(d, 0) + 1
    same = set(sizes.values())
    return Domains(dict(host_domain), source, same.pop() if len(same) == 1 else None)


def read_domain_file(path: Path | str, hosts: list[str]) -> Domains:
    """A host-to-domain file (`host domain` per line); every host of the launch must be in it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DomainError(f"--domain-file {path}: cannot read it ({exc.strerror or exc}): give a readable file of "
                          f"'host domain' lines") from None
    mapping = {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise DomainError(f"--domain-file {path}: line {number} {line.strip()!r} is not 'host domain': write one "
                              f"host and its domain per line")
        mapping[words[0]] = words[1]
    missing = [h for h in dict.fromkeys(hosts) if h not in mapping]
    if missing:
        raise DomainError(f"--domain-file {path}: no domain for host(s) {', '.join(missing[:5])}"
                          f"{' ...' if len(missing) > 5 else ''}: add a line for each host of the launch")
    return from_names({h: mapping[h] for h in dict.fromkeys(hosts)}, f"--domain-file {path}")


def for_node_count(nnodes: int, size: int) -> tuple[int, int | None]:
    """(ndomains, nodes_per_domain) of `nnodes` nodes filling domains of `size` nodes in
    order (an imported series, a prediction): nodes_per_domain None where the last domain
    is partly filled (32 nodes in domains of 18: 18 and 14)."""
    ndomains = math.ceil(nnodes / size)
    return ndomains, (min(nnodes, size) if nnodes % size == 0 or nnodes <= size else None)


def domain_fields(fields: dict, size: int | None) -> dict:
    """A point's record fields with its domain fields added: its nodes fill domains of
    `size` nodes in order; unchanged (unknown, null) without a size or where the node
    count is unknown (import --domain-size, a real series that names its domain size)."""
    nnodes = fields.get("nnodes")
    if size is None or nnodes is None:
        return fields
    ndomains, per = for_node_count(int(nnodes), size)
    return {**fields, "ndomains": ndomains, "nodes_per_domain": per, "domain_size_nodes": size}


def tier_of(nnodes, ndomains) -> str:
    """The outermost tier a group crosses: intra_node, intra_domain, inter_domain, or
    inter_node where the domains are unknown."""
    if nnodes is None or nnodes <= 1:
        return "intra_node"
    if ndomains is None:
        return INTER_NODE
    return "intra_domain" if ndomains == 1 else "inter_domain"

"""Which domain (NVLink domain, rack) each host of a launch is in, from the first source
that answers, in the order collectives/domains.py gives; what was tried and why it did
not answer goes to meta.json too."""
from __future__ import annotations

import os

from collectives.domains import DOMAIN_ENV, Domains, DomainError, by_size, from_names, read_domain_file
from collectives.topology import nvml_fabric_domain

from ..errors import UsageError


def rank_view(local_rank: int, gpus: bool) -> tuple[str | None, str | None]:
    """What one rank can tell of its domain: (COMMSCALE_DOMAIN_NAME, its GPU's NVLink
    domain from NVML, where it runs on a GPU)."""
    nvml = nvml_fabric_domain(local_rank)[0] if gpus else None
    return os.environ.get(DOMAIN_ENV) or None, nvml


def _per_host(hosts: list[str], values: list) -> dict | None:
    """host -> the value its ranks reported, where every rank reported one and the ranks of
    a host agree; None otherwise."""
    out = {}
    for host, value in zip(hosts, values):
        if value is None or out.setdefault(host, value) != value:
            return None
    return out


def resolve(size: int | None, path: str | None, hosts: list[str], views: list[tuple]) -> tuple[Domains | None, dict]:
    """(the launch's domains or None, meta.json's "domains": source and what was tried).
    `hosts`: each rank's host; `views`: each rank's rank_view. Flags win over detection."""
    order = list(dict.fromkeys(hosts))
    tried = {}
    try:
        if path:
            return _found(read_domain_file(path, order), tried)
        if size:
            return _found(by_size(order, size), tried)
    except DomainError as exc:
        raise UsageError(str(exc)) from None
    env = _per_host(hosts, [v[0] for v in views])
    if env:
        return _found(from_names(env, DOMAIN_ENV), tried)
    tried[DOMAIN_ENV] = "not set on every rank"
    nvml = _per_host(hosts, [v[1] for v in views])
    if nvml:
        return _found(from_names(nvml, "nvml"), tried)
    tried["nvml"] = "no GPU here reports an NVLink fabric (cluster UUID and clique)"
    slurm, sizes, why = _slurm(order)
    if slurm:
        same = set(sizes.values())  # the whole switch's or block's nodes, not only the launch's
        return _found(Domains(slurm, "slurm topology", same.pop() if len(same) == 1 else None), tried)
    tried["slurm topology"] = why
    return None, {"source": None, "tried": tried,
                  "note": "domains unknown: the model has two tiers (intra_node, inter_node); give --domain-size N "
                          "or --domain-file F to tell them"}


def _found(domains: Domains, tried: dict) -> tuple[Domains, dict]:
    return domains, {**domains.describe(), "tried": tried}


def _slurm(hosts: list[str]) -> tuple[dict | None, dict | None, str]:
    """Slurm's topology, where the launch is a Slurm job and a topology is configured:
    (host -> domain, domain -> its nodes in all, why not)."""
    if not os.environ.get("SLURM_JOB_ID"):
        return None, None, "not a Slurm job"
    from .slurm_topology import slurm_domains
    return slurm_domains(hosts)

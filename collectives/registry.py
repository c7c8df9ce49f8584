"""Name -> CollectiveSpec. Adding a collective: write its spec file, add one line here."""
from __future__ import annotations

from . import all_gather, all_reduce, all_to_all, broadcast, reduce, reduce_scatter, sendrecv
from .spec import CollectiveSpec

COLLECTIVES: dict[str, CollectiveSpec] = {
    m.SPEC.name: m.SPEC
    for m in (all_reduce, all_to_all, all_gather, reduce_scatter, broadcast, reduce, sendrecv)
}


def get_collective(name: str) -> CollectiveSpec:
    """The spec called `name`; unknown names raise KeyError listing the known ones."""
    if name not in COLLECTIVES:
        raise KeyError(f"unknown collective {name!r}: choose from {', '.join(COLLECTIVES)}")
    return COLLECTIVES[name]

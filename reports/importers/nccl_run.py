"""One nccl-tests run (a Segment of the log) as records: which collective, how many ranks
and nodes, which points passed, and where it ran."""
from __future__ import annotations

import math
import re

from .evidence import (Facts, ImportFailure, describe, from_commands, kinds_named, kinds_worded, ranks_from_ratio,
                       ratio_bounds, said_by, settle, unknown_warning)
from .kinds import BINARIES, ITEMSIZE, KINDS, REDUCE_OPS, deviation_fails
from .points import point


def _ratio_pairs(seg):
    return [(alg, bus) for row in seg.rows if row.size > 0 for _, _, alg, bus, _ in row.placements]


def _per_rank_q(seg):
    """size / (count x itemsize) on the rows where it is defined: 1 or the rank count."""
    qs = set()
    for row in seg.rows:
        item = ITEMSIZE.get(row.dtype)
        if item and row.count > 0 and row.size > 0:
            q = row.size / (row.count * item)
            qs.add(round(q) if abs(q - round(q)) < 1e-9 else q)
    return qs


ALL_KINDS = tuple(KINDS.values())


def choose_collective(seg, file_text, given, path) -> str:
    """The collective of a segment: the user's --collective where the log does not
    contradict it, else the binary the log names, else the one its table allows."""
    cands, why = _table_candidates(seg)
    named = {name for name in (_binary_kind(b) for b in seg.named) if name}
    if given:
        return _checked_given(seg, given, named, cands, why, path)
    return _inferred(file_text, named, cands, why, path)


def _table_candidates(seg) -> tuple[set, list]:
    """The collectives nccl-tests has whose table could look like this one, and the clues
    that narrowed them (for messages)."""
    cands, why = {k.name for k in ALL_KINDS}, []
    for clue in (_by_redop, _by_root, _by_columns, _by_checks, _by_sizes, _by_ratio):
        cands = clue(seg, cands, why)
    return cands, why


def _by_redop(seg, cands: set, why: list) -> set:
    ops = {row.op for row in seg.rows if row.op}
    if ops & REDUCE_OPS:  # sendrecv prints the -o op it was given, though it does not reduce
        cands &= {k.name for k in ALL_KINDS if k.reduces} | {"sendrecv"}
        why.append(f"redop {'/'.join(sorted(ops))}")
    elif ops == {"none"}:  # hypercube prints an empty redop, sendrecv the -o op (sum)
        cands &= {k.name for k in ALL_KINDS if not k.reduces and k.name not in ("hypercube", "sendrecv")}
        why.append("redop none")
    return cands


def _by_root(seg, cands: set, why: list) -> set:
    roots = {row.root for row in seg.rows if row.root is not None}
    if roots:
        rooted = roots != {-1}
        cands &= {k.name for k in ALL_KINDS if k.rooted == rooted}
        why.append(f"root {'/'.join(str(r) for r in sorted(roots))}")
    elif seg.columns and "root" not in seg.columns:  # old layouts print root for rooted collectives only
        cands &= {k.name for k in ALL_KINDS if not k.rooted}
    return cands


def _by_columns(seg, cands: set, why: list) -> set:
    """Before 2022 the header had a redop (op) column only for reductions and alltoall."""
    if seg.columns and "#wrong" not in seg.columns:
        ops = {row.op for row in seg.rows if row.op}
        has_op = "redop" in seg.columns or "op" in seg.columns
        cands &= {k.name for k in ALL_KINDS if (k.reduces or k.name == "all_to_all") == has_op}
        if has_op and not ops:  # alltoall printed an empty redop
            cands &= {"all_to_all"}
        why.append(("empty " if has_op and not ops else "") + "redop column" if has_op else "no redop column")
    return cands


def _by_checks(seg, cands: set, why: list) -> set:
    """Since nccl-tests a0a1491 (2022-09) alltoall and sendrecv print N/A for the in-place
    #wrong while they check out of place; the others check both or neither."""
    checked = [(row.placements[0][4] != "N/A", row.placements[1][4] != "N/A") for row in seg.rows
               if len(row.placements) == 2]
    if checked and seg.columns and "#wrong" in seg.columns:
        if all(c == (True, False) for c in checked):
            cands &= {"all_to_all", "sendrecv"}
            why.append("in-place #wrong N/A")
        elif all(c == (True, True) for c in checked):
            cands -= {"all_to_all", "sendrecv"}
            why.append("in-place checked")
    return cands


def _by_sizes(seg, cands: set, why: list) -> set:
    """size / (count x itemsize): the rank count for the per-rank collectives, else 1."""
    qs = _per_rank_q(seg)
    if len(qs) == 1:
        (q,) = qs
        several = (seg.ranks and max(seg.ranks) >= 1) or max(seg.info_nranks, default=1) > 1
        if q == 1 and (several or any(float(bus) > 0 for _, bus in _ratio_pairs(seg))):  # per-rank: q = ranks
            cands &= {k.name for k in ALL_KINDS if not k.per_rank}
        elif isinstance(q, int) and q >= 2:
            cands &= {k.name for k in ALL_KINDS if k.per_rank}
            why.append(f"size = {q} x count x itemsize")
    return cands


def _by_ratio(seg, cands: set, why: list) -> set:
    """The collectives whose busbw factor some rank count gives busbw/algbw."""
    bounds = ratio_bounds(_ratio_pairs(seg))
    if bounds:
        fits = {name for name in cands if ranks_from_ratio(KINDS[name], bounds)[0]}
        if len(fits) < len(cands):
            why.append(f"busbw/algbw {sum(bounds) / 2:.4f}")
        cands = fits
    return cands


def _checked_given(seg, given: str, named: set, cands: set, why: list, path) -> str:
    """--collective, unless the binary the log names or its table contradicts it."""
    if named and given not in named:
        raise ImportFailure(f"{path}: --collective {given} contradicts the log: line "
                            f"'# Collective test starting: {seg.named[0]}' says {describe(named)}: drop --collective")
    if given in KINDS and cands and given not in cands:
        raise ImportFailure(f"{path}: --collective {given} contradicts the log: its table ({', '.join(why)}) "
                            f"fits {describe(cands) or 'no collective nccl-tests has'}: drop --collective or check the file")
    return given


def _inferred(file_text: str, named: set, cands: set, why: list, path) -> str:
    """The collective the log names, else the one the file's words and the table agree on,
    else the table's only candidate; a failure naming the flag otherwise."""
    if len(named) == 1:  # what nccl-tests printed outranks what its table suggests
        return named.pop()
    for hints in (kinds_named(file_text), kinds_worded(file_text)):
        hinted = hints & cands
        if len(hinted) == 1 and len(hints) == 1:
            return hinted.pop()
    if len(cands) == 1:
        return cands.pop()
    if not cands:
        raise ImportFailure(f"{path}: no collective nccl-tests has fits this table ({', '.join(why)}): "
                            f"pass --collective NAME")
    evidence = ", ".join(why) or "no redop, root or ratio"
    raise ImportFailure(f"{path}: cannot tell which collective this is: the table ({evidence}) fits "
                        f"{describe(cands)} and the file names no binary: pass --collective NAME")


def _binary_kind(text: str):
    """all_reduce for '/opt/nccl-tests/build/all_reduce_perf' (or all_reduce_perf_mpi)."""
    name = text.rsplit("/", 1)[-1]
    return BINARIES.get(name) or BINARIES.get(name.removesuffix("_mpi"))


def rank_facts(seg, kind, soft) -> Facts:
    facts = Facts()
    if seg.info_nranks:  # the world communicator is the largest NCCL reports
        facts.firm.append((max(seg.info_nranks), "NCCL's 'nranks'"))
    qs = _per_rank_q(seg)
    if kind.per_rank and len(qs) == 1 and isinstance(next(iter(qs)), int):
        facts.firm.append((next(iter(qs)), "size / (count x itemsize)"))
    ok, lo, hi = ranks_from_ratio(kind, ratio_bounds(_ratio_pairs(seg)))
    if ok and lo == hi:
        facts.firm.append((lo, f"busbw/algbw = {kind.factor_name}"))
    if seg.ranks:
        top = max(seg.ranks) + 1
        facts.at_least, facts.at_least_why = top, f"the line 'Rank {top - 1}'"
        # the last Rank line printed is the last rank, unless '...' follows it or the table
        # itself says more ranks ran (lines trimmed by whoever posted the log)
        if not seg.ranks_cut and not any(v > top for v, _ in facts.firm):
            shown = "every Rank line" if len(seg.ranks) == top else f"the last Rank line (Rank {top - 1})"
            facts.firm.append((top, shown))
    elif ok and hi < math.inf and lo > facts.at_least:
        facts.at_least, facts.at_least_why = lo, f"busbw/algbw = {kind.factor_name}"
    if soft.get("nranks"):
        facts.soft.append((soft["nranks"], said_by(soft)))
    if not seg.ranks:
        facts.unknown_why = "no Rank lines"
    else:
        facts.unknown_why = f"{len(seg.ranks)} Rank lines shown, then '...'"
    if ok and hi < math.inf and lo < hi:
        facts.unknown_why += f"; busbw/algbw allows {lo} to {hi}"
    return facts, (ok, lo, hi)


def node_facts(seg, nranks, soft) -> Facts:
    facts = Facts()
    hosts = {host for host, _ in seg.ranks.values()}
    if hosts:
        facts.at_least, facts.at_least_why = len(hosts), f"the Rank lines name {len(hosts)} hosts"
    if nranks and len(seg.ranks) == nranks and not seg.ranks_cut and set(seg.ranks) == set(range(nranks)):
        facts.firm.append((len(hosts), "the hosts of every Rank line"))
    elif nranks == 1:
        facts.firm.append((1, "one rank"))
    if seg.info_nnodes:
        facts.firm.append((max(seg.info_nnodes), "NCCL's 'nNodes'"))
    if soft.get("nnodes"):
        facts.soft.append((soft["nnodes"], said_by(soft)))
    facts.unknown_why = (f"{len(seg.ranks)} of {nranks or '?'} Rank lines shown" if seg.ranks else "no Rank lines")
    return facts


def _time_factor(seg) -> float:
    """1 for microseconds, 1000 for milliseconds: from the header, else from the data
    (algbw = size / time)."""
    if seg.time_unit:
        return 1000.0 if seg.time_unit == "ms" else 1.0
    votes = []
    for row in seg.rows:
        for _, t, alg, _, _ in row.placements:
            a, t = float(alg), float(t)
            if a >= 1 and t > 0 and row.size > 0:
                votes.append(row.size / (a * 1e3) / t)
    if votes:
        votes.sort()
        mid = votes[len(votes) // 2]
        if 300 < mid < 3000:
            return 1000.0
    return 1.0


def build(seg, file_text, commands, given, path) -> dict:
    """{'points', 'facts', 'warning'} for one segment."""
    name = choose_collective(seg, file_text, given.get("collective"), path)
    kind = KINDS.get(name)
    if kind is None:
        from collectives.registry import get_collective
        get_collective(name)  # raises KeyError naming the known ones
    soft = from_commands(commands)
    facts, ratio = rank_facts(seg, kind, soft)
    nranks, ranks_from, ranks_unknown = settle("the rank count", "--nranks", facts, given.get("nranks"), path)
    nfacts = node_facts(seg, nranks, soft)
    nnodes, nodes_from, nodes_unknown = settle("the node count", "--nnodes", nfacts, given.get("nnodes"), path)
    if nranks and nnodes and nnodes > nranks:
        raise ImportFailure(f"{path}: {nnodes} nodes for {nranks} ranks: check --nnodes/--nranks")
    deviation = bool(seg.columns) and any(c in ("error", "res") for c in seg.columns)
    scale = _time_factor(seg)
    points = []
    for row in seg.rows:
        for in_place, t, alg, bus, wrong in row.placements:
            status, n_wrong, reason = _validity(wrong, deviation, row.dtype, nranks, ratio)
            points.append(point(name, row.dtype, row.op, in_place, row.size, row.count, float(t) * scale,
                                float(alg), float(bus), status, n_wrong, reason, nranks, nnodes,
                                backend="nccl", device="cuda", timing="batch"))
    warning = unknown_warning(ranks_unknown, nodes_unknown)
    return {"points": points, "collective": name, "nranks": nranks, "nnodes": nnodes, "warning": warning,
            "ranks_from": ranks_from or None, "nodes_from": nodes_from or None}


def _validity(wrong: str, deviation: bool, dtype: str, nranks, ratio):
    if wrong == "N/A":
        return "ok", None, None
    value = float(wrong)
    if not deviation and re.search(r"e-|^0e\+0+$|\.", wrong.lower()):
        deviation = True  # an old-layout row whose header was cut off: 4e-07, 0e+00
    if deviation:
        if value < 0:
            return "ok", None, None  # the 2017 layout printed -1 when it did not check
        p = nranks or max(2, ratio[1] if ratio[0] else 2)
        if deviation_fails(value, dtype, p):
            return "failed", None, f"nccl-tests error {wrong}: above its pass mark for {dtype} on {p} ranks"
        return "ok", 0, None
    n = int(value)
    return ("ok", 0, None) if n == 0 else ("failed", n, f"data check: {n} wrong elements")

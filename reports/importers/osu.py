"""OSU micro-benchmarks collective latency tests (osu_allreduce, osu_allgather,
osu_alltoall, osu_reduce_scatter, osu_bcast, osu_reduce, osu_gather, osu_scatter and
their -d cuda, NCCL (osu_xccl_*) and --validation variants), every run in a file.
The formats in detail: docs/methods.md (`reports/importers/osu.py`); the user's view: docs/reports.md (import)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .kinds import KINDS
from .lines import clean

HEADER = re.compile(r"^#\s*OSU\s+(MPI|NCCL|RCCL|XCCL|UCC|NVSHMEM|OpenSHMEM)?(?:-(\w+))?\s+(.+?)\s+Latency Test\s*v?(\S*)",
                    re.IGNORECASE)
ANY_TEST = re.compile(r"^#\s*OSU\s+(.*?\bTest)\b\s*v?(\S*)", re.IGNORECASE)
"""Any OSU test's header (osu_latency, osu_bw, hello): it ends the run before it"""
NAMES = {"allreduce": "all_reduce", "allgather": "all_gather", "alltoall": "all_to_all",
         "alltoallpersonalizedexchange": "all_to_all", "reducescatter": "reduce_scatter",
         "reducescatterblock": "reduce_scatter", "broadcast": "broadcast", "bcast": "broadcast", "reduce": "reduce",
         "gather": "gather", "scatter": "scatter"}
TYPES = {"MPI_CHAR": "int8", "MPI_SIGNED_CHAR": "int8", "MPI_UNSIGNED_CHAR": "uint8", "MPI_BYTE": "uint8",
         "MPI_INT": "int32", "MPI_FLOAT": "float32", "MPI_DOUBLE": "float64", "MPI_LONG": "int64"}
ITEM = {"int8": 1, "uint8": 1, "int32": 4, "float32": 4, "float64": 8, "int64": 8}


@dataclass
class OsuRun:
    first_line: int
    test: str
    library: str
    device: str | None
    version: str
    collective: str | None
    dtype: str | None = None
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    """(line_no, size, {column: token})"""


def runs(text: str) -> tuple[list[OsuRun], list]:
    lines = clean(text)
    out = []
    for line_no, line in lines:
        s = line.strip()
        m = HEADER.match(s)
        if m:
            test = m.group(3)
            key = re.sub(r"[^a-z]", "", test.lower())  # Non-blocking tests time overlap with compute: not read
            out.append(OsuRun(line_no, test, (m.group(1) or "MPI").upper(), m.group(2), m.group(4), NAMES.get(key)))
            continue
        m = ANY_TEST.match(s)
        if m:  # a point-to-point or other test: its rows are not the collective's before it
            out.append(OsuRun(line_no, m.group(1), "MPI", None, m.group(2), None))
            continue
        if not out:
            continue
        run = out[-1]
        m = re.match(r"^#\s*Datatype:\s*(\w+)", s)
        if m:
            run.dtype = TYPES.get(m.group(1), m.group(1).lower())
            continue
        if re.match(r"^#\s*Size\b", s):
            run.columns = [c.strip().lower() for c in re.split(r"\s{2,}", s.lstrip("#").strip())]
            continue
        tokens = s.split()
        if len(tokens) >= 2 and tokens[0].isdigit() and re.fullmatch(r"\d+\.?\d*", tokens[1]):
            names = run.columns[1:] if run.columns else ["avg latency(us)", "min latency(us)", "max latency(us)",
                                                         "iterations"]
            run.rows.append((line_no, int(tokens[0]), dict(zip(names, tokens[1:]))))
    return out, lines


def column(values: dict, *prefixes):
    for name, token in values.items():
        if name.startswith(prefixes):
            return token
    return None


def default_dtype(collective: str) -> str:
    return "float32" if KINDS[collective].reduces else "int8"


def build(run: OsuRun, commands, given, path) -> dict:
    from .evidence import Facts, ImportFailure, from_commands, said_by, settle, unknown_warning
    from .points import point
    name = given.get("collective") or run.collective
    if name is None:
        raise ImportFailure(f"{path}:{run.first_line}: OSU's '{run.test}' test is not a collective commscale "
                            f"records (it has allreduce, allgather, alltoall, reduce_scatter, bcast, reduce, gather, "
                            f"scatter): pass --collective NAME if it is one of them")
    if run.collective and given.get("collective") and given["collective"] != run.collective:
        raise ImportFailure(f"{path}: --collective {given['collective']} contradicts the log: its header says "
                            f"'{run.test}' ({run.collective}): drop --collective")
    kind = KINDS[name]
    soft = from_commands(commands)
    ranks, nodes = Facts(unknown_why="OSU does not print it"), Facts(unknown_why="OSU does not print it")
    if soft.get("nranks"):
        ranks.soft.append((soft["nranks"], said_by(soft)))
    if soft.get("nnodes"):
        nodes.soft.append((soft["nnodes"], said_by(soft)))
    nranks, ranks_from, ranks_unknown = settle("the rank count", "--nranks", ranks, given.get("nranks"), path)
    if nranks == 1:
        nodes.firm.append((1, "one rank"))
    nnodes, nodes_from, nodes_unknown = settle("the node count", "--nnodes", nodes, given.get("nnodes"), path)
    dtype = run.dtype or default_dtype(name)
    item = ITEM.get(dtype, 1)
    device = {"CUDA": "cuda", "ROCM": "rocm"}.get((run.device or "").upper(), "cpu")
    backend = "nccl" if run.library in ("NCCL", "XCCL") else "rccl" if run.library == "RCCL" else "mpi"
    points = []
    for line_no, size, values in run.rows:
        avg = column(values, "avg", "overall", "latency")
        if avg is None:
            raise ImportFailure(f"{path}:{line_no}: a size without a latency: is this OSU output?")
        t = float(avg)
        total = size * nranks if kind.osu_per_rank and nranks else (None if kind.osu_per_rank else size)
        algbw = total / t * 1e-3 if total is not None and t > 0 else None
        factor = kind.factor(nranks) if nranks else (1.0 if kind.factor_name == "1" else None)
        busbw = algbw * factor if algbw is not None and factor is not None else None
        check = column(values, "validation")
        status, n_wrong, reason = "ok", None, None
        if check in ("Pass", "Fail"):
            status, n_wrong, reason = ("ok", 0, None) if check == "Pass" else ("failed", None, "OSU validation failed")
        p = point(name, dtype, "sum" if kind.reduces else None, False, total, size // item, t, algbw, busbw, status,
                  n_wrong, reason, nranks, nnodes, backend=backend, device=device, timing="call")
        lo, hi, iters = column(values, "min"), column(values, "max"), column(values, "iterations")
        if lo and hi:
            p["time_us_min"], p["time_us_max"] = float(lo), float(hi)
        if iters and iters.isdigit():
            p["iters"] = int(iters)
        points.append(p)
    effect = "size_bytes and busbw" if kind.osu_per_rank else "busbw" if kind.factor_name != "1" else None
    warning = unknown_warning(ranks_unknown, nodes_unknown, because="OSU does not print them", and_so=effect)
    return {"points": points, "collective": name, "nranks": nranks, "nnodes": nnodes, "warning": warning,
            "ranks_from": ranks_from or None, "nodes_from": nodes_from or None}

"""Intel MPI Benchmarks (IMB-MPI1) collective tables: Allreduce, Alltoall, Allgather,
Reduce_scatter (and Reduce_scatter_block), Bcast, Reduce, Gather, Scatter; every
`# Benchmarking NAME` / `# #processes = N` table in a file is a run of its own.
The format in detail: docs/methods.md (`reports/importers/imb.py`); the user's view: docs/reports.md (import).

IMB's message length X is what one process sends in the buffers nccl-tests and OSU size
the same way: for Allgather, Alltoall, Gather and Scatter one rank's part (the record's
size_bytes is X x ranks, as for OSU), for the others the whole vector. Each row's time is
`t_avg` (the mean over the processes of each process's time per call, the loop of
#repetitions calls timed as one: `timing` "batch"); `t_min` and `t_max` (over the
processes) are kept as time_us_min and time_us_max, `#repetitions` as iters."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .lines import clean

HEADER = re.compile(r"^#\s*Benchmarking\s+(\S+)")
PROCESSES = re.compile(r"^#\s*#processes\s*=\s*(\d+)")
WAITING = re.compile(r"^#\s*\(\s*(\d+)\s+additional process(?:es)? waiting in MPI_Barrier\s*\)")
VERSION = re.compile(r"Intel\(R\) MPI Benchmarks\s+([\w.]+)")
COLUMNS = re.compile(r"^#?\s*#bytes\b", re.IGNORECASE)
NAMES = {"allreduce": "all_reduce", "alltoall": "all_to_all", "allgather": "all_gather",
         "reduce_scatter": "reduce_scatter", "reduce_scatter_block": "reduce_scatter", "bcast": "broadcast",
         "reduce": "reduce", "gather": "gather", "scatter": "scatter"}
"""IMB's benchmark names that are the collectives commscale records (lower case); the others
(PingPong, Sendrecv, Exchange, Barrier, the v-variants, the non-blocking I*) are skipped"""
TYPES = {"MPI_BYTE": "uint8", "MPI_CHAR": "int8", "MPI_FLOAT": "float32", "MPI_DOUBLE": "float64",
         "MPI_INT": "int32"}
ITEM = {"uint8": 1, "int8": 1, "float32": 4, "float64": 8, "int32": 4}


@dataclass
class ImbRun:
    first_line: int
    benchmark: str
    collective: str | None
    nprocs: int | None = None
    waiting: int = 0
    """processes of the launch waiting in MPI_Barrier while these ran"""
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    """(line_no, size, {column: token}) or (line_no, size, 'why the row holds no time')"""


@dataclass
class ImbFile:
    runs: list
    lines: list
    version: str | None
    dtype: str
    """MPI_Datatype (the non-reducing benchmarks' buffers)"""
    reduce_dtype: str
    """MPI_Datatype for reductions"""


def _settings(lines) -> tuple[str | None, str, str]:
    version, dtype, reduce_dtype = None, "uint8", "float32"
    for _, line in lines:
        m = VERSION.search(line)
        if m and version is None:
            version = m.group(1).rstrip(",")
        m = re.match(r"^#\s*MPI_Datatype(\s+for reductions)?\s*:\s*(\w+)", line.strip())
        if m:
            value = TYPES.get(m.group(2), m.group(2).lower())
            reduce_dtype, dtype = (value, dtype) if m.group(1) else (reduce_dtype, value)
    return version, dtype, reduce_dtype


def _row(run: ImbRun, line_no: int, tokens: list[str]) -> None:
    """A table row: numbers under the header's columns, or a size and IMB's words instead."""
    names = run.columns or ["#bytes", "#repetitions", "t_min[usec]", "t_max[usec]", "t_avg[usec]"]
    if all(re.fullmatch(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?", t) for t in tokens[1:]) and len(tokens) >= 2:
        run.rows.append((line_no, int(tokens[0]), dict(zip(names[1:], tokens[1:]))))
    else:
        run.rows.append((line_no, int(tokens[0]), " ".join(tokens[1:])))


def parse(text: str) -> ImbFile:
    """Every benchmark table in the file, in order."""
    lines = clean(text)
    out: list[ImbRun] = []
    for line_no, line in lines:
        s = line.strip()
        m = HEADER.match(s)
        if m:
            name = m.group(1)
            out.append(ImbRun(line_no, name, NAMES.get(name.lower())))
            continue
        if not out:
            continue
        run = out[-1]
        if (m := PROCESSES.match(s)) is not None:
            run.nprocs = int(m.group(1))
        elif (m := WAITING.match(s)) is not None:
            run.waiting = int(m.group(1))
        elif COLUMNS.match(s):
            run.columns = [c.lower() for c in s.lstrip("#").split()]
            run.columns[0] = "#bytes"
        elif s.startswith("#") or not s:
            continue
        elif (tokens := s.split()) and tokens[0].isdigit() and run.columns:
            _row(run, line_no, tokens)
    return ImbFile(out, lines, *_settings(lines))


def value(values: dict, prefix: str) -> float | None:
    for name, token in values.items():
        if name.startswith(prefix):
            return float(token)
    return None


def _counts(run: ImbRun, commands, given, path) -> tuple:
    """(nranks, where from, nnodes, where from, the warning for what stays unknown)."""
    from .evidence import Facts, from_commands, said_by, settle, unknown_warning
    ranks, nodes = Facts(), Facts(unknown_why="IMB does not print it")
    if run.nprocs:
        ranks.firm.append((run.nprocs, f"IMB's '#processes = {run.nprocs}'"))
    soft = from_commands(commands)
    world = (run.nprocs or 0) + run.waiting
    if soft.get("nnodes") and soft.get("nranks") == run.nprocs and not run.waiting:
        nodes.soft.append((soft["nnodes"], said_by(soft)))
    elif run.waiting and soft.get("nranks") == world:
        nodes.unknown_why = (f"{run.waiting} of the launch's {world} processes waited in MPI_Barrier: which nodes "
                             f"the {run.nprocs} ran on is not printed")
    nranks, ranks_from, ranks_unknown = settle("the rank count", "--nranks", ranks, given.get("nranks"), path)
    if nranks == 1:
        nodes.firm.append((1, "one rank"))
    nnodes, nodes_from, nodes_unknown = settle("the node count", "--nnodes", nodes, given.get("nnodes"), path)
    warning = unknown_warning(ranks_unknown, nodes_unknown)
    return nranks, ranks_from, nnodes, nodes_from, warning


def build(run: ImbRun, imb: ImbFile, commands, given, path) -> dict:
    """The run's points (record fields), its counts and where they came from."""
    from .evidence import ImportFailure
    from .kinds import KINDS
    from .points import point
    name = run.collective
    if given.get("collective") and given["collective"] != name:
        raise ImportFailure(f"{path}: --collective {given['collective']} contradicts the log: its header says "
                            f"'Benchmarking {run.benchmark}' ({name}): drop --collective")
    kind = KINDS[name]
    nranks, ranks_from, nnodes, nodes_from, warning = _counts(run, commands, given, path)
    dtype = imb.reduce_dtype if kind.reduces else imb.dtype
    item = ITEM.get(dtype, 1)
    points = []
    for line_no, size, values in run.rows:
        total = size * nranks if kind.osu_per_rank and nranks else (None if kind.osu_per_rank else size)
        common = (name, dtype, "sum" if kind.reduces else None, False, total, size // item)
        if isinstance(values, str):  # IMB printed words instead of times (out of memory, ...)
            points.append(point(*common, 0.0, None, None, "skipped", None, f"IMB: {values}", nranks, nnodes,
                                backend="mpi", device="cpu", timing="batch") | {"time_us_mean": None})
            continue
        t = value(values, "t_avg")
        if t is None:
            raise ImportFailure(f"{path}:{line_no}: a row without t_avg[usec]: is this an IMB collective table?")
        algbw = total / t * 1e-3 if total is not None and t > 0 else None
        factor = kind.factor(nranks) if nranks else (1.0 if kind.factor_name == "1" else None)
        busbw = algbw * factor if algbw is not None and factor is not None else None
        p = point(*common, t, algbw, busbw, "ok", None, None, nranks, nnodes, backend="mpi", device="cpu",
                  timing="batch")
        p["time_us_min"], p["time_us_max"] = value(values, "t_min"), value(values, "t_max")
        reps = values.get("#repetitions")
        if reps and reps.isdigit():
            p["iters"] = int(reps)
        points.append(p)
    return {"points": points, "collective": name, "nranks": nranks, "nnodes": nnodes, "warning": warning,
            "ranks_from": ranks_from or None, "nodes_from": nodes_from or None}

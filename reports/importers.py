"""Other tools' output as commscale records, so report and compare work on them.

- nccl-tests text (stdout of all_reduce_perf etc.): the current layout (size, count, type,
  redop, root, then time/algbw/busbw/#wrong out of place and in place) and the older one
  without `root` and with an `error` column (the largest deviation, not a count).
  The collective comes from "# Collective test starting: X_perf" (or --collective), the
  rank count from the "#  Rank N ... on HOST" lines (or --nranks), the node count from
  their distinct hosts.
- nccl-tests `-J FILE` JSON (version 1): `results[]` with size, count, type, redop, root,
  out_of_place / in_place {time, alg_bw, bus_bw, nwrong}; ranks and hosts from `devices[]`;
  the collective from `args[0]`.
- OSU micro-benchmarks collective latency tests (osu_allreduce, osu_allgather,
  osu_alltoall, osu_bcast, osu_reduce, osu_reduce_scatter): "# OSU MPI[-CUDA] Allreduce
  Latency Test vX" then "Size  Avg Latency(us)" and, with -f, min, max and iterations.
  OSU does not print the rank count: --nranks is required. The type is read from
  "# Datatype: MPI_X" (OSU 7); without it, float for the reductions and char (int8) for
  the rest, as older OSU versions used. OSU's size is the buffer of one call; for allgather and alltoall it
  is one rank's chunk, so size_bytes = size x ranks (the nccl-tests size).

Both tools report the average over ranks (nccl-tests' default -a 1), where commscale
records the max; meta.json of the imported run says so. Times are as printed (rounded).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from collectives.dtypes import get_dtype
from collectives.registry import get_collective

NCCL_BINARIES = {"all_reduce_perf": "all_reduce", "all_gather_perf": "all_gather", "alltoall_perf": "all_to_all",
                 "broadcast_perf": "broadcast", "reduce_perf": "reduce", "reduce_scatter_perf": "reduce_scatter",
                 "sendrecv_perf": "sendrecv"}
NCCL_TYPES = {"float": "float32", "half": "float16", "double": "float64", "bfloat16": "bfloat16",
              "int8": "int8", "int32": "int32", "int": "int32", "char": "int8"}
OSU_TESTS = {"allreduce": "all_reduce", "allgather": "all_gather", "alltoall": "all_to_all", "bcast": "broadcast",
             "broadcast": "broadcast", "reduce": "reduce", "reduce_scatter": "reduce_scatter"}
OSU_TYPES = {"MPI_CHAR": "int8", "MPI_SIGNED_CHAR": "int8", "MPI_INT": "int32", "MPI_FLOAT": "float32",
             "MPI_DOUBLE": "float64"}
OPS = {"sum", "prod", "max", "min", "avg", "none"}


class ImportFailure(ValueError):
    """The file cannot be imported; the message names file, line and the fix."""


def _dtype(name: str) -> str:
    try:
        return get_dtype(NCCL_TYPES.get(name, name)).name
    except KeyError:
        return name  # kept as the tool named it (uint8, int64, f8e4m3, ...)


def _point(collective, dtype, op, in_place, size, count, time_us, algbw, busbw, wrong, nranks, nnodes, backend,
           device, fabric, wrong_is_count=True):
    if wrong is None:
        status, n_wrong, reason = "ok", None, None
    elif wrong_is_count:
        n_wrong = int(wrong)
        status, reason = ("ok", None) if n_wrong == 0 else ("failed", f"data check: {n_wrong} wrong elements")
    else:  # old nccl-tests: the largest deviation
        status, n_wrong = ("ok", 0) if wrong == 0 else ("failed", None)
        reason = None if wrong == 0 else f"nccl-tests error column {wrong:g}"
    return dict(status=status, reason=reason, collective=collective, backend=backend, device=device, fabric=fabric,
                transport=None, dtype=dtype, reduce_op=None if op in (None, "none") else op, in_place=in_place,
                size_bytes=int(size), count=int(count), nranks=nranks, nnodes=nnodes,
                ranks_per_node=nranks // nnodes if nnodes and nranks % nnodes == 0 else None,
                time_us_mean=float(time_us), algbw_gbps=float(algbw), busbw_gbps=float(busbw), n_wrong=n_wrong)


def _number(token: str, path, line_no):
    try:
        return float(token)
    except ValueError:
        raise ImportFailure(f"{path}:{line_no}: {token!r} is not a number: is this nccl-tests output?") from None


def _collective(name: str | None, path, hint: str) -> str:
    if name is None:
        raise ImportFailure(f"{path}: cannot tell which collective this is ({hint}): pass --collective NAME")
    get_collective(name)  # raises KeyError for names commscale does not have
    return name


def parse_nccl_text(text: str, path, collective=None, nranks=None):
    """Record fields from nccl-tests stdout; returns (points, info)."""
    hosts, found, version = [], None, None
    points = []
    for line_no, line in enumerate(text.splitlines(), 1):
        m = re.match(r"#\s+Rank\s+\d+\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s+(\S+)", line)
        if m:
            hosts.append(m.group(1))
            continue
        m = re.match(r"# Collective test starting: (\S+)", line)
        if m:
            found = NCCL_BINARIES.get(Path(m.group(1)).name)
            continue
        m = re.match(r"# nccl-tests version (\S+)", line)
        if m:
            version = m.group(1)
        if line.startswith("#") or not line.strip():
            continue
        tokens = line.split()
        if len(tokens) < 4 or not (tokens[0].isdigit() and tokens[1].isdigit()):
            continue  # banners, NCCL INFO lines, warnings: a result line starts with size and count
        size, count, dtype = int(tokens[0]), int(tokens[1]), tokens[2]
        rest = tokens[3:]
        op = rest.pop(0) if rest and rest[0] in OPS else None
        has_root = len(rest) in (5, 9)  # root, then 4 figures per placement
        if has_root:
            rest.pop(0)
        if len(rest) not in (4, 8):
            raise ImportFailure(f"{path}:{line_no}: {len(tokens)} columns is no nccl-tests layout I know: "
                               f"expected size count type [redop] [root] and 4 or 8 figures")
        points.append((line_no, size, count, dtype, op, rest, has_root))
    name = collective or found
    coll = _collective(name, path, "no '# Collective test starting' line")
    p = nranks or len(hosts)
    if not p:
        raise ImportFailure(f"{path}: no '#  Rank' lines to count ranks from: pass --nranks N")
    nnodes = len(set(hosts)) or 1
    out = []
    for line_no, size, count, dtype, op, rest, has_root in points:
        for i, in_place in ((0, False), (4, True)):
            if i >= len(rest):
                continue
            time_us, algbw, busbw = (_number(v, path, line_no) for v in rest[i:i + 3])
            wrong = None if rest[i + 3] == "N/A" else _number(rest[i + 3], path, line_no)
            out.append(_point(coll, _dtype(dtype), op, in_place, size, count, time_us, algbw, busbw, wrong, p,
                              nnodes, "nccl", "cuda", "auto", wrong_is_count=has_root))
    if not out:
        raise ImportFailure(f"{path}: no result lines found: give the stdout of an nccl-tests binary")
    return out, {"tool": "nccl-tests", "tool_version": version, "hosts": sorted(set(hosts))}


def parse_nccl_json(text: str, path, collective=None, nranks=None):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailure(f"{path}:{exc.lineno}: not JSON ({exc.msg}): give the file written by -J") from None
    if not isinstance(doc, dict) or "results" not in doc:
        raise ImportFailure(f"{path}: no 'results' list: give the file nccl-tests wrote with -J")
    args = doc.get("args") or [""]
    coll = _collective(collective or NCCL_BINARIES.get(Path(str(args[0])).name), path, f"args[0] is {args[0]!r}")
    devices = doc.get("devices") or []
    hosts = [d.get("hostname") for d in devices if isinstance(d, dict)]
    p = nranks or len(devices)
    if not p:
        raise ImportFailure(f"{path}: no 'devices' to count ranks from: pass --nranks N")
    nnodes = len(set(hosts)) or 1
    out = []
    for i, r in enumerate(doc["results"]):
        try:
            for key, in_place in (("out_of_place", False), ("in_place", True)):
                fig = r.get(key)
                if not fig:
                    continue
                time_us = fig.get("time", fig.get("cpu_time"))
                out.append(_point(coll, _dtype(r["type"]), r.get("redop"), in_place, r["size"], r["count"], time_us,
                                  fig["alg_bw"], fig["bus_bw"], fig.get("nwrong"), p, nnodes, "nccl", "cuda", "auto"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ImportFailure(f"{path}: results[{i}] lacks or garbles {exc}: is this nccl-tests -J output?") from None
    nccl = doc.get("nccl_version")
    return out, {"tool": "nccl-tests (JSON)", "nccl_version": nccl, "hosts": sorted(set(h for h in hosts if h))}


def parse_osu(text: str, path, collective=None, nranks=None):
    if not nranks:
        raise ImportFailure(f"{path}: OSU output does not say how many ranks ran: pass --nranks N")
    m = re.search(r"# OSU MPI(?:-\w+)? (\w+) Latency Test v?(\S*)", text)
    name = collective or (OSU_TESTS.get(m.group(1).lower()) if m else None)
    coll = _collective(name, path, "no '# OSU MPI <Collective> Latency Test' line")
    device = "cuda" if re.search(r"# OSU MPI-(CUDA|ROCM)", text) else "cpu"
    typed = re.search(r"# Datatype: (MPI_\w+)", text)
    if typed:
        dtype = OSU_TYPES.get(typed.group(1), typed.group(1).lower())
    else:  # before OSU 7 the reductions summed floats and the rest moved chars
        dtype = "float32" if get_collective(coll).reduces else "int8"
    itemsize = get_dtype(dtype).itemsize if dtype in OSU_TYPES.values() else 1
    per_chunk = coll in ("all_gather", "all_to_all")
    factor = get_collective(coll).busbw_factor(nranks)
    out = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        tokens = line.split()
        if not tokens[0].isdigit():
            continue
        if len(tokens) < 2:
            raise ImportFailure(f"{path}:{line_no}: a size without a latency: is this OSU output?")
        size = int(tokens[0]) * (nranks if per_chunk else 1)
        avg = _number(tokens[1], path, line_no)
        point = _point(coll, dtype, "sum" if get_collective(coll).reduces else None, False, size, size // itemsize, avg,
                       size / avg * 1e-3, size / avg * 1e-3 * factor, None, nranks, None, "mpi", device, "auto")
        if len(tokens) >= 4:
            point["time_us_min"], point["time_us_max"] = _number(tokens[2], path, line_no), _number(tokens[3], path, line_no)
        if len(tokens) >= 5 and tokens[4].isdigit():
            point["iters"] = int(tokens[4])
        if tokens[-1] in ("Pass", "Fail"):
            point["n_wrong"] = 0 if tokens[-1] == "Pass" else None
            if tokens[-1] == "Fail":
                point["status"], point["reason"] = "failed", "OSU validation failed"
        out.append(point)
    if not out:
        raise ImportFailure(f"{path}: no result lines found: give the stdout of an OSU collective test")
    return out, {"tool": "OSU micro-benchmarks", "tool_version": m.group(2) if m else None, "hosts": []}


FORMATS = ("nccl-tests", "osu")


def parse(path: Path, fmt: str, collective=None, nranks=None):
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if fmt == "osu":
        return parse_osu(text, path, collective, nranks)
    if text.lstrip().startswith("{"):
        return parse_nccl_json(text, path, collective, nranks)
    return parse_nccl_text(text, path, collective, nranks)

"""Other tools' output as commscale runs, so fit, report and compare work on them.
The formats in detail: docs/methods.md (`reports/importers/__init__.py`); the user's view: docs/reports.md (import)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from . import imb, nccl_iters, nccl_json, nccl_text, nccl_run, osu, stragglers
from .evidence import ImportFailure
from .lines import commands as command_lines, commands_for

FORMATS = ("nccl-tests", "osu", "imb")
__all__ = ["FORMATS", "ImportFailure", "parse"]
TIMING = "as the tool printed it: the average over ranks (commscale run records the max)"


def _label(collectives: list[str]) -> list[str]:
    seen, out = {}, []
    for name in collectives:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if collectives.count(name) == 1 else f"{name}-{seen[name]}")
    return out


def _provenance(seg, cmds) -> dict:
    gpus = sorted({dev for _, dev in seg.ranks.values() if dev})
    return {"gpu": gpus[0] if len(gpus) == 1 else (gpus or None),
            "nccl_version": seg.versions.get("nccl"), "nccl_tests_version": seg.versions.get("nccl_tests"),
            "hosts": sorted({host for host, _ in seg.ranks.values()}),
            "command_lines": cmds[:3], "nccl_env": dict(sorted(seg.nccl_env.items())),
            "tool_settings": seg.settings or None}


def parse(path: Path, fmt: str, given: dict) -> list[dict]:
    """One dict per run in the file: points (record fields), meta (provenance), warning
    (one line or None), label (the collective, numbered when it repeats)."""
    raw = Path(path).read_bytes()
    text = raw.decode("utf-8", errors="replace")
    source = {"imported_from": str(Path(path).resolve()), "source_file": Path(path).name,
              "sha256": hashlib.sha256(raw).hexdigest(), "format": fmt, "timing": TIMING}
    runs = {"osu": _osu_runs, "imb": _imb_runs}.get(fmt, _nccl_runs)(text, path, given, source)
    _name_runs(runs)
    return runs


def _osu_runs(text: str, path, given: dict, source: dict) -> list[dict]:
    """The sized blocking collectives among the OSU tests in the file, each with its meta; a
    note on the first run names the tests skipped."""
    found, lines = osu.runs(text)
    if not found:
        other = re.search(r"#\s*OSU\s+(.*?Test)", text)
        what = (f"OSU's '{other.group(1)}' is not a collective latency test" if other else
                "no '# OSU ... Latency Test' header")
        raise ImportFailure(f"{path}: {what}: give the stdout of osu_allreduce, osu_allgather, osu_alltoall, "
                            f"osu_reduce_scatter, osu_bcast, osu_reduce, osu_gather or osu_scatter (or --format "
                            f"nccl-tests)")
    cmds = command_lines(lines)
    runs, skipped = [], []
    for run in found:
        if not run.rows:
            continue
        if run.collective is None and not (given.get("collective") and len(found) == 1):
            skipped.append(run.test)  # barrier, non-blocking and point-to-point tests in a bundle
            continue
        mine = commands_for(cmds, run.first_line, len(found) == 1)
        built = osu.build(run, mine, given, path)
        meta = {**source, "tool": "OSU micro-benchmarks", "tool_version": run.version or None,
                "osu_test": run.test, "lines": [run.first_line, run.rows[-1][0]], "command_lines": mine[:3]}
        runs.append({**built, "meta": meta})
    if not runs:
        what = f" (only {', '.join(dict.fromkeys(skipped))}, not sized blocking collectives)" if skipped else ""
        raise ImportFailure(f"{path}: no collective results under the OSU headers{what}: give the stdout of "
                            f"osu_allreduce, osu_allgather, osu_alltoall, osu_reduce_scatter, osu_bcast, osu_reduce, "
                            f"osu_gather or osu_scatter")
    _note_skipped(runs, skipped, "OSU tests that are not blocking sized collectives")
    return runs


def _note_skipped(runs: list[dict], skipped: list[str], what: str) -> None:
    """A note on the first run naming the tests of the file that were not read, counted."""
    if skipped:
        kinds = ", ".join(f"{t} x{skipped.count(t)}" if skipped.count(t) > 1 else t for t in dict.fromkeys(skipped))
        runs[0].setdefault("notes", []).append(f"skipped {len(skipped)} {what}: {kinds}")


def _imb_runs(text: str, path, given: dict, source: dict) -> list[dict]:
    """Each IMB collective table in the file with its meta; a note on the first run names
    the benchmarks skipped."""
    found = imb.parse(text)
    tables = [r for r in found.runs if r.rows]
    runs = []
    cmds = command_lines(found.lines)
    for run in (r for r in tables if r.collective):
        mine = commands_for(cmds, run.first_line, len(tables) == 1)
        built = imb.build(run, found, mine, given, path)
        meta = {**source, "tool": "Intel MPI Benchmarks (IMB-MPI1)", "tool_version": found.version,
                "imb_benchmark": run.benchmark, "processes_waiting": run.waiting or None,
                "lines": [run.first_line, run.rows[-1][0]], "command_lines": mine[:3]}
        runs.append({**built, "meta": meta})
    skipped = [r.benchmark for r in tables if not r.collective]
    if not runs:
        what = f" (only {', '.join(dict.fromkeys(skipped))}, not collectives commscale records)" if skipped else ""
        raise ImportFailure(f"{path}: no IMB collective table ('# Benchmarking Allreduce' and its '#bytes' rows)"
                            f"{what}: give IMB-MPI1's output of Allreduce, Alltoall, Allgather, Reduce_scatter, "
                            f"Bcast, Reduce, Gather or Scatter")
    _note_skipped(runs, skipped, "IMB benchmarks that are not collectives commscale records")
    return runs


def _nccl_segments(text: str, path) -> tuple[list, list, str, list]:
    """(the runs in an nccl-tests stdout or -J JSON file, its command lines as (line, text),
    the tool's name for meta, per run what only the JSON holds: nccl_json.Extras or None)."""
    if text.lstrip().startswith("{"):
        seg, cmds, extras = nccl_json.segment(text, path)
        return [seg], [(0, c) for c in cmds], "nccl-tests (JSON)", [extras]
    segs, lines = nccl_text.segments(text)
    cmds = command_lines(lines)
    if not segs:
        hint = " (this looks like OSU output: pass --format osu)" if "# OSU" in text else ""
        raise ImportFailure(f"{path}: no nccl-tests result rows found{hint}: give the stdout of an nccl-tests "
                            f"binary (all_reduce_perf, ...) or the file its -J option wrote")
    return segs, cmds, "nccl-tests", [None] * len(segs)


def _nccl_runs(text: str, path, given: dict, source: dict) -> list[dict]:
    """Each nccl-tests run in the file with its meta: in a file of several runs a flag
    applies to each; a run whose own lines disagree stops it."""
    segs, cmds, tool, extras = _nccl_segments(text, path)
    runs = []
    for seg, extra in zip(segs, extras):
        mine = commands_for(cmds, seg.first_line, len(segs) == 1)
        built = nccl_run.build(seg, text if len(segs) == 1 else "", mine, given, path)
        meta = {**source, "tool": tool, "tool_version": seg.versions.get("nccl_tests"),
                "lines": [seg.first_line, seg.rows[-1].line_no], **_provenance(seg, mine)}
        if seg.elided_rows:
            meta["elided_rows"] = True
        run = {**built, "meta": meta}
        if extra is not None:
            _per_iteration(run, extra, path)
        runs.append(run)
    return runs


def _per_iteration(run: dict, extra, path) -> None:
    """-I 1 data of a -J file: the samples into the records, and the straggler check into
    meta.json (`straggler_check`, `stragglers`) with a note naming a straggler found."""
    nccl_iters.apply(run["points"], extra.per_iter, path)
    result = stragglers.check([(p["size_bytes"], one) for p, one in zip(run["points"], extra.per_iter)])
    if result is None:
        return
    run["meta"]["straggler_check"] = result
    found = [stragglers.finding(result, extra.devices, extra.ranks_per_process)] if result["found"] else []
    run["meta"]["stragglers"] = found
    run.setdefault("notes", []).extend(stragglers.note(f) for f in found)


def _name_runs(runs: list[dict]) -> None:
    """Each run's label (the collective, numbered when it repeats) and the facts settled
    about it copied into its meta."""
    for run, label in zip(runs, _label([r["collective"] for r in runs])):
        run["label"] = label
        run["meta"].update({"collective": run["collective"], "nranks": run["nranks"], "nnodes": run["nnodes"],
                            "nranks_from": run["ranks_from"], "nnodes_from": run["nodes_from"],
                            "runs_in_file": len(runs)})


def safe_name(text: str) -> str:
    return re.sub(r"[^\w.+-]+", "_", text).strip("_") or "run"

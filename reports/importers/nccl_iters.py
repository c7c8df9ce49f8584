"""nccl-tests' per-iteration times (`-I 1`, written into `-J` JSON since nccl-tests 2.19.2)
as record fields. The format in detail: docs/methods.md (`reports/importers/nccl_iters.py`).

nccl-tests src/util.cu `writePerIterReport` writes, after each placement's figures, an
object `out_of_place_per_iter` / `in_place_per_iter`: `skipped_iterations` (`-K`), its
summary (`min_us` ... `cv_pct`, over the iterations after the skipped ones), `times_us`
(every iteration in order, each the max over all GPUs of the job; CUDA events, divided by
`-m` agg iters) and, where more than one process ran, `per_process_max_times_us` (one row
per MPI process, each iteration's max over that process's own GPUs), all in microseconds."""
from __future__ import annotations

import math
from dataclasses import dataclass

from collectives.timing import summarize

from .evidence import ImportFailure

PLACEMENTS = ("out_of_place", "in_place")
"""In the order nccl_json.segment reads a result's placements (the records' order)."""
FIX = ("the per-iteration data is not as nccl-tests -I 1 writes it: give the unedited -J file, or delete the "
       "'*_per_iter' objects to import the printed times only")
MAX_GAP_US = 1e-3
"""times_us against the max of the process rows: both printed with 6 decimals from the
same doubles, so a genuine file agrees to the last digit; allowed: 1 ns."""


@dataclass(frozen=True)
class PerIter:
    """One placement of one result, as nccl-tests wrote it under `<placement>_per_iter`."""
    samples_us: list
    """`times_us`: every iteration in order, the max over every GPU of the job."""
    skipped: int
    """`skipped_iterations` (-K): leading samples nccl-tests' summary left out (and so do the records')."""
    process_us: list | None
    """`per_process_max_times_us`: row p is MPI process p, each iteration's max over its own
    GPUs; None where one process ran (nccl-tests writes no rows then)."""

    @property
    def kept(self) -> list:
        """The samples the statistics are taken over: after the skipped ones."""
        return self.samples_us[self.skipped:]


def read(doc: dict, path) -> list:
    """A PerIter (or None where the placement has none) per point, in the records' order:
    result by result, out of place then in place, the placements present."""
    out, rows = [], {}
    for i, r in enumerate(doc["results"]):
        for key in PLACEMENTS:
            if r.get(key):
                one = _one(r, key, f"{path}: results[{i}] (size {r.get('size')}) {key}_per_iter", path)
                if one is not None and one.process_us is not None:
                    rows.setdefault(len(one.process_us), i)
                out.append(one)
    if len(rows) > 1:
        (a, first), (b, other) = sorted(rows.items(), key=lambda kv: kv[1])[:2]
        raise ImportFailure(f"{path}: results[{other}] has {b} process rows in per_process_max_times_us where "
                            f"results[{first}] has {a}: one run has one process count; {FIX}")
    return out


def _one(r: dict, key: str, where: str, path) -> PerIter | None:
    block = r.get(f"{key}_per_iter")
    if block is None:
        return None
    if not isinstance(block, dict):
        raise ImportFailure(f"{where} is not an object: {FIX}")
    times = _numbers(block.get("times_us"), f"{where}.times_us")
    iters = r.get("actual_iterations")
    if isinstance(iters, int) and not isinstance(iters, bool) and len(times) != iters:
        raise ImportFailure(f"{where}.times_us holds {len(times)} times for actual_iterations {iters}: {FIX}")
    skipped = block.get("skipped_iterations", 0)
    if not isinstance(skipped, int) or isinstance(skipped, bool) or not 0 <= skipped < len(times):
        raise ImportFailure(f"{where}.skipped_iterations {skipped!r} is not a count below the {len(times)} "
                            f"iterations: {FIX}")
    rows = block.get("per_process_max_times_us")
    if rows is not None:
        rows = _process_rows(rows, times, f"{where}.per_process_max_times_us")
    return PerIter(times, skipped, rows)


def _numbers(values, where: str) -> list:
    """A non-empty list of finite times >= 0, as floats."""
    if not isinstance(values, list) or not values:
        what = "missing" if values is None else "empty" if values == [] else f"not a list ({type(values).__name__})"
        raise ImportFailure(f"{where} is {what}: {FIX}")
    for j, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ImportFailure(f"{where}[{j}] is {v!r}, not a time in microseconds: {FIX}")
    return [float(v) for v in values]


def _process_rows(rows, times: list, where: str) -> list:
    """Two or more rows, each a time per iteration, whose max per iteration is times_us."""
    if not isinstance(rows, list) or len(rows) < 2:
        raise ImportFailure(f"{where} is not a list of two or more process rows: {FIX}")
    rows = [_numbers(row, f"{where}[{p}]") for p, row in enumerate(rows)]
    for p, row in enumerate(rows):
        if len(row) != len(times):
            raise ImportFailure(f"{where}[{p}] holds {len(row)} times where times_us holds {len(times)}: {FIX}")
    for j, t in enumerate(times):
        top = max(row[j] for row in rows)
        if abs(top - t) > MAX_GAP_US:
            raise ImportFailure(f"{where}: iteration {j}'s max over the process rows is {top:g} us but "
                                f"times_us[{j}] is {t:g}: {FIX}")
    return rows


def apply(points: list, per_iter: list, path) -> None:
    """The samples into the records (`samples_us`, `samples_skipped`, `process_samples_us`),
    and the median, min, max, p99 and the median's interval from them; `time_us_mean`
    stays what nccl-tests printed."""
    if len(points) != len(per_iter):  # both follow nccl_json's order; a mismatch is a bug here
        raise ImportFailure(f"{path}: {len(per_iter)} per-iteration placements for {len(points)} points: "
                            f"report the file so its layout can be added")
    for point, one in zip(points, per_iter):
        if one is None:
            continue
        stats = summarize(one.kept)
        point.update(samples_us=one.samples_us, samples_skipped=one.skipped, process_samples_us=one.process_us,
                     time_us_median=stats.time_us_median, time_us_min=stats.time_us_min,
                     time_us_max=stats.time_us_max, time_us_p99=stats.time_us_p99,
                     median_ci95_rel_pct=stats.median_ci95_rel_pct)

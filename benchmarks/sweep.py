"""The sweep: for each group size, collective, dtype, op, placement and size, measure one
point and write its record. Runs on every rank of a launch; rank 0 writes and prints.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from collectives.backends import create_backend
from collectives.backends.base import BackendOptions, BackendSetupError
from collectives.dtypes import get_dtype
from collectives.records import SCHEMA_VERSION, RecordWriter, allowed_env, make_record, now_utc, write_meta
from collectives.registry import get_collective

from .config import RunConfig, check_out_dir
from .errors import EXIT_OK, EXIT_STOPPED, EXIT_WRONG_DATA, UsageError, report_usage_error
from .harness import Point, Timing, measure_point
from .launch import LaunchEnv, node_name
from .stop import StopRequest, signal_name
from .table import Printer


@dataclass(frozen=True, slots=True)
class GroupPlan:
    ranks: tuple[int, ...]
    """Global ranks in the group: the first ranks of the launch (whole hosts for --nodes)."""
    nnodes: int
    ranks_per_node: int | None
    """None when hosts hold different numbers of the group's ranks."""


def plan_groups(hosts: list[str], ranks: tuple[int, ...] | None, nodes: tuple[int, ...] | None) -> list[GroupPlan]:
    """Subgroups to measure, given each global rank's host.

    Hosts are ordered by their lowest rank. `--nodes k` takes every rank on the first k
    hosts; `--ranks n` the first n ranks. Default: powers of two from 2 up to the world,
    plus the world itself (1 when the world is one rank).
    """
    world = len(hosts)
    host_order = list(dict.fromkeys(hosts))
    if nodes:
        if max(nodes) > len(host_order):
            raise UsageError(f"--nodes asks for {max(nodes)} nodes but the launch spans {len(host_order)} host(s): "
                             f"lower --nodes or launch on more nodes")
        groups = [tuple(r for r in range(world) if hosts[r] in host_order[:k]) for k in nodes]
    else:
        if ranks is None:
            ranks = tuple(sorted({2 ** i for i in range(1, world.bit_length()) if 2 ** i <= world} | {world}))
        if max(ranks) > world:
            raise UsageError(f"--ranks asks for {max(ranks)} ranks but the launch has {world}: "
                             f"lower --ranks or launch more processes")
        groups = [tuple(range(n)) for n in ranks]
    plans = []
    for group in groups:
        per_host = [sum(1 for r in group if hosts[r] == h) for h in dict.fromkeys(hosts[r] for r in group)]
        plans.append(GroupPlan(group, len(per_host), per_host[0] if len(set(per_host)) == 1 else None))
    return plans


def _points(cfg: RunConfig, backend) -> list[Point]:
    points = []
    for name in cfg.collectives:
        spec = get_collective(name)
        placements = cfg.in_place
        if name in backend.in_place_only:
            placements = (True,)
        elif spec.in_place is None or name in backend.out_of_place_only:
            placements = (False,)
        for dtype_name in cfg.dtypes:
            for op in (cfg.ops if spec.reduces else (None,)):
                for in_place in placements:
                    for size in cfg.sizes:
                        points.append(Point(spec, get_dtype(dtype_name), op, in_place, size))
    return points


def _meta(cfg, launch, backend, run_id, hosts, started):
    """meta.json as written at the start; the end updates status, finished_at, stopped_by and the
    point counts."""
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "running",
        "started_at": started, "finished_at": None, "stopped_by": None,
        "command_line": sys.argv, "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "launcher": launch.launcher, "world_size": backend.world_size,
        "hosts": list(dict.fromkeys(hosts)), "rank_hosts": hosts,
        "versions": {"python": platform.python_version(), "commscale_schema": SCHEMA_VERSION, **backend.versions()},
        "platform": platform.platform(), "env": allowed_env(),
    }


def run_sweep(cfg: RunConfig, launch: LaunchEnv) -> int:
    """Measure every planned point; return the exit status (1 if any data check failed)."""
    options = BackendOptions(timeout_s=cfg.timeout_s, cuda_graph=cfg.cuda_graph, device=cfg.device)
    try:
        backend = create_backend(cfg.backend, launch, options)
    except BackendSetupError as exc:
        raise UsageError(str(exc)) from None
    try:
        with StopRequest() as stop:
            code = _sweep(cfg, launch, backend, stop)
    except UsageError as exc:
        # Raised on every rank alike, before any point. Rank 0 says it before the ranks
        # part, so a launcher that ends the step when one rank exits cannot cut it off.
        if backend.rank == 0:
            report_usage_error(exc)
        exc.reported = True
        backend.close(orderly=True)
        raise
    except BaseException:
        backend.close(orderly=False)  # peers may be elsewhere: do not wait for them
        raise
    backend.close(orderly=True)
    return code


def _sweep(cfg, launch, backend, stop: StopRequest) -> int:
    rank0 = backend.rank == 0
    hosts = backend.all_gather_object(node_name(os.environ))
    plans = plan_groups(hosts, cfg.ranks, cfg.nodes)

    # Rank 0 owns the run directory; every rank learns whether it is usable.
    problem = None
    if rank0:
        try:
            check_out_dir(cfg.out)
        except UsageError as exc:
            problem = str(exc)
    problem = backend.broadcast_object(problem)
    if problem:
        raise UsageError(problem)

    run_id = backend.broadcast_object(f"{_dt.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}")
    started = now_utc()
    points = _points(cfg, backend)
    timing = Timing(cfg.warmup, cfg.iters, cfg.iters_budget_s)
    writer = printer = meta = None
    if rank0:
        meta = _meta(cfg, launch, backend, run_id, hosts, started)
        write_meta(cfg.out, meta)
        writer = RecordWriter(cfg.out)
        printer = Printer([(pt.size_bytes, len(plan.ranks)) for plan in plans for pt in points])
        printer.note(f"commscale run {run_id}: backend {backend.name} ({backend.device}), {backend.world_size} ranks on "
                     f"{len(set(hosts))} host(s), launcher {launch.launcher}, out {cfg.out}")
    status, any_wrong, stopped_by, done, planned = "incomplete", False, None, 0, len(points) * len(plans)
    try:
        for plan in plans:
            group = backend.new_group(list(plan.ranks))
            member = backend.rank in plan.ranks
            nranks = len(plan.ranks)
            fabric, transport = backend.fabric(plan.nnodes), backend.transport(plan.nnodes)
            block = None
            for point in points:
                if member:
                    fields = measure_point(backend, group, plan.ranks.index(backend.rank), nranks, point, timing)
                if rank0:
                    if block != (point.spec.name, nranks):
                        if block is not None:
                            printer.progress()
                        block = (point.spec.name, nranks)
                        printer.header(point.spec.name, nranks, plan.nnodes, fabric)
                    record = make_record(
                        run_id=run_id, timestamp=now_utc(), collective=point.spec.name, backend=backend.name,
                        device=backend.device, fabric=fabric, transport=transport, dtype=point.dtype.name,
                        reduce_op=point.op, in_place=point.in_place, nranks=nranks, nnodes=plan.nnodes,
                        ranks_per_node=plan.ranks_per_node, **fields,
                    )
                    writer.write(record)
                    printer.row(record)
                    any_wrong |= bool(record["n_wrong"])
                done += 1
                # Every rank, members or not, meets here point by point and learns
                # whether any of them was asked to stop.
                signum = int(backend.max_over([stop.signum], None)[0])
                if signum:
                    stopped_by = signal_name(signum)
                    break
            if rank0:
                printer.progress()
            if stopped_by:
                break
        else:
            status = "complete"
    finally:
        if rank0:
            writer.close()
            write_meta(cfg.out, {**meta, "status": status, "finished_at": now_utc(), "stopped_by": stopped_by,
                                 "points_done": done, "points_planned": planned})
    if rank0:
        printer.note(f"records: {cfg.out / 'records.jsonl'}")
        if stopped_by:
            printer.note(f"stopped by {stopped_by} after {done} of {planned} points; "
                         f"meta.json says status 'incomplete'")
        if any_wrong:
            printer.note("DATA CHECK FAILED: see records with status 'failed'")
    if stopped_by:
        return EXIT_STOPPED
    return EXIT_WRONG_DATA if backend.sum_over([int(any_wrong)], None)[0] else EXIT_OK

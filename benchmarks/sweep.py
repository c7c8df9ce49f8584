"""The sweep: for each group size, collective, dtype, op, placement and size, measure one
point and write its record. Runs on every rank of a launch; rank 0 writes and prints.
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
import uuid
from collections import Counter

from collectives.backends import create_backend
from collectives.backends.base import BackendOptions, BackendSetupError
from collectives.dtypes import get_dtype
from collectives.fabric import FABRICS, NcclLog, debug_env, transport_problem
from collectives.records import RecordWriter, make_record, now_utc
from collectives.registry import get_collective
from collectives.sizes import format_size
from collectives.topology import detect as detect_topology

from .board import Board
from .config import RunConfig, check_out_dir
from .errors import EXIT_LOST, EXIT_OK, EXIT_STOPPED, EXIT_WRONG_DATA, UsageError, report_usage_error
from .groups import GroupPlan, plan_groups
from .harness import Point, Timing, measure_point
from .launch import LaunchEnv, node_name
from .resume import done_points, load_meta, point_key
from .run_meta import RunMeta, new_meta
from .stop import StopRequest, signal_name
from .table import Printer
from .watchdog import Watchdog


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


NCCL_LOG_DIR = "nccl"
"""Each rank's NCCL debug log, OUT/nccl/rank<k>.log: the transport read-back's source."""
EMULATED_FABRIC_VAR = "COMMSCALE_NET_FABRIC"

LIBRARY_TIMEOUT_MARGIN_S = 60.0
"""The library's own limit (torch process groups) sits this far above --timeout, so the
watchdog, which names the ranks, speaks first."""


def run_sweep(cfg: RunConfig, launch: LaunchEnv) -> int:
    """Measure every planned point; return the exit status (1 if any data check failed)."""
    options = BackendOptions(timeout_s=cfg.timeout_s * 1.5 + LIBRARY_TIMEOUT_MARGIN_S,
                             cuda_graph=cfg.cuda_graph, device=cfg.device)
    nccl_log = None
    if cfg.backend == "nccl":  # before NCCL starts: it reads these once per process
        nccl_log = NcclLog(cfg.out / NCCL_LOG_DIR / f"rank{launch.rank}.log")
        nccl_log.path.parent.mkdir(parents=True, exist_ok=True)
        os.environ.update(debug_env(cfg.fabric, nccl_log.path))
    try:
        backend = create_backend(cfg.backend, launch, options)
    except BackendSetupError as exc:
        raise UsageError(str(exc)) from None
    try:
        with StopRequest() as stop:
            code = _sweep(cfg, launch, backend, stop, Transports(backend, nccl_log))
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


def _agree(backend, rank0_work):
    """Run `rank0_work()` on rank 0 and hand its result to every rank; a UsageError there
    is raised on every rank."""
    result, problem = None, None
    if backend.rank == 0:
        try:
            result = rank0_work()
        except UsageError as exc:
            problem = str(exc)
    result, problem = backend.broadcast_object((result, problem))
    if problem:
        raise UsageError(problem)
    return result


def _prepare_out(cfg: RunConfig, world_size: int, nhosts: int) -> dict:
    """Rank 0: check the run directory; resuming, that the launch has the run's shape and
    what the run holds already."""
    check_out_dir(cfg.out, cfg.resume)
    if not cfg.resume:
        return {"run_id": f"{_dt.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}", "done": Counter()}
    meta = load_meta(cfg.out)
    then = (meta.get("world_size"), len(meta.get("hosts") or []))
    if then != (world_size, nhosts):
        raise UsageError(f"--resume {cfg.out}: that run had {then[0]} ranks on {then[1]} host(s), this launch has "
                         f"{world_size} on {nhosts}: resume with the same launch shape, or start a new run")
    return {"run_id": meta.get("run_id"), "done": done_points(cfg.out), "meta": meta}


def _describe(point: Point, plan: GroupPlan) -> str:
    """A point as the messages name it: collective, dtype, op, placement, size, group."""
    ranks = plan.ranks
    group = f"ranks {ranks[0]}-{ranks[-1]}" if ranks == tuple(range(ranks[0], ranks[-1] + 1)) else f"ranks {list(ranks)}"
    op = f" {point.op}" if point.op else ""
    return (f"{point.spec.name} {point.dtype.name}{op} {'in-place' if point.in_place else 'out-of-place'} "
            f"{format_size(point.size_bytes)} on {len(ranks)} ranks ({group}, {plan.nnodes} node(s))")


def _sweep(cfg, launch, backend, stop: StopRequest, transports: "Transports") -> int:
    rank0 = backend.rank == 0
    hosts = backend.all_gather_object(node_name(os.environ))
    plans = plan_groups(hosts, cfg.ranks, cfg.nodes, cfg.layouts)
    prior = _agree(backend, lambda: _prepare_out(cfg, backend.world_size, len(set(hosts))))
    run_id, done = prior["run_id"], prior["done"]
    points = _points(cfg, backend)
    planned = len(points) * len(plans)
    timing = Timing(cfg.warmup, cfg.iters, cfg.iters_budget_s, cfg.timing)
    # One rank per host reads its node's topology (a fresh run's meta.json keeps it).
    first_on_host = hosts.index(hosts[backend.rank]) == backend.rank
    found = backend.all_gather_object(detect_topology() if first_on_host and not cfg.resume else None)
    topology = {host: topo for host, topo in zip(hosts, found) if topo is not None}
    writer = printer = meta = None
    points_done = 0
    if rank0:
        if cfg.resume:
            meta = RunMeta(cfg.out, prior["meta"])
            resumes = list(meta.meta.get("resumed") or [])
            resumes.append({"at": now_utc(), "command_line": sys.argv, "points_before": sum(done.values())})
            meta.update(status="running", finished_at=None, stopped_by=None, failure=None, exit_status=None,
                        resumed=resumes)
        else:
            meta = RunMeta(cfg.out, new_meta(cfg, launch, backend, run_id, hosts, topology))
            meta.update()
        writer = RecordWriter(cfg.out)
        printer = Printer([(pt.size_bytes, len(plan.ranks)) for plan in plans for pt in points])
        printer.note(f"commscale run {run_id}: backend {backend.name} ({backend.device}), {backend.world_size} ranks on "
                     f"{len(set(hosts))} host(s), launcher {launch.launcher}, out {cfg.out}")
        if cfg.resume:
            printer.note(f"resuming: {sum(done.values())} of {planned} points already measured")

    def failed(message):  # rank 0, from whichever thread ends the run
        meta.update(status="incomplete", finished_at=now_utc(), failure=message, exit_status=EXIT_LOST,
                    points_done=points_done, points_planned=planned)

    def signalled(signum):  # rank 0, the watchdog thread, the moment a stop signal arrives
        meta.update(status="incomplete", stopped_by=signal_name(signum), points_done=points_done,
                    points_planned=planned)

    # The torch backends connected through MASTER_ADDR, so it works; MPI never needed it.
    board = Board.open(backend, launch.master_addr if backend.name != "mpi" else None, hosts, cfg.timeout_s)
    watchdog = Watchdog(board, backend.rank, cfg.timeout_s, failed if rank0 else _ignore,
                        signalled if rank0 else _ignore, stop.wakeup_fd, backend.abort).start()
    status, any_wrong, stopped_by, step = "incomplete", False, None, 0
    checked = []  # rank 0: each group's transports against the fabric asked for
    try:
        for plan in plans:
            step += 1
            watchdog.enter(step, f"making the group of {len(plan.ranks)} ranks")
            group = backend.new_group(list(plan.ranks))
            member = backend.rank in plan.ranks
            nranks = len(plan.ranks)
            fabric = fabric_label(cfg.fabric, backend, plan.nnodes)
            transports.begin(plan, member)
            block = None
            for point in points:
                if done:  # resuming: skip what was measured before (the same on every rank)
                    key = point_key(point.spec.name, point.dtype.name, point.op, point.in_place, nranks, plan.nnodes,
                                    point.spec.layout(point.size_bytes, nranks, point.dtype.itemsize).size_bytes)
                    if done[key]:
                        done[key] -= 1
                        points_done += 1
                        continue
                step += 1
                watchdog.enter(step, _describe(point, plan))
                if member:
                    fields = measure_point(backend, group, plan.ranks.index(backend.rank), nranks, point,
                                           timing, watchdog.beat)
                transport = transports.after_point()
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
                        ranks_per_node=plan.ranks_per_node, timing=timing.mode, **fields,
                    )
                    writer.write(record)
                    printer.row(record)
                    any_wrong |= bool(record["n_wrong"])
                points_done += 1
                # Every rank, members or not, meets here point by point and learns
                # whether any of them was asked to stop.
                signum = int(backend.max_over([stop.signum], None)[0])
                if signum:
                    stopped_by = signal_name(signum)
                    break
            if rank0 and block is not None:
                printer.progress()
            if rank0 and transports.reads_log:
                problem = transport_problem(cfg.fabric, transports.seen, plan.nnodes)
                if problem:
                    printer.note(f"WARNING: {nranks} ranks on {plan.nnodes} node(s): {problem}")
                checked.append({"nranks": nranks, "nnodes": plan.nnodes, "fabric": fabric,
                                "transports": sorted(transports.seen), "problem": problem})
                meta.update(transport_check=checked)
            if stopped_by:
                break
        else:
            status = "complete"
    except (UsageError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a peer went away (gloo raises): name it; anything else re-raises
        watchdog.collective_failed(exc)
        raise
    finally:
        watchdog.stop()
        if rank0:
            writer.close()
            meta.update(status=status, finished_at=now_utc(), stopped_by=stopped_by,
                        points_done=points_done, points_planned=planned)
    if rank0:
        printer.note(f"records: {cfg.out / 'records.jsonl'}")
        if stopped_by:
            printer.note(f"stopped by {stopped_by} after {points_done} of {planned} points; meta.json says status "
                         f"'incomplete'; finish it with --resume {cfg.out}")
        if any_wrong:
            printer.note("DATA CHECK FAILED: see records with status 'failed'")
    if stopped_by:
        return EXIT_STOPPED
    return EXIT_WRONG_DATA if backend.sum_over([int(any_wrong)], None)[0] else EXIT_OK


def fabric_label(asked: str, backend, nnodes: int) -> str:
    """The record's fabric: the preset asked for, else the label of an emulated network
    between nodes (COMMSCALE_NET_FABRIC, set by `commscale emulate`), else the backend's."""
    if asked in FABRICS:
        return asked
    emulated = os.environ.get(EMULATED_FABRIC_VAR)
    if emulated and nnodes > 1:
        return emulated
    return backend.fabric(nnodes)


class Transports:
    """The transport of each group's records. NCCL: what its debug log on the group's ranks
    says they connected with, gathered after every point (connections are made lazily);
    the connections logged while the launch started belong to the whole world's group.
    Other backends: their fixed answer."""

    def __init__(self, backend, nccl_log: NcclLog | None):
        self.backend, self.log = backend, nccl_log
        self.at_launch = nccl_log.new_transports() if nccl_log else set()
        self.seen: set[str] = set()
        self._member, self._fixed = False, None

    @property
    def reads_log(self) -> bool:
        return self.log is not None

    def begin(self, plan, member: bool) -> None:
        self._member = member
        self.seen = set(self.at_launch) if len(plan.ranks) == self.backend.world_size else set()
        self._fixed = self.backend.transport(plan.nnodes)

    def after_point(self) -> str | None:
        """Every rank, after each point: the group's transports so far, as one label."""
        if not self.reads_log:
            return self._fixed
        mine = sorted(self.log.new_transports()) if self._member else []
        for theirs in self.backend.all_gather_object(mine):
            self.seen.update(theirs)
        return ",".join(sorted(self.seen)) or None


def _ignore(*args) -> None:
    """Ranks other than 0 do not write meta.json."""

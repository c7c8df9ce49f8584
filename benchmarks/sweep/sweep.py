"""The sweep: for each group, collective, dtype, op, placement and size, measure one point
and write its record. Runs on every rank of a launch; rank 0 writes and prints.

`run_sweep` starts the backend and ends it; `Sweep` does the rest in three steps a reader
can follow: `prepare` (groups, points, the run directory, meta.json, the watchdog),
`measure_group` (each point of one group: measure, record, print, ask whether to stop),
and `finish` (meta.json's last word, the closing lines, the exit status).
"""
from __future__ import annotations

import datetime as _dt
import os
import socket
import sys
import uuid
from collections import Counter

from collectives.backends import create_backend
from collectives.backends.base import BackendOptions, BackendSetupError
from collectives.domains import Domains
from collectives.fabric import FabricEnvError, NcclLog, nccl_env, transport_problem
from collectives.launch import LaunchEnv
from collectives.records import RecordWriter, make_record, now_utc
from collectives.sizes import format_size
from collectives.topology import detect as detect_topology

from ..errors import EXIT_LOST, EXIT_OK, EXIT_STOPPED, EXIT_WRONG_DATA, UsageError, report_usage_error
from ..host import preflight
from ..host.detect import node_name
from ..host.domains import rank_view, resolve
from ..outdirs import check_out_dir
from ..reliability.board import Board
from ..reliability.stop import StopRequest, signal_name
from ..reliability.watchdog import Watchdog
from .config import RunConfig
from .harness import Point, Timing, measure_point
from .meta import RunMeta, new_meta
from .plan import GroupPlan, plan_groups, plan_points
from .resume import done_points, point_key, resumable_meta
from .table import TABLE_FILE, Printer, brief_wanted
from .transports import Transports, fabric_label

NCCL_LOG_DIR = "nccl"
"""Each rank's NCCL debug log, OUT/nccl/rank<k>.log (unless NCCL_DEBUG_FILE says where):
the transport read-back's source."""

LIBRARY_TIMEOUT_MARGIN_S = 60.0
"""The library's own limit (torch process groups) sits this far above --timeout, so the
watchdog, which names the ranks, speaks first."""


def _nccl_log(cfg: RunConfig, launch: LaunchEnv) -> tuple[NcclLog | None, str | None]:
    """Before NCCL starts (it reads its environment once per process): add the fabric's
    preset and the debug log the transport read-back needs to the user's NCCL_* settings,
    never changing one the user set. Returns the log to read back (None where the user's
    settings hide the connections) and the note that says so."""
    if cfg.backend != "nccl":
        return None, None
    default = cfg.out / NCCL_LOG_DIR / f"rank{launch.rank}.log"
    try:
        env = nccl_env(cfg.fabric, default, os.environ, socket.gethostname(), os.getpid())
    except FabricEnvError as exc:
        raise UsageError(str(exc)) from None
    os.environ.update(env.set)
    if env.log_path is None:
        return None, env.note
    env.log_path.parent.mkdir(parents=True, exist_ok=True)
    return NcclLog(env.log_path), env.note


def open_backend(cfg: RunConfig, launch: LaunchEnv):
    """The preflight of the launch, then the backend (the sweep's and the doctor's); one-line
    errors for what the user can fix."""
    options = BackendOptions(timeout_s=cfg.timeout_s * 1.5 + LIBRARY_TIMEOUT_MARGIN_S,
                             cuda_graph=cfg.cuda_graph, device=cfg.device)
    preflight.check_launch(launch, cfg.backend)  # one line within seconds, not minutes of retries
    try:
        return create_backend(cfg.backend, launch, options)
    except BackendSetupError as exc:
        raise UsageError(str(exc)) from None


def end_on_usage_error(backend, exc: UsageError) -> None:
    """A UsageError raised on every rank alike, before any point (the sweep's and the
    doctor's): rank 0 says it before the ranks part, so a launcher that ends the step when
    one rank exits cannot cut it off; then the backend closes."""
    if backend.rank == 0:
        report_usage_error(exc)
    exc.reported = True
    backend.close()


def run_sweep(cfg: RunConfig, launch: LaunchEnv) -> int:
    """Measure every planned point; return the exit status (1 if any data check failed)."""
    nccl_log, note = _nccl_log(cfg, launch)
    backend = open_backend(cfg, launch)
    try:
        preflight.check_world(backend, launch)  # versions, GPUs, clocks: the same error on every rank
        with StopRequest() as stop:
            code = Sweep(cfg, launch, backend, stop, Transports(backend, nccl_log), note).run()
    except UsageError as exc:
        end_on_usage_error(backend, exc)
        raise
    except BaseException:
        backend.abandon()  # peers may be elsewhere: do not wait for them
        raise
    backend.close()
    return code


def agree(backend, rank0_work):
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
    meta = resumable_meta(cfg.out)
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


def _ignore(*args) -> None:
    """Ranks other than 0 do not write meta.json."""


class Sweep:
    """One sweep on this rank. Rank 0 alone holds meta.json, the record writer and the
    printer (None elsewhere); every rank meets every other at each point."""

    def __init__(self, cfg: RunConfig, launch: LaunchEnv, backend, stop: StopRequest, transports: Transports,
                 note: str | None = None):
        self.cfg, self.launch, self.backend, self.stop, self.transports = cfg, launch, backend, stop, transports
        self.note = note
        self.rank0 = backend.rank == 0
        self.timing = Timing(cfg.warmup, cfg.iters, cfg.iters_budget_s, cfg.timing)
        self.meta = self.writer = self.printer = self.watchdog = None
        self.points_done, self.step, self.any_wrong, self.stopped_by = 0, 0, False, None
        self.checked = []  # rank 0: each group's transports against the fabric asked for

    def run(self) -> int:
        self.prepare()
        status = "incomplete"
        try:
            for plan in self.plans:
                self.measure_group(plan)
                if self.stopped_by:
                    break
            else:
                status = "complete"
        except (UsageError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a peer went away (gloo raises): name it; anything else re-raises
            self.watchdog.collective_failed(exc)
            raise
        finally:
            self._close(status)
        code = self.finish()
        # The watchdog's callbacks hold this object: let the watchdog, and with it the
        # progress board (rank 0 serves its store), go now, not at interpreter exit,
        # where a store still alive ends the process with std::terminate.
        self.watchdog = None
        return code

    # --- prepare ----------------------------------------------------------------------
    def prepare(self) -> None:
        """Groups, points and what a resumed run holds; on rank 0 meta.json, the writer and
        the printer; then the progress board and the watchdog."""
        cfg, backend = self.cfg, self.backend
        self.hosts = backend.all_gather_object(node_name(os.environ))
        self.domains, self.domains_meta = self._domains()
        self.plans = plan_groups(self.hosts, cfg.ranks, cfg.nodes, cfg.layouts,
                                 self.domains.host_domain if self.domains else None)
        prior = agree(backend, lambda: _prepare_out(cfg, backend.world_size, len(set(self.hosts))))
        self.run_id, self.done = prior["run_id"], prior["done"]
        self.points = plan_points(cfg.collectives, cfg.dtypes, cfg.ops, cfg.in_place, cfg.sizes, backend)
        self.planned = len(self.points) * len(self.plans)
        # One rank per host reads its node's topology (a fresh run's meta.json keeps it).
        first_on_host = self.hosts.index(self.hosts[backend.rank]) == backend.rank
        found = backend.all_gather_object(detect_topology() if first_on_host and not cfg.resume else None)
        topology = {host: topo for host, topo in zip(self.hosts, found) if topo is not None}
        if self.rank0:
            self._open_outputs(prior, topology)
        self._start_watchdog()

    def _domains(self):
        """Every rank's view of its domain, gathered; rank 0 resolves them (flags, then the
        ranks' views, then Slurm's topology) and every rank takes its answer."""
        views = self.backend.all_gather_object(rank_view(self.launch.local_rank, self.backend.device == "cuda"))
        cfg, hosts = self.cfg, self.hosts

        def resolve_here():
            found, described = resolve(cfg.domain_size, cfg.domain_file, hosts, views)
            return (None if found is None else (found.host_domain, found.source, found.domain_size_nodes)), described
        found, described = agree(self.backend, resolve_here)
        return (Domains(*found) if found else None), described

    def _open_outputs(self, prior: dict, topology: dict) -> None:
        """Rank 0: meta.json (a new one, or the resumed run's with this attempt added), the
        record writer and the printer with its first lines."""
        cfg, backend, done = self.cfg, self.backend, self.done
        if cfg.resume:
            self.meta = RunMeta(cfg.out, prior["meta"])
            resumes = list(self.meta.meta.get("resumed") or [])
            resumes.append({"at": now_utc(), "command_line": sys.argv, "points_before": sum(done.values())})
            self.meta.update(status="running", finished_at=None, stopped_by=None, failure=None, exit_status=None,
                             resumed=resumes)
        else:
            self.meta = RunMeta(cfg.out, new_meta(cfg, self.launch, backend, self.run_id, self.hosts, topology))
            self.meta.update(domains=self.domains_meta)
        self.writer = RecordWriter(cfg.out)
        self.table = open(cfg.out / TABLE_FILE, "a", encoding="utf-8")
        self.printer = Printer([(pt.size_bytes, len(plan.ranks)) for plan in self.plans for pt in self.points],
                               table=self.table, brief=brief_wanted())
        self.printer.note(f"commscale run {self.run_id}: backend {backend.name} ({backend.device}), "
                          f"{backend.world_size} ranks on {len(set(self.hosts))} host(s), launcher "
                          f"{self.launch.launcher}, out {cfg.out}")
        if self.note:
            self.printer.note(self.note)
        if cfg.resume:
            self.printer.note(f"resuming: {sum(done.values())} of {self.planned} points already measured")

    def _start_watchdog(self) -> None:
        def failed(message):  # rank 0, from whichever thread ends the run
            self.meta.update(status="incomplete", finished_at=now_utc(), failure=message, exit_status=EXIT_LOST,
                             points_done=self.points_done, points_planned=self.planned)

        def signalled(signum):  # rank 0, the watchdog thread, the moment a stop signal arrives
            self.meta.update(status="incomplete", stopped_by=signal_name(signum), points_done=self.points_done,
                             points_planned=self.planned)
        backend = self.backend
        # The torch backends connected through MASTER_ADDR, so it works; MPI never needed it.
        board = Board.open(backend, self.launch.master_addr if backend.name != "mpi" else None, self.hosts,
                           self.cfg.timeout_s)
        self.watchdog = Watchdog(board, backend.rank, self.cfg.timeout_s, failed if self.rank0 else _ignore,
                                 signalled if self.rank0 else _ignore, self.stop.wakeup_fd, backend.abort).start()

    # --- measure ----------------------------------------------------------------------
    def measure_group(self, plan: GroupPlan) -> None:
        """Every point on one group of ranks; after its last, the transport check."""
        self.step += 1
        self.watchdog.enter(self.step, f"making the group of {len(plan.ranks)} ranks")
        group = self.backend.new_group(list(plan.ranks))
        member = self.backend.rank in plan.ranks
        fabric = fabric_label(self.cfg.fabric, self.backend, plan.nnodes)
        self.transports.begin(plan, member)
        block = None  # rank 0: the (collective, ranks) whose table is being printed
        for point in self.points:
            if self._measured_before(point, plan):
                continue
            self.step += 1
            self.watchdog.enter(self.step, _describe(point, plan))
            fields = measure_point(self.backend, group, plan.ranks.index(self.backend.rank), len(plan.ranks),
                                   point, self.timing, self.watchdog.beat) if member else None
            transport = self.transports.after_point()
            if self.rank0:
                block = self._record(point, plan, fabric, transport, fields, block)
            self.points_done += 1
            # Every rank, members or not, meets here point by point and learns whether
            # any of them was asked to stop.
            signum = int(self.backend.max_over([self.stop.signum], None)[0])
            if signum:
                self.stopped_by = signal_name(signum)
                break
        if self.rank0 and block is not None:
            self.printer.progress()
        if self.rank0 and self.transports.reads_log:
            self._check_transports(plan, fabric)

    def _measured_before(self, point: Point, plan: GroupPlan) -> bool:
        """Resuming: the point is in the records already (the same answer on every rank)."""
        if not self.done:
            return False
        nranks = len(plan.ranks)
        key = point_key(point.spec.name, point.dtype.name, point.op, point.in_place, nranks, plan.nnodes,
                        point.spec.layout(point.size_bytes, nranks, point.dtype.itemsize).size_bytes)
        if not self.done[key]:
            return False
        self.done[key] -= 1
        self.points_done += 1
        return True

    def _record(self, point: Point, plan: GroupPlan, fabric: str, transport, fields: dict, block):
        """Rank 0: write and print the point's record (a table header at each new block)."""
        nranks = len(plan.ranks)
        if block != (point.spec.name, nranks):
            if block is not None:
                self.printer.progress()
            block = (point.spec.name, nranks)
            self.printer.header(point.spec.name, nranks, plan.nnodes, fabric)
        record = make_record(
            run_id=self.run_id, timestamp=now_utc(), collective=point.spec.name, backend=self.backend.name,
            device=self.backend.device, fabric=fabric, transport=transport, dtype=point.dtype.name,
            reduce_op=point.op, in_place=point.in_place, nranks=nranks, nnodes=plan.nnodes,
            ranks_per_node=plan.ranks_per_node, ndomains=plan.ndomains, nodes_per_domain=plan.nodes_per_domain,
            domain_size_nodes=self.domains.domain_size_nodes if self.domains else None, timing=self.timing.mode,
            **fields,
        )
        self.writer.write(record)
        self.printer.row(record)
        self.any_wrong |= bool(record["n_wrong"])
        return block

    def _check_transports(self, plan: GroupPlan, fabric: str) -> None:
        """Rank 0: the group's transports against the fabric asked for, into meta.json."""
        nranks = len(plan.ranks)
        problem = transport_problem(self.cfg.fabric, self.transports.seen, plan.nnodes)
        if problem:
            self.printer.note(f"WARNING: {nranks} ranks on {plan.nnodes} node(s): {problem}")
        self.checked.append({"nranks": nranks, "nnodes": plan.nnodes, "fabric": fabric,
                             "transports": sorted(self.transports.seen), "problem": problem})
        self.meta.update(transport_check=self.checked)

    # --- finish -----------------------------------------------------------------------
    def _close(self, status: str) -> None:
        """Whatever happened: the watchdog stops; rank 0 closes the records and says in
        meta.json how the run ended."""
        self.watchdog.stop()
        if self.rank0:
            self.writer.close()
            self.meta.update(status=status, finished_at=now_utc(), stopped_by=self.stopped_by,
                             points_done=self.points_done, points_planned=self.planned)

    def finish(self) -> int:
        """The closing lines (rank 0) and the exit status, agreed over every rank."""
        cfg = self.cfg
        if self.rank0:
            self.printer.note(f"records: {cfg.out / 'records.jsonl'}")
            if self.stopped_by:
                self.printer.note(f"stopped by {self.stopped_by} after {self.points_done} of {self.planned} points; "
                                  f"meta.json says status 'incomplete'; finish it with --resume {cfg.out}")
            if self.any_wrong:
                self.printer.note("DATA CHECK FAILED: see records with status 'failed'")
            self.table.close()
        if self.stopped_by:
            return EXIT_STOPPED
        return EXIT_WRONG_DATA if self.backend.sum_over([int(self.any_wrong)], None)[0] else EXIT_OK

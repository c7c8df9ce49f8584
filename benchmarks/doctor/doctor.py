"""The doctor on every rank of a launch: pair rounds, the statistics (rank 0,
reports/doctor/stats.py), the confirmation, doctor.json and the table. Rank 0 writes; every rank
meets every other after each round and each confirmation step.

doctor.json is rewritten after every round (status "running"), so a failure mid-run keeps
what was measured; the pair measurements are also records (records.jsonl, meta.json), so
`commscale report DIR` reads the directory like a run.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import signal
import sys
import threading
import uuid

import numpy as np

from collectives.clocks import no_beat
from collectives.launch import LaunchEnv
from collectives.records import RecordWriter, make_record, now_utc
from reports.doctor.confirm import confirm, run_confirmation
from reports.doctor.result import DoctorResult
from reports.doctor.stats import DOCTOR_FILE, Method, analyse, pool_tests, rerank
from reports.present.doctor_text import format_doctor

from ..errors import EXIT_LOST, EXIT_OK, EXIT_STOPPED, EXIT_SUSPECTS, EXIT_WRONG_DATA, UsageError
from ..host import preflight
from ..host.detect import node_name
from ..outdirs import check_out_dir
from ..reliability.stop import StopRequest, signal_name
from ..sweep.harness import Timing
from ..sweep.meta import RunMeta, new_meta
from ..sweep.sweep import agree, end_on_usage_error, open_backend
from ..sweep.transports import fabric_label
from .options import TESTS, DoctorOptions
from .probe import Prober, doctor_points
from .schedule import all_rounds, plan_rounds

def run_doctor(opts: DoctorOptions, launch: LaunchEnv) -> int:
    """Start the backend, run the doctor, end the backend; the exit status. A stop signal
    (SIGTERM, SIGUSR1, SIGINT, SIGHUP) ends it after the round being measured (EXIT_STOPPED)."""
    cfg = opts.cfg
    backend = open_backend(cfg, launch)
    try:
        preflight.check_world(backend, launch)  # versions, GPUs, clocks: the same error on every rank
        with StopRequest() as stop, _also_stopped_by(stop, (signal.SIGINT, signal.SIGHUP)):
            code = Doctor(opts, launch, backend, stop).run()
    except UsageError as exc:
        end_on_usage_error(backend, exc)
        raise
    except KeyboardInterrupt:
        backend.abandon()
        raise
    except Exception as exc:  # a peer went away or a collective failed: one line per rank, what was measured kept
        backend.abandon()
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        print(f"commscale: doctor: rank {backend.rank}: a collective failed ({first}); what was measured is kept in "
              f"{cfg.out / DOCTOR_FILE} and records.jsonl (status 'incomplete')", file=sys.stderr, flush=True)
        return EXIT_LOST
    backend.close()
    return code


@contextlib.contextmanager
def _also_stopped_by(stop: StopRequest, signals):
    """`signals` note a stop as StopRequest's do (main thread only), for the length of the block."""
    def note(signum, frame):
        stop.signum = signum
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, note) for sig in signals} if main else {}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Doctor:
    def __init__(self, opts: DoctorOptions, launch: LaunchEnv, backend, stop: StopRequest | None = None):
        self.opts, self.cfg, self.launch, self.backend = opts, opts.cfg, launch, backend
        self.stop, self.stopped_by = stop, None
        self.rank0 = backend.rank == 0
        self.timing = Timing(self.cfg.warmup, self.cfg.iters, self.cfg.iters_budget_s, self.cfg.timing)
        self.points = doctor_points(backend, TESTS, opts.size_bytes)
        self._in_place = {p.spec.name: p.in_place for p in self.points}
        self.pairs, self.samples, self.any_wrong = [], {}, False
        self.doc = self.meta = self.writer = None

    def run(self) -> int:
        self.prepare()
        status = "incomplete"
        try:
            for sweep in range(self.opts.passes):
                for number, pairs in enumerate(self.rounds):
                    self.measure_round(sweep, number, pairs)
                    if self._asked_to_stop():
                        return self._stopped(sweep * len(self.rounds) + number + 1)
            self.analyse_and_confirm()
            if self._intra_wanted():
                self.measure_intra()
            status = "complete"
        finally:
            if self.rank0:
                self.writer.close()
                self.meta.update(status=status, finished_at=now_utc(), points_done=len(self.pairs),
                                 stopped_by=self.stopped_by)
                self.save(status)
        code = None
        if self.rank0:
            code = EXIT_WRONG_DATA if self.any_wrong else (EXIT_SUSPECTS if self.doc["suspects"] else EXIT_OK)
            print(format_doctor(DoctorResult.from_json(self.doc), self.cfg.out / DOCTOR_FILE, code), flush=True)
        return int(self.backend.broadcast_object(code))

    def _asked_to_stop(self) -> bool:
        """Every rank, after each round: whether any of them received a stop signal."""
        signum = int(self.backend.max_over([self.stop.signum if self.stop else 0], None)[0])
        if signum:
            self.stopped_by = signal_name(signum)
        return bool(signum)

    def _stopped(self, rounds_done: int) -> int:
        """Rank 0: what a stop leaves (doctor.json and meta.json are marked by `run`)."""
        if self.rank0:
            print(f"# stopped by {self.stopped_by} after {rounds_done} of {len(self.rounds) * self.opts.passes} "
                  f"rounds: what was measured is in {self.cfg.out / DOCTOR_FILE} and records.jsonl (status "
                  f"'incomplete'); the doctor has no --resume: run it again to finish", flush=True)
        return EXIT_STOPPED

    def prepare(self) -> None:
        """Hosts, nodes, rounds; rank 0: the run directory, meta.json, the record writer."""
        backend, cfg = self.backend, self.cfg
        hosts = backend.all_gather_object(node_name(os.environ))
        self.prober = Prober(backend, hosts, self.opts.layout, self.timing, no_beat)
        self.names = self.prober.nodes
        if len(self.names) < 2:
            raise UsageError(f"the doctor compares nodes and this launch has {backend.world_size} rank(s) on one "
                             f"node ({self.names[0]}): launch ranks on 2 or more nodes (3 or more to tell a slow "
                             f"node from a slow link)")
        self.rounds, self.rounds_why = plan_rounds(len(self.names), self.opts.rounds)
        run_id = agree(backend, lambda: _new_out(cfg.out))
        if self.rank0:
            self.meta = RunMeta(cfg.out, new_meta(cfg, self.launch, backend, run_id, hosts, {}))
            self.meta.update(verb="doctor")
            self.writer = RecordWriter(cfg.out)
            self.doc = self._start_doc(run_id, hosts)
            print(f"# commscale doctor {run_id}: {len(self.names)} nodes, {backend.world_size} ranks, backend "
                  f"{backend.name} ({backend.device}); {self.rounds_why}; {self.opts.passes} pass(es); sendrecv and "
                  f"all_reduce of {_size(self.opts.size_bytes)} per pair, {_layout(self.opts.layout)}", flush=True)

    def measure_round(self, sweep: int, number: int, pairs) -> None:
        """One round: its pairs measured at the same time; rank 0 records them."""
        found = self.prober.measure(pairs, self.points)
        if not self.rank0:
            return
        for pair, fields in zip(pairs, found):
            for test, f in fields.items():
                self._record(self.prober.ranks_of(pair), len(pair), test, f,
                             {"nodes": [self.names[i] for i in pair], "index": list(pair), "pass": sweep,
                              "round": number})
                if f["status"] == "ok":
                    self.samples.setdefault(test, {}).setdefault(tuple(pair), []).append(median_rate(f))
        self.save("running")
        done = sweep * len(self.rounds) + number + 1
        print(f"# round {done}/{len(self.rounds) * self.opts.passes}: " + ", ".join(
            f"{self.names[a]}-{self.names[b]} " + "/".join(_gbps(f.get(t)) for t in TESTS)
            for (a, b), f in zip(pairs, found)) + " GB/s (sendrecv/all_reduce busbw at the median time)", flush=True)

    def analyse_and_confirm(self) -> None:
        """Rank 0 finds the suspects; every rank measures the confirmation steps."""
        method = Method(threshold=self.opts.threshold)
        any_suspect, ref = agree(self.backend, lambda: self._analyse(method))
        if not any_suspect or not self.opts.confirm:
            return
        suspects = self.doc["suspects"] if self.rank0 else None  # confirm() fills in their confirmation
        steps = confirm(len(self.names), suspects, ref, method.threshold) if self.rank0 else None
        confirmation = self._drive(steps)
        if self.rank0:
            self.doc["confirmation"] = confirmation
            _name_groups(suspects, self.names)

    def _analyse(self, method: Method):
        samples, factors = pool_tests(self.samples)
        found = analyse(self.names, samples, method)
        self.doc.update(found, method={**method.describe(), "pooled": "each test's samples times its factor, in "
                                       "all_reduce busbw", "test_factors": factors})
        ok = [p["rate_gbps"] for p in self.pairs if p["test"] == "all_reduce" and p["status"] == "ok"
              and not _touches(p["index"], found["suspects"])]
        ref = float(np.median(ok)) if ok else float(found["reference_gbps"] or 0.0)
        return bool(found["suspects"]), ref

    def _drive(self, steps):
        """Every rank: take each step rank 0 announces, measure it, until rank 0 says done."""
        all_reduce = [p for p in self.points if p.spec.name == "all_reduce"]

        def measure(groups):
            self.backend.broadcast_object(groups)
            found = self.prober.measure(groups, all_reduce)
            for nodes, fields in zip(groups, found):
                self._record(self.prober.ranks_of(nodes), len(nodes), "all_reduce", fields["all_reduce"], None)
            return [median_rate(fields["all_reduce"]) or 0.0 for fields in found]
        if self.rank0:
            result = run_confirmation(steps, measure)
            self.backend.broadcast_object(None)
            return result
        while (groups := self.backend.broadcast_object(None)) is not None:
            self.prober.measure(groups, all_reduce)
        return None

    def _record(self, ranks, nnodes: int, test: str, fields: dict, entry: dict | None) -> None:
        """Rank 0: a measurement into records.jsonl and, with its `entry` (which pair, which
        round), into doctor.json's `pairs`."""
        record = make_record(
            run_id=self.doc["run_id"], timestamp=now_utc(), collective=test, backend=self.backend.name,
            device=self.backend.device, fabric=fabric_label(self.cfg.fabric, self.backend, nnodes),
            transport=None, dtype="float32", reduce_op="sum" if test == "all_reduce" else None,
            in_place=self._in_place[test], nranks=len(ranks), nnodes=nnodes, ranks_per_node=len(ranks) // nnodes,
            ndomains=None, nodes_per_domain=None, domain_size_nodes=None, timing=self.timing.mode, **fields)
        self.writer.write(record)
        self.any_wrong |= bool(record["n_wrong"])
        if entry is None:
            return
        self.pairs.append({**entry, "test": test, "ranks": list(ranks), "status": fields["status"],
                           "rate_gbps": median_rate(fields), "busbw_gbps": fields.get("busbw_gbps"),
                           "time_us_median": fields.get("time_us_median"),
                           "n_wrong": fields.get("n_wrong"), "iters": fields.get("iters")})

    # --- inside each node ---------------------------------------------------------------
    def _intra_wanted(self) -> bool:
        per_node = min(len(r) for r in self.prober.node_ranks)
        if self.opts.intra is None:
            return per_node >= 2 and self.backend.device == "cuda"
        return self.opts.intra and per_node >= 2

    def measure_intra(self) -> None:
        """Every pair of GPUs (local ranks) inside each node, all nodes at once, in rounds;
        rank 0 runs the same statistics per node, GPUs standing for nodes."""
        node_ranks = self.prober.node_ranks
        gpus = min(len(r) for r in node_ranks)
        rounds = all_rounds(gpus)
        samples = [{} for _ in node_ranks]
        for sweep in range(self.opts.passes):
            for number, pairs in enumerate(rounds):
                groups = [(node, pair) for node in range(len(node_ranks)) for pair in pairs]
                found = self.prober.measure_ranks([[node_ranks[n][i] for i in p] for n, p in groups], self.points)
                if self.rank0:
                    self._record_intra(groups, found, samples, sweep, number)
        if self.rank0:
            self._analyse_intra(gpus, samples)

    def _record_intra(self, groups, found, samples, sweep: int, number: int) -> None:
        for (node, pair), fields in zip(groups, found):
            ranks = [self.prober.node_ranks[node][i] for i in pair]
            for test, f in fields.items():
                self._record(ranks, 1, test, f, {"nodes": [f"{self.names[node]}:gpu{i}" for i in pair],
                                                 "index": list(pair), "node": self.names[node], "intra": True,
                                                 "pass": sweep, "round": number})
                if f["status"] == "ok":
                    samples[node].setdefault(test, {}).setdefault(tuple(pair), []).append(median_rate(f))
        self.save("running")

    def _analyse_intra(self, gpus: int, samples) -> None:
        """Per node, its GPUs' capacities and links; their suspects join the ranking."""
        method = Method(threshold=self.opts.threshold)
        intra = {}
        for node, name in enumerate(self.names):
            if samples[node]:
                found = analyse([f"{name}:gpu{i}" for i in range(gpus)], pool_tests(samples[node])[0], method)
                for s in found["suspects"]:
                    s.update(kind="gpu" if s["kind"] == "node" else "gpu_link", within=name,
                             confirmation={"confirmed": None, "why": "inside a node: not confirmed by groups",
                                           "measurements": 0})
                intra[name] = found
        suspects = self.doc["suspects"] + [s for found in intra.values() for s in found["suspects"]]
        self.doc.update(intra=intra, suspects=rerank(suspects))

    def _start_doc(self, run_id: str, hosts: list[str]) -> dict:
        return {"schema": 1, "run_id": run_id, "status": "running", "started_at": now_utc(), "finished_at": None,
                "command_line": sys.argv, "backend": self.backend.name, "device": self.backend.device,
                "launcher": self.launch.launcher, "world_size": self.backend.world_size, "layout": self.opts.layout,
                "size_bytes": self.opts.size_bytes, "tests": list(TESTS), "passes": self.opts.passes,
                "rounds": {"measured": len(self.rounds), "why": self.rounds_why,
                           "pairs": [[list(p) for p in r] for r in self.rounds]},
                "node_names": self.names, "node_ranks": {n: r for n, r in zip(self.names, self.prober.node_ranks)},
                "rank_hosts": hosts, "pairs": self.pairs, "nodes": [], "links": [], "suspects": [],
                "confirmation": None}

    def save(self, status: str) -> None:
        self.doc.update(status=status, finished_at=now_utc() if status != "running" else None,
                        healthy=None if status == "running" else not self.doc["suspects"])
        path = self.cfg.out / DOCTOR_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.doc, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def _new_out(out) -> str:
    check_out_dir(out)
    if (out / DOCTOR_FILE).exists():
        raise UsageError(f"{str(out)!r} already holds a doctor's run ({DOCTOR_FILE}): choose a new --out directory")
    return f"{_dt.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def _touches(pair: list[int], suspects: list[dict]) -> bool:
    """Whether a pair has a suspect node in it, or is a suspect link."""
    for s in suspects:
        if (s["kind"] == "node" and s["index"] in pair) or (s["kind"] == "link" and sorted(s["index"]) == sorted(pair)):
            return True
    return False


def _name_groups(suspects, names) -> None:
    """Node indices in the confirmation written as node names as well."""
    def named(v):
        return [named(x) for x in v] if isinstance(v, list) else names[v]
    for s in suspects:
        c = s.get("confirmation") or {}
        for key in ("with", "without", "still_slow"):
            if c.get(key) is not None:
                c[key + "_nodes"] = named(c[key])


def _size(n: int) -> str:
    from collectives.sizes import format_size
    return format_size(n)


def median_rate(fields: dict) -> float | None:
    """The point's busbw from its median time, not its mean (nccl-tests' busbw, which the
    records keep): one slow iteration, frequent where ranks share cores, does not move it."""
    if fields.get("status") != "ok" or not fields.get("time_us_median"):
        return None
    return fields["busbw_gbps"] * fields["time_us_mean"] / fields["time_us_median"]


def _gbps(fields) -> str:
    if not fields or fields.get("status") != "ok":
        return "-" if not fields else fields.get("status", "-")
    return f"{median_rate(fields):.4g}"


def _layout(layout: str) -> str:
    return "one rank per node" if layout == "inter" else "every rank of both nodes"

"""The progress board: where every rank of a run is, readable while a collective hangs.

A small key-value store (torch's TCPStore, whatever the backend measures) served by a
thread of rank 0. Each rank posts the step it enters (`at/R`) and, from its watchdog
thread, a pulse every second (`pulse/R`). When a collective does not finish, any rank can
read the board and tell a rank that has not reached the step, a rank that has gone silent
(killed or frozen), and a collective that hangs with every rank present.
"""
from __future__ import annotations

import datetime as _dt
import os
import socket
import sys
import time
from dataclasses import dataclass

from torch.distributed import TCPStore

PULSE_S = 1.0
"""How often each rank's watchdog pulses."""
CONNECT_S = 30.0
"""How long a rank waits to reach the board at the start (then runs without one)."""


@dataclass(frozen=True, slots=True)
class Survey:
    behind: dict[int, int]
    """Ranks that have not reached the step asked about: rank -> the step they are at."""
    silent: list[int]
    """Ranks whose pulse stopped: killed, frozen, or cut off."""


def board_host(master_addr: str | None, hosts: list[str]) -> str:
    """The address other ranks reach rank 0 at: the launch's MASTER_ADDR, loopback when the
    run is on one host, else the address this host resolves to."""
    if master_addr:
        return master_addr
    if len(set(hosts)) == 1:
        return "127.0.0.1"
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return socket.gethostname()


def _connect(address: tuple[str, int], world_size: int) -> TCPStore:
    return TCPStore(address[0], address[1], world_size, False, timeout=_dt.timedelta(seconds=CONNECT_S))


class Board:
    def __init__(self, store: TCPStore, address: tuple[str, int], rank: int, world_size: int,
                 hosts: list[str], pids: list[int]):
        self.rank, self.world_size, self.hosts, self.pids = rank, world_size, hosts, pids
        self._store, self._address = store, address

    @classmethod
    def open(cls, backend, master_addr: str | None, hosts: list[str], timeout_s: float) -> "Board | None":
        """Collective over the world: rank 0 serves, every rank connects and posts step -1.
        Returns None on every rank if any rank cannot reach the board (runs go on without
        the diagnosis; rank 0 says so)."""
        timeout = _dt.timedelta(seconds=max(timeout_s, CONNECT_S))
        address, store = None, None
        if backend.rank == 0:
            try:
                store = TCPStore("0.0.0.0", 0, backend.world_size, True, timeout=timeout, wait_for_workers=False)
                address = (board_host(master_addr, hosts), store.port)
            except Exception as exc:  # noqa: BLE001 - any failure only costs the diagnosis
                print(f"commscale: warning: no progress board ({exc}); a hang will be reported without "
                      f"naming the ranks", file=sys.stderr, flush=True)
        address = backend.broadcast_object(address)
        failed = address is None
        if address and backend.rank != 0:
            try:
                store = _connect(address, backend.world_size)
            except Exception:  # noqa: BLE001
                failed = True
        if store is not None and not failed:
            store.set(f"at/{backend.rank}", "-1")
            store.add(f"pulse/{backend.rank}", 0)
        failures = int(backend.sum_over([int(failed)], None)[0])
        if failures:
            if backend.rank == 0 and address:
                print(f"commscale: warning: {failures} rank(s) could not reach the progress board at "
                      f"{address[0]}:{address[1]}; a hang will be reported without naming the ranks",
                      file=sys.stderr, flush=True)
            return None
        return cls(store, tuple(address), backend.rank, backend.world_size, hosts,
                   backend.all_gather_object(os.getpid()))

    def connect_again(self) -> "Board":
        """A second connection for another thread (one client is not shared between threads)."""
        return Board(_connect(self._address, self.world_size), self._address, self.rank, self.world_size,
                     self.hosts, self.pids)

    def post(self, step: int) -> None:
        self._store.set(f"at/{self.rank}", str(step))

    def pulse(self) -> None:
        self._store.add(f"pulse/{self.rank}", 1)

    def _read(self, prefix: str) -> list[int]:
        return [int(v) for v in self._store.multi_get([f"{prefix}/{r}" for r in range(self.world_size)])]

    def survey(self, step: int, listen_s: float = 2.5 * PULSE_S) -> Survey:
        """Who has not reached `step`, and who stays silent for `listen_s`."""
        before = self._read("pulse")
        time.sleep(listen_s)
        after, at = self._read("pulse"), self._read("at")
        silent = [r for r in range(self.world_size) if after[r] == before[r] and r != self.rank]
        return Survey({r: s for r, s in enumerate(at) if s < step and r not in silent}, silent)

    def who(self, rank: int) -> str:
        return f"rank {rank} (host {self.hosts[rank]}, pid {self.pids[rank]})"

    def set_verdict(self, text: str) -> None:
        self._store.set("verdict", text)

    def wait_verdict(self, wait_s: float) -> str | None:
        """The message rank 0 printed, if it prints one within `wait_s` (then acknowledged);
        None if it does not, or rank 0 goes away."""
        deadline = time.monotonic() + wait_s
        try:
            while time.monotonic() < deadline:
                if self._store.check(["verdict"]):
                    verdict = self._store.get("verdict").decode()
                    self._store.add("verdict_read", 1)
                    return verdict
                time.sleep(0.2)
        except Exception:  # noqa: BLE001 - rank 0 went away
            pass
        return None

    def wait_acks(self, count: int, wait_s: float) -> None:
        """Rank 0: wait until `count` ranks have read the verdict, or `wait_s` passes."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and self._store.add("verdict_read", 0) < count:
            time.sleep(0.2)

"""The watchdog: no collective waits forever, and a lost rank is named.

One thread per rank. The sweep says which step it enters (`enter`) and the timing loops
beat after every call (`beat`); when no beat comes for `--timeout` seconds, or a
collective raises because a peer went away (gloo does), the rank reads the progress board
(benchmarks/reliability/board.py) and ends with one message that names the step
(collective, size, group) and the ranks that did not arrive. Rank 0 prints it, marks
meta.json incomplete and posts it on the board; the other ranks wait for that (so a
launcher that kills the step when one rank exits cannot cut rank 0 off) and exit quietly,
or print their own message if rank 0 is the rank that is gone. Exit status: EXIT_LOST.

The thread also reads the signal wake-up pipe (benchmarks/reliability/stop.py): a
SIGTERM that arrives while the main thread is blocked inside a collective marks meta.json
incomplete at once, before a later SIGKILL can prevent it.
"""
from __future__ import annotations

import os
import re
import select
import sys
import threading
import time
from typing import Callable

from ..errors import EXIT_LOST
from .board import PULSE_S, Board
from .stop import STOP_SIGNALS

WATCH_S = 0.2
"""How often the watchdog checks the clock and the signal pipe (and how long stop() waits)."""
VERDICT_GRACE_S = 15.0
"""How long ranks other than 0 wait, beyond the timeout, for rank 0's message."""


def _ranks(board: Board, ranks) -> str:
    return ", ".join(board.who(r) for r in ranks)


class Watchdog:
    def __init__(self, board: Board | None, rank: int, timeout_s: float, on_fail: Callable[[str], None],
                 on_stop_signal: Callable[[int], None], wakeup_fd: int | None,
                 abort: Callable[[int], None] = os._exit):
        """`on_fail(message)` and `on_stop_signal(signum)` record them (rank 0: meta.json);
        `abort(status)` ends the process, and the job where the library can."""
        self.board, self.rank, self.timeout_s, self._abort = board, rank, timeout_s, abort
        self._on_fail, self._on_stop_signal, self._wakeup_fd = on_fail, on_stop_signal, wakeup_fd
        self.step, self.what = -1, "setting up the run"
        self._texts = {-1: self.what}
        self._last = time.monotonic()
        self._failing = threading.Lock()
        self._done = threading.Event()
        # Two threads: pulses must go on while the other one reads the board and waits.
        self._threads = [threading.Thread(target=self._watch, name="commscale-watchdog", daemon=True),
                         threading.Thread(target=self._pulse, name="commscale-pulse", daemon=True)]

    def start(self) -> "Watchdog":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join(timeout=2 * PULSE_S)

    # --- main thread ------------------------------------------------------------------
    def enter(self, step: int, what: str) -> None:
        """The main thread starts `step` (the same numbering on every rank)."""
        self.step, self.what = step, what
        self._texts[step] = what
        self.beat()
        if self.board:
            self.board.post(step)

    def beat(self) -> None:
        """A call finished: the clock for --timeout starts again."""
        self._last = time.monotonic()

    def collective_failed(self, exc: BaseException) -> None:
        """A collective raised (a peer's connection closed). If a rank is gone or behind,
        end the run naming it; otherwise return, and the caller re-raises (a bug or a
        library error, with its traceback)."""
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        first = re.sub(r"^\[[^\]]*\]\s*", "", first)[:160]  # gloo's "[.../pair.cc:537] " prefix
        self._fail(f"failed on rank {self.rank} ({first})", only_if_lost=True)

    # --- threads ----------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._done.is_set():
            self._wait_signals(WATCH_S)
            if time.monotonic() - self._last > self.timeout_s and not self._done.is_set():
                self._fail(f"did not finish within --timeout {self.timeout_s:g} s", only_if_lost=False)

    def _pulse(self) -> None:
        if not self.board:
            return
        try:
            board = self.board.connect_again()  # a client of its own: one is not shared by threads
            while not self._done.wait(PULSE_S):
                board.pulse()
        except Exception:  # noqa: BLE001 - rank 0 gone: the stall check will say so
            return

    def _wait_signals(self, wait_s: float) -> None:
        if self._wakeup_fd is None:
            self._done.wait(wait_s)
            return
        ready, _, _ = select.select([self._wakeup_fd], [], [], wait_s)
        if ready:
            try:
                data = os.read(self._wakeup_fd, 64)
            except BlockingIOError:
                return
            for signum in data:
                if signum in STOP_SIGNALS:
                    self._on_stop_signal(signum)

    # --- both -------------------------------------------------------------------------
    def _diagnose(self) -> tuple[str, list[int] | None]:
        """(what the board says, the ranks gone or behind; None when that is unknown)."""
        if self.board is None:
            return "the ranks that did not arrive are unknown (no progress board)", None
        try:
            survey = self.board.survey(self.step)
        except Exception:  # noqa: BLE001 - the store lives in rank 0
            return f"{self.board.who(0)} is gone: its progress board does not answer", [0]
        parts = []
        if survey.silent:
            parts.append(f"no sign of life from {_ranks(self.board, survey.silent)} (killed, frozen or cut off)")
        for r, step in sorted(survey.behind.items()):
            parts.append(f"{self.board.who(r)} has not arrived (still at: {self._texts.get(step, f'step {step}')})")
        if parts:
            return "; ".join(parts), survey.silent + sorted(survey.behind)
        return ("every rank reached this point and is alive: the collective itself does not complete "
                "(check the network, and the library's log, e.g. NCCL_DEBUG=INFO)"), []

    def _fail(self, cause: str, only_if_lost: bool) -> None:
        if not self._failing.acquire(blocking=False):
            self._done.wait()  # the other thread is ending the run
            return
        diagnosis, lost = self._diagnose()
        if only_if_lost and not lost:
            self._failing.release()
            return
        message = f"{self.what}: {cause}; {diagnosis}"
        try:
            if self.rank == 0:
                # meta.json first: MPICH's mpiexec kills every rank at the first output
                # after one has died.
                self._on_fail(message)
                if self.board:
                    self.board.set_verdict(message)
                print(f"commscale: error: {message}", file=sys.stderr, flush=True)
                if self.board:
                    # Stay until the live ranks have read it: the board dies with rank 0.
                    self.board.wait_acks(self.board.world_size - 1 - len(lost or []),
                                         self.timeout_s + VERDICT_GRACE_S)
            else:
                verdict = None
                if self.board and lost != [0]:
                    verdict = self.board.wait_verdict(self.timeout_s + VERDICT_GRACE_S)
                if verdict is None:
                    print(f"commscale: error: rank {self.rank}: {message}", file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - ending is what matters now
            pass
        finally:
            if self.rank == 0:
                self._abort(EXIT_LOST)
            os._exit(EXIT_LOST)

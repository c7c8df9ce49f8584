"""Stop requests: SIGTERM and SIGUSR1 end a sweep at the next point boundary.

Slurm sends SIGTERM at the time limit and on preemption or scancel, and the signal named
by `#SBATCH --signal=USR1@S` S seconds before the limit. A handler only notes the signal;
the sweep asks every rank at each point boundary (one small all-reduce, which replaces the
barrier it had there), so all ranks stop after the same point even when the signal reached
them at different moments.

Python runs a handler only when the main thread is back in the interpreter, which a rank
blocked inside a collective is not. So the signal also goes to a wake-up pipe
(`signal.set_wakeup_fd`), written by the C-level handler at once: the watchdog thread
reads it (`wakeup_fd`) and has meta.json marked incomplete before any later SIGKILL.
"""
from __future__ import annotations

import os
import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """Installed for the length of a sweep; `signum` is 0 until a stop signal arrives."""

    def __init__(self):
        self.signum = 0
        self.wakeup_fd: int | None = None
        """Read end of the wake-up pipe: one byte per signal received (None off the main thread)."""
        self._previous = {}
        self._pipe = None
        self._previous_wakeup = -1

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._note)
            self._pipe = os.pipe()
            for fd in self._pipe:
                os.set_blocking(fd, False)
            self._previous_wakeup = signal.set_wakeup_fd(self._pipe[1], warn_on_full_buffer=False)
            self.wakeup_fd = self._pipe[0]
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        if self._pipe:
            signal.set_wakeup_fd(self._previous_wakeup)
            for fd in self._pipe:
                os.close(fd)
            self._pipe, self.wakeup_fd = None, None

    def _note(self, signum, frame):
        self.signum = signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name

"""Stop requests: SIGTERM and SIGUSR1 end a sweep at the next point boundary.

Slurm sends SIGTERM at the time limit and on preemption or scancel, and the signal named
by `#SBATCH --signal=USR1@S` S seconds before the limit. A handler only notes the signal;
the sweep asks every rank at each point boundary (one small all-reduce, which replaces the
barrier it had there), so all ranks stop after the same point even when the signal reached
them at different moments.
"""
from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """Installed for the length of a sweep; `signum` is 0 until a stop signal arrives."""

    def __init__(self):
        self.signum = 0
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _note(self, signum, frame):
        self.signum = signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name

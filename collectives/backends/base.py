"""The interface every backend implements, and the small value types it exchanges."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..clocks import no_beat

#: call(send, recv, group, op, root) -> None: one collective, blocking on the host until
#: it is enqueued (GPU) or complete (CPU).
CollectiveCall = Callable[[object, object, object, "str | None", "int | None"], None]


@dataclass(frozen=True, slots=True)
class BackendOptions:
    timeout_s: float
    """The library's own limit on a collective's wait, where it has one (torch process
    groups); the sweep's watchdog (benchmarks/reliability/watchdog.py) acts at --timeout, before it."""
    cuda_graph: bool = False
    """Time CUDA-graph replays instead of eager launches (GPU backends only)."""
    device: str | None = None
    """"cpu", "cuda" or "auto" for backends that can use either (mpi); None: the backend's own."""


class BackendSetupError(ValueError):
    """The backend cannot start here for a reason the user can fix (its library does not
    load; the launcher and the library disagree about the world, as when srun starts 4
    tasks but MPI makes each a singleton). The message names the problem and the fix."""


class Backend(Protocol):
    name: str
    device: str
    """"cpu" or "cuda"."""
    rank: int
    world_size: int
    in_place_only: frozenset[str]
    """Collectives this library only offers in place: their out-of-place requests run in
    place and are recorded so."""
    out_of_place_only: frozenset[str]
    """Collectives whose in-place form in this library is not the nccl-tests one: their
    in-place requests run out of place and are recorded so."""

    def call_for(self, collective: str) -> CollectiveCall | None: ...
    def make_buffer(self, values: np.ndarray, dtype: str) -> object: ...
    def to_numpy(self, buffer: object) -> np.ndarray: ...
    def new_group(self, ranks: list[int]) -> object: ...
    def time_calls(self, fn: Callable[[], None], iters: int, beat: Callable[[], None] = no_beat) -> np.ndarray:
        """Per-iteration times (us) of `iters` calls of fn on this rank; `beat()` after each
        call, outside the timed interval (the watchdog's sign of progress)."""
    def synchronize(self) -> None: ...
    def max_over(self, values: np.ndarray, group: object) -> np.ndarray: ...
    def sum_over(self, values: np.ndarray, group: object) -> np.ndarray: ...
    def barrier(self) -> None: ...
    def all_gather_object(self, obj: object) -> list: ...
    def broadcast_object(self, obj: object) -> object: ...
    def transport(self, nnodes: int) -> str | None: ...
    def fabric(self, nnodes: int) -> str: ...
    def versions(self) -> dict: ...
    def close(self) -> None:
        """Every rank, after the sweep: wait for the others where the library needs it, then
        free the groups."""
    def abandon(self) -> None:
        """After a failure on this rank: do not wait for peers that may be elsewhere. torch
        leaves; MPI, which has no timeout, aborts the whole job (EXIT_FAILED)."""
    def abort(self, status: int) -> None:
        """End this process now, and the whole job where the library can (MPI_Abort);
        safe from a thread other than the one blocked in a collective."""

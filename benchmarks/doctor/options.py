"""What the doctor measures, validated (DoctorOptions), and the command line a rank runs it
with (the emulation starts ranks with it)."""
from __future__ import annotations

import sys
from dataclasses import dataclass

from reports.doctor.stats import THRESHOLD

from ..errors import UsageError
from ..sweep.config import RunConfig

LAYOUTS = ("inter", "full")
"""inter: one rank per node (the network); full: every rank of both nodes."""
TESTS = ("sendrecv", "all_reduce")
"""Each pair: sendrecv (both directions at once) and a 2-node all_reduce, at one size."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorOptions:
    cfg: RunConfig
    """Backend, device, the one size, warm-up, iterations, timeout, run directory."""
    passes: int = 2
    """Times the whole schedule of rounds is measured: each pair's samples."""
    rounds: int | None = None
    """Rounds of pairs; None: all pairs up to schedule.ALL_PAIRS_UP_TO nodes, then sampled."""
    layout: str = "inter"
    threshold: float = THRESHOLD
    confirm: bool = True
    intra: bool | None = None
    """Also every pair of ranks (GPUs) inside each node; None: with GPUs and 2+ ranks per node."""

    def __post_init__(self):
        if self.passes < 1:
            raise UsageError(f"--passes {self.passes} must be at least 1 (2 or more give each pair an interval)")
        if self.rounds is not None and self.rounds < 1:
            raise UsageError(f"--rounds {self.rounds} must be at least 1: leave it out to measure every pair")
        if self.layout not in LAYOUTS:
            raise UsageError(f"--layout {self.layout!r}: choose inter (one rank per node) or full (every rank)")
        if not 0 < self.threshold < 1:
            raise UsageError(f"--threshold {self.threshold} is a share of the reference rate: use e.g. 0.15")
        if len(self.cfg.sizes) != 1:
            raise UsageError("the doctor measures one size: give --size once, e.g. --size 64M")

    @property
    def size_bytes(self) -> int:
        return self.cfg.sizes[0]


def doctor_argv(opts: DoctorOptions) -> list[str]:
    """`python -m benchmarks doctor ...` with this Python: what each rank runs."""
    cfg = opts.cfg
    argv = [sys.executable, "-m", "benchmarks", "doctor", "--backend", cfg.backend, "--device", cfg.device,
            "--size", str(opts.size_bytes), "--warmup", str(cfg.warmup),
            "--iters", "auto" if cfg.iters is None else str(cfg.iters), "--timeout", repr(cfg.timeout_s),
            "--out", str(cfg.out), "--passes", str(opts.passes), "--layout", opts.layout,
            "--threshold", repr(opts.threshold)]
    if opts.rounds is not None:
        argv += ["--rounds", str(opts.rounds)]
    if not opts.confirm:
        argv.append("--no-confirm")
    if opts.intra is not None:
        argv.append("--intra" if opts.intra else "--no-intra")
    return argv



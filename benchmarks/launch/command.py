"""The command line a rank is started with: `python -m benchmarks run` and the flags that
rebuild a RunConfig exactly (used by the dry run, the emulation, `--fabric all` and the
Slurm script)."""
from __future__ import annotations

import sys

from collectives.sizes import size_series

from ..sweep.config import PLACEMENTS, RunConfig


def rank_argv(cfg: RunConfig) -> list[str]:
    """`python -m benchmarks run ...` with this Python: what each rank runs."""
    return [sys.executable, "-m", "benchmarks", "run", *config_to_argv(cfg)]


def _size_text(size_bytes: int) -> str:
    """The shortest flag text for a size: 1048576 -> '1M', 1000 -> '1000'."""
    for suffix, unit in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size_bytes % unit == 0:
            return f"{size_bytes // unit}{suffix}"
    return str(size_bytes)


def _size_flags(sizes: tuple[int, ...]) -> list[str]:
    """-b/-e/-f when the sizes are a series with an integer factor, else --sizes."""
    if len(sizes) > 2 and sizes[1] % sizes[0] == 0:
        factor = sizes[1] // sizes[0]
        if tuple(size_series(sizes[0], sizes[-1], factor)) == sizes:
            return ["-b", _size_text(sizes[0]), "-e", _size_text(sizes[-1]), "-f", str(factor)]
    return ["--sizes", ",".join(map(_size_text, sizes))]


def config_to_argv(cfg: RunConfig) -> list[str]:
    """Flags that make `commscale run` rebuild exactly `cfg`."""
    placement = {v: k for k, v in PLACEMENTS.items()}[cfg.in_place]
    argv = [
        "--backend", cfg.backend, "--device", cfg.device, "--collectives", ",".join(cfg.collectives),
        "--dtype", ",".join(cfg.dtypes), "--op", ",".join(cfg.ops), "--in-place", placement,
        *_size_flags(cfg.sizes), "--warmup", str(cfg.warmup),
        "--iters", "auto" if cfg.iters is None else str(cfg.iters),
        "--iters-budget-s", repr(cfg.iters_budget_s), "--timeout", repr(cfg.timeout_s),
        "--out", str(cfg.out),
    ]
    if cfg.ranks:
        argv += ["--ranks", ",".join(map(str, cfg.ranks))]
    if cfg.nodes:
        argv += ["--nodes", ",".join(map(str, cfg.nodes))]
    if cfg.layouts != ("full",):
        argv += ["--layout", ",".join(cfg.layouts)]
    if cfg.fabric != "auto":
        argv += ["--fabric", cfg.fabric]
    if cfg.domain_size:
        argv += ["--domain-size", str(cfg.domain_size)]
    if cfg.domain_file:
        argv += ["--domain-file", cfg.domain_file]
    if cfg.timing != "call":
        argv += ["--timing", cfg.timing]
    if cfg.cuda_graph:
        argv.append("--cuda-graph")
    if cfg.resume:
        argv += ["--resume", str(cfg.out)]
    return argv

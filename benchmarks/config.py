"""Run configuration: a frozen dataclass, built and validated in one place.

`config_from_args` turns parsed flags into a `RunConfig` and raises UsageError (one line:
the problem and the fix) for every bad value. Checks that need the launch (more ranks than
exist, nodes than hosts) happen in the sweep once the world is known.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from collectives.backends import BACKENDS
from collectives.dtypes import get_dtype
from collectives.fabric import FABRICS
from collectives.records import TIMINGS
from collectives.registry import COLLECTIVES
from collectives.sizes import parse_size, size_series
from collectives.spec import REDUCE_OPS

from .errors import UsageError
from .groups import LAYOUTS

PLACEMENTS = {"out": (False,), "in": (True,), "both": (False, True)}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    backend: str
    """"gloo", "nccl" or "mpi" ("auto" is resolved before this object is made)."""
    collectives: tuple[str, ...]
    """Collectives to sweep, in order."""
    dtypes: tuple[str, ...]
    """Canonical dtype names."""
    ops: tuple[str, ...]
    """Reductions for collectives that reduce."""
    in_place: tuple[bool, ...]
    """Placements to measure: False out-of-place, True in-place."""
    sizes: tuple[int, ...]
    """Requested sizes in bytes (nccl-tests semantics; may be rounded down per point)."""
    ranks: tuple[int, ...] | None
    """Group sizes to measure within the launch; None: powers of two up to the world."""
    nodes: tuple[int, ...] | None
    """Node counts to measure (ranks grouped by host); exclusive with `ranks`."""
    warmup: int
    """Untimed calls before timing each point."""
    iters: int | None
    """Timed calls per point; None means auto (see `iters_budget_s`)."""
    iters_budget_s: float
    """With auto iterations: stop when the median's 95% interval is within +-1% or the
    timed calls have used this many seconds."""
    device: str
    """Where buffers live: "cpu" (gloo), "cuda" (nccl); for mpi "cpu", "cuda", or "auto"
    (device buffers when GPUs are visible and MPI is CUDA-aware, decided by the backend)."""
    cuda_graph: bool
    """Time CUDA-graph replays (nccl only)."""
    timeout_s: float
    """A collective that waits longer than this fails the run."""
    out: Path
    """Run directory for records.jsonl and meta.json."""
    timing: str = "call"
    """"call": each timed call alone; "batch": calls in batches between synchronisations."""
    layouts: tuple[str, ...] = ("full",)
    """How groups take ranks from nodes (benchmarks/groups.py): full, intra, inter."""
    fabric: str = "auto"
    """The path NCCL is pushed onto (collectives/fabric.py): auto (NCCL decides), nvlink,
    pcie or net; "all" runs one launch per fabric (benchmarks/fabrics.py)."""
    resume: bool = False
    """Finish the interrupted run in `out`: measure only the points it lacks (benchmarks/resume.py)."""


def _csv(text: str) -> list[str]:
    return [p.strip() for p in str(text).split(",") if p.strip()]


def _choices(text: str, allowed, what: str, empty: str, hint: str = "") -> tuple[str, ...]:
    """A comma list of names from `allowed`, lower-cased, each once in order; an unknown
    name or an empty list is a usage error."""
    names = tuple(dict.fromkeys(v.lower() for v in _csv(text)))
    for name in names:
        if name not in allowed:
            raise UsageError(f"unknown {what} {name!r}: choose from {', '.join(allowed)}{hint}")
    if not names:
        raise UsageError(empty)
    return names


def positive_ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in _csv(text))
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a list of integers: use e.g. {flag} 2,4,8") from None
    if not values or min(values) < 1:
        raise UsageError(f"{flag} {text!r} must list integers of at least 1: use e.g. {flag} 2,4,8")
    return tuple(sorted(set(values)))


def _sizes(args) -> tuple[int, ...]:
    try:
        if args.sizes:
            sizes = sorted({parse_size(s) for s in _csv(args.sizes)})
            if not sizes:
                raise UsageError("--sizes is empty: list sizes such as --sizes 8,64K,1M")
            return tuple(sizes)
        lo, hi = parse_size(args.min_bytes), parse_size(args.max_bytes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        factor = float(args.step_factor)
    except ValueError:
        raise UsageError(f"-f/--step-factor {args.step_factor!r} is not a number: use e.g. -f 2") from None
    if factor <= 1:
        raise UsageError(f"-f/--step-factor {args.step_factor} must be above 1 so sizes grow: use e.g. -f 2")
    if lo < 1:
        raise UsageError("-b/--min-bytes must be at least 1 byte: use e.g. -b 8")
    if lo > hi:
        raise UsageError(f"-b/--min-bytes {args.min_bytes} is above -e/--max-bytes {args.max_bytes}: swap them or raise -e")
    return tuple(size_series(lo, hi, factor))


def _importable(module: str) -> bool:
    """Whether `module` imports (mpi4py's package does not start MPI; mpi4py.MPI would)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def resolve_backend(name: str, cuda_available) -> str:
    """'auto' -> nccl with GPUs, gloo without; nccl without GPUs is a usage error."""
    name = name.strip().lower()
    if name == "auto":
        return "nccl" if cuda_available() else "gloo"
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}: choose from auto, {', '.join(BACKENDS)}")
    if name == "nccl" and not cuda_available():
        raise UsageError("--backend nccl needs CUDA GPUs and none is visible: use --backend gloo (or auto) on CPU")
    if name == "mpi" and not _importable("mpi4py"):
        raise UsageError("--backend mpi needs mpi4py and an MPI library: pip install 'mpi4py>=4' mpich "
                         "(or build mpi4py against the cluster's MPI; see docs/mpi.md)")
    return name


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(backend: str, device: str, cuda_available) -> str:
    """Where buffers live. gloo: host memory; nccl: GPUs; mpi: either (auto decided later)."""
    device = device.strip().lower()
    if device not in DEVICES:
        raise UsageError(f"--device {device!r}: choose from {', '.join(DEVICES)}")
    fixed = {"gloo": "cpu", "nccl": "cuda"}.get(backend)
    if fixed:
        if device not in ("auto", fixed):
            raise UsageError(f"--device {device} does not go with --backend {backend} (always {fixed}): "
                             f"drop --device, or use --backend mpi")
        return fixed
    if device == "cuda" and not cuda_available():
        raise UsageError("--device cuda needs CUDA GPUs and none is visible: use --device cpu")
    return device


def default_out(verb: str) -> str:
    """commscale-runs/<verb>-<local time>: where a verb writes without --out."""
    import datetime as dt
    return os.path.join("commscale-runs", f"{verb}-{dt.datetime.now():%Y%m%d-%H%M%S}")


def make_out_dir(out) -> Path:
    """Create an output directory (fit, crossover, report, compare, compute); a failure is
    a usage error naming the directory."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r} ({exc.strerror}): choose another --out") from None
    return out


def check_out_dir(out: Path, resume: bool = False) -> Path:
    """Create the run directory if needed and prove it is writable and holds no run yet
    (or, resuming, that it is writable and holds the run)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".commscale-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write output directory {str(out)!r} ({exc.strerror}): choose another --out") from None
    if resume:
        if not (out / "meta.json").exists():
            raise UsageError(f"--resume {str(out)!r}: no meta.json there, so no run to resume: "
                             f"give the directory of an interrupted run")
    elif (out / "records.jsonl").exists():
        raise UsageError(f"{str(out)!r} already holds a run (records.jsonl): choose a new --out directory (or leave "
                         f"--out out: a new commscale-runs/<verb>-<time> each time), or finish it with --resume {out}")
    return out


FABRIC_CHOICES = ("auto", *FABRICS, "all")


def check_fabric(text: str, backend: str) -> str:
    """--fabric: a preset NCCL reads (collectives/fabric.py); other libraries pick their own path."""
    fabric = str(text).strip().lower()
    if fabric not in FABRIC_CHOICES:
        raise UsageError(f"unknown --fabric {text!r}: choose from {', '.join(FABRIC_CHOICES)}")
    if fabric != "auto" and backend != "nccl":
        raise UsageError(f"--fabric {fabric} sets NCCL's transports and needs --backend nccl (GPUs); {backend} "
                         f"chooses its own path: drop --fabric")
    return fabric


def config_from_args(args, cuda_available) -> RunConfig:
    """Validate parsed flags; raise UsageError naming the first bad one."""
    backend = resolve_backend(args.backend, cuda_available)
    device = resolve_device(backend, args.device, cuda_available)
    names = list(COLLECTIVES) if args.collectives.strip() == "all" else _csv(args.collectives)
    for name in names:
        if name not in COLLECTIVES:
            raise UsageError(f"unknown collective {name!r}: choose from all, {', '.join(COLLECTIVES)}")
    if not names:
        raise UsageError("--collectives is empty: name at least one, or all")
    try:
        dtypes = tuple(dict.fromkeys(get_dtype(d).name for d in _csv(args.dtype)))
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    if not dtypes:
        raise UsageError("-d/--dtype is empty: name at least one, e.g. -d float32")
    ops = _choices(args.op, REDUCE_OPS, "reduction", "-o/--op is empty: name at least one, e.g. -o sum")
    if args.in_place not in PLACEMENTS:
        raise UsageError(f"--in-place {args.in_place!r}: choose from {', '.join(PLACEMENTS)}")
    if args.ranks and args.nodes:
        raise UsageError("--ranks and --nodes both given: choose one way to group ranks")
    ranks = positive_ints(args.ranks, "--ranks") if args.ranks else None
    nodes = positive_ints(args.nodes, "--nodes") if args.nodes else None
    layouts = _choices(args.layout, LAYOUTS, "--layout", "--layout is empty: use full, intra, inter or a comma list",
                       " (or a comma list)")
    fabric = check_fabric(args.fabric, backend)
    if args.warmup < 0:
        raise UsageError(f"-w/--warmup {args.warmup} is negative: use 0 or more")
    if str(args.iters).lower() == "auto":
        iters = None
    else:
        try:
            iters = int(args.iters)
        except ValueError:
            raise UsageError(f"-n/--iters {args.iters!r} is neither a number nor 'auto': use e.g. -n 20 or -n auto") from None
        if iters < 1:
            raise UsageError(f"-n/--iters {iters} must be at least 1: use e.g. -n 20 or -n auto")
    if args.iters_budget_s <= 0:
        raise UsageError("--iters-budget-s must be positive: use e.g. --iters-budget-s 1")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive seconds: use e.g. --timeout 300")
    timing = str(getattr(args, "timing", "call")).lower()
    if timing not in TIMINGS:
        raise UsageError(f"--timing {timing!r} is unknown: use call or batch")
    if args.cuda_graph and backend != "nccl":
        raise UsageError(f"--cuda-graph needs GPUs (backend nccl), not {backend}: drop --cuda-graph on CPU")
    return RunConfig(
        backend=backend, collectives=tuple(dict.fromkeys(names)), dtypes=dtypes, ops=ops,
        in_place=PLACEMENTS[args.in_place], sizes=_sizes(args), ranks=ranks, nodes=nodes,
        warmup=args.warmup, iters=iters, iters_budget_s=args.iters_budget_s,
        device=device, cuda_graph=args.cuda_graph, timeout_s=args.timeout, out=Path(os.path.abspath(args.out)),
        layouts=layouts, fabric=fabric, timing=timing,
    )


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
    """Flags that make `commscale run` rebuild exactly `cfg` (used by dryrun and Slurm)."""
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
    if cfg.timing != "call":
        argv += ["--timing", cfg.timing]
    if cfg.cuda_graph:
        argv.append("--cuda-graph")
    if cfg.resume:
        argv += ["--resume", str(cfg.out)]
    return argv

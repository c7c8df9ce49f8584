"""Run configuration: the flags as given (`RunFlags`) and the validated sweep
(`RunConfig`), both frozen dataclasses, built and checked in one place.

`config_from_flags` turns the flags into a `RunConfig` and raises UsageError (one line:
the problem and the fix) for every bad value. It reads nothing itself: what the machine
offers (GPUs, mpi4py) comes in a `Machine` (benchmarks/host/machine.py), and the run
directory is checked where it is written (sweep/rundir.py). Checks that need the launch
(more ranks than exist, nodes than hosts) happen in the sweep once the world is known.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from collectives.backends import BACKENDS
from collectives.dtypes import get_dtype
from collectives.fabric import FABRICS
from collectives.records import TIMINGS
from collectives.registry import COLLECTIVES
from collectives.sizes import parse_size, size_series
from collectives.spec import REDUCE_OPS

from ..errors import UsageError
from ..host.machine import Machine
from .plan import LAYOUTS

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
    """How groups take ranks from nodes (sweep/plan.py): full, intra, inter, intra-domain,
    inter-domain."""
    domain_size: int | None = None
    """Nodes per domain (NVLink domain, rack), hosts in launch order; None: detect."""
    domain_file: str | None = None
    """A file of `host domain` lines (absolute path); None: detect."""
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


def _sizes(flags: RunFlags) -> tuple[int, ...]:
    try:
        if flags.sizes:
            sizes = sorted({parse_size(s) for s in _csv(flags.sizes)})
            if not sizes:
                raise UsageError("--sizes is empty: list sizes such as --sizes 8,64K,1M")
            return tuple(sizes)
        lo, hi = parse_size(flags.min_bytes), parse_size(flags.max_bytes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        factor = float(flags.step_factor)
    except ValueError:
        raise UsageError(f"-f/--step-factor {flags.step_factor!r} is not a number: use e.g. -f 2") from None
    if factor <= 1:
        raise UsageError(f"-f/--step-factor {flags.step_factor} must be above 1 so sizes grow: use e.g. -f 2")
    if lo < 1:
        raise UsageError("-b/--min-bytes must be at least 1 byte: use e.g. -b 8")
    if lo > hi:
        raise UsageError(f"-b/--min-bytes {flags.min_bytes} is above -e/--max-bytes {flags.max_bytes}: swap them or raise -e")
    return tuple(size_series(lo, hi, factor))


def resolve_backend(name: str, machine: Machine) -> str:
    """'auto' -> nccl with GPUs, gloo without; nccl without GPUs is a usage error."""
    name = name.strip().lower()
    if name == "auto":
        return "nccl" if machine.cuda else "gloo"
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}: choose from auto, {', '.join(BACKENDS)}")
    if name == "nccl" and not machine.cuda:
        raise UsageError("--backend nccl needs CUDA GPUs and none is visible: use --backend gloo (or auto) on CPU")
    if name == "mpi" and not machine.mpi4py:
        raise UsageError("--backend mpi needs mpi4py and an MPI library: pip install 'mpi4py>=4' mpich "
                         "(or build mpi4py against the cluster's MPI; see docs/mpi.md)")
    return name


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(backend: str, device: str, machine: Machine) -> str:
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
    if device == "cuda" and not machine.cuda:
        raise UsageError("--device cuda needs CUDA GPUs and none is visible: use --device cpu")
    return device


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFlags:
    """The sweep's flags as the command line gave them (text where the flag is text), before
    validation: what `run`, `dryrun`, `emulate` and `slurm` share (cli/options.py)."""
    backend: str
    device: str
    collectives: str
    dtype: str
    op: str
    in_place: str
    min_bytes: str
    max_bytes: str
    step_factor: str
    sizes: str | None
    ranks: str | None
    nodes: str | None
    layout: str
    fabric: str
    warmup: int
    iters: str
    iters_budget_s: float
    timing: str
    cuda_graph: bool
    timeout: float
    out: str | None
    domain_size: str | None = None
    domain_file: str | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _collectives(text: str) -> tuple[str, ...]:
    names = list(COLLECTIVES) if text.strip() == "all" else _csv(text)
    for name in names:
        if name not in COLLECTIVES:
            raise UsageError(f"unknown collective {name!r}: choose from all, {', '.join(COLLECTIVES)}")
    if not names:
        raise UsageError("--collectives is empty: name at least one, or all")
    return tuple(dict.fromkeys(names))


def _dtypes(text: str) -> tuple[str, ...]:
    try:
        dtypes = tuple(dict.fromkeys(get_dtype(d).name for d in _csv(text)))
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    if not dtypes:
        raise UsageError("-d/--dtype is empty: name at least one, e.g. -d float32")
    return dtypes


def _groups(flags: RunFlags) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None, tuple[str, ...]]:
    """(group sizes, node counts, layouts)."""
    if flags.ranks and flags.nodes:
        raise UsageError("--ranks and --nodes both given: choose one way to group ranks")
    ranks = positive_ints(flags.ranks, "--ranks") if flags.ranks else None
    nodes = positive_ints(flags.nodes, "--nodes") if flags.nodes else None
    layouts = _choices(flags.layout, LAYOUTS, "--layout", "--layout is empty: use full, intra, inter, intra-domain, "
                       "inter-domain or a comma list", " (or a comma list)")
    return ranks, nodes, layouts


def _domains(flags: RunFlags) -> tuple[int | None, str | None]:
    """(--domain-size, --domain-file as an absolute path): at most one of them."""
    if flags.domain_size and flags.domain_file:
        raise UsageError("--domain-size and --domain-file both given: choose one way to tell the domains")
    size = None
    if flags.domain_size:
        try:
            size = int(flags.domain_size)
        except ValueError:
            raise UsageError(f"--domain-size {flags.domain_size!r} is not a whole number: give the nodes per NVLink "
                             f"domain or rack, e.g. --domain-size 18") from None
        if size < 1:
            raise UsageError(f"--domain-size {size}: a domain holds at least one node: use --domain-size 1 or more")
    if flags.domain_file and not os.path.isfile(flags.domain_file):
        raise UsageError(f"--domain-file {flags.domain_file}: no such file: give a file of 'host domain' lines")
    return size, os.path.abspath(flags.domain_file) if flags.domain_file else None


def _iters(text) -> int | None:
    """-n: a count of at least 1, or None for 'auto'."""
    if str(text).lower() == "auto":
        return None
    try:
        iters = int(text)
    except ValueError:
        raise UsageError(f"-n/--iters {text!r} is neither a number nor 'auto': use e.g. -n 20 or -n auto") from None
    if iters < 1:
        raise UsageError(f"-n/--iters {iters} must be at least 1: use e.g. -n 20 or -n auto")
    return iters


def _check_timing(flags: RunFlags, backend: str) -> str:
    """-w, --iters-budget-s, --timeout, --cuda-graph; returns --timing's mode."""
    if flags.warmup < 0:
        raise UsageError(f"-w/--warmup {flags.warmup} is negative: use 0 or more")
    if flags.iters_budget_s <= 0:
        raise UsageError("--iters-budget-s must be positive: use e.g. --iters-budget-s 1")
    if flags.timeout <= 0:
        raise UsageError("--timeout must be positive seconds: use e.g. --timeout 300")
    timing = str(flags.timing).lower()
    if timing not in TIMINGS:
        raise UsageError(f"--timing {timing!r} is unknown: use call or batch")
    if flags.cuda_graph and backend != "nccl":
        raise UsageError(f"--cuda-graph needs GPUs (backend nccl), not {backend}: drop --cuda-graph on CPU")
    return timing


def config_from_flags(flags: RunFlags, machine: Machine) -> RunConfig:
    """Validate the flags; raise UsageError naming the first bad one. `flags.out` must be
    set (the command line chooses a default directory first)."""
    backend = resolve_backend(flags.backend, machine)
    device = resolve_device(backend, flags.device, machine)
    collectives, dtypes = _collectives(flags.collectives), _dtypes(flags.dtype)
    ops = _choices(flags.op, REDUCE_OPS, "reduction", "-o/--op is empty: name at least one, e.g. -o sum")
    if flags.in_place not in PLACEMENTS:
        raise UsageError(f"--in-place {flags.in_place!r}: choose from {', '.join(PLACEMENTS)}")
    ranks, nodes, layouts = _groups(flags)
    fabric = check_fabric(flags.fabric, backend)
    iters = _iters(flags.iters)
    timing = _check_timing(flags, backend)
    domain_size, domain_file = _domains(flags)
    return RunConfig(
        backend=backend, collectives=collectives, dtypes=dtypes, ops=ops,
        in_place=PLACEMENTS[flags.in_place], sizes=_sizes(flags), ranks=ranks, nodes=nodes,
        warmup=flags.warmup, iters=iters, iters_budget_s=flags.iters_budget_s,
        device=device, cuda_graph=flags.cuda_graph, timeout_s=flags.timeout, out=Path(os.path.abspath(flags.out)),
        layouts=layouts, fabric=fabric, timing=timing, domain_size=domain_size, domain_file=domain_file,
    )

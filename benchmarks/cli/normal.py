"""`commscale normal RUN [RUN ...]`: is my number normal? Each key of each run (a collective
at a rank count) placed among comparable published runs from the reference set shipped
with commscale (reports/reference/, built by `python -m benchmarks.reference_set`): its
percentile, the median and range of the others, each named with its source; one line when
too few or none are comparable. docs/normal.md."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analysis.records import load_records
from ..errors import EXIT_OK, UsageError


def add_parser(sub):
    from reports.reference.entries import NETWORK_CLASSES
    p = sub.add_parser("normal", help="is my number normal? place a run's busbw among comparable published runs",
                       description="For each collective and rank count of each RUN (measured or imported), the "
                                   "published runs comparable to it (same collective, GPU generation, GPUs per "
                                   "node, node count, network; what was relaxed is said) and where its busbw at the "
                                   "largest common size sits among them. docs/normal.md")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (commscale run, dryrun or import)")
    p.add_argument("--network", choices=[c for c in NETWORK_CLASSES if c not in ("none", "unknown")],
                   help="the runs' network between nodes, when the records do not say it [from NCCL's transport]")
    p.add_argument("--device", metavar="NAME",
                   help="the runs' GPU model (e.g. H100, MI300X), when the records do not say it "
                        "[from the log or NVML]")
    p.add_argument("--collective", help="only this collective")
    p.add_argument("--reference", metavar="FILE", help="another reference set (a published.json) [the shipped one]")
    return p


@dataclass(frozen=True, slots=True, kw_only=True)
class NormalOptions:
    runs: tuple[str, ...]
    network: str | None
    device: str | None
    collective: str | None
    reference: str | None


def options(args) -> NormalOptions:
    if args.reference and not Path(args.reference).is_file():
        raise UsageError(f"--reference {args.reference!r} is not a file: give a published.json written by "
                         f"python -m benchmarks.reference_set, or leave it out")
    return NormalOptions(runs=tuple(args.runs), network=args.network, device=args.device,
                         collective=args.collective, reference=args.reference)


def _meta(run: str) -> dict:
    """The run's meta.json (collectives.records.load_meta), {} where it has none."""
    from collectives.records import META_FILE, load_meta
    try:
        return load_meta(Path(run))
    except FileNotFoundError:
        return {}
    except ValueError as exc:  # not JSON, or not an object
        raise UsageError(f"{Path(run) / META_FILE}: {exc}: repair or remove it") from None


def run(args) -> int:
    from reports.present.normal_text import lines
    from reports.reference.entries import DATA, load
    from reports.reference.facts import run_keys
    from reports.reference.match import place
    opts = options(args)
    ref = load(opts.reference or DATA)
    n = ref.notes
    print(f"# reference set: {len(ref.entries)} published runs from {n.get('logs', '?')} logs of "
          f"{n.get('publishers', '?')} publishers (docs/normal.md); busbw in GB/s from the mean time, as nccl-tests")
    for run_dir in opts.runs:
        meta = _meta(run_dir)
        keys = run_keys(load_records([run_dir]), meta, opts.network, opts.device)
        if opts.collective:
            keys = [k for k in keys if k.collective == opts.collective]
        if not keys:
            raise UsageError(f"{run_dir!r} has no ok record{' of ' + opts.collective if opts.collective else ''} "
                             f"with a known rank count: give a run with measured points")
        dev = keys[0].device
        print(f"# {run_dir}: {dev.label}")
        for key in keys:
            print("\n".join(lines(place(key, ref.entries))))
    return EXIT_OK

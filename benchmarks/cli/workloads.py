"""`commscale workloads [NAME]`: every workload preset, one name set for `crossover` and
`plan` (reports/planning/catalog.py): its name, the verb that prices it, its kind and the
collective, and its fields; NAME prints one preset's fields in full (a file to start from)."""
from __future__ import annotations

import json

from ..errors import EXIT_OK, UsageError


def add_parser(sub):
    p = sub.add_parser("workloads", help="list the workload presets of crossover and plan, with their fields",
                       description="Every preset 'crossover --workload' and 'plan --workload' take: the verb that "
                                   "prices it, its kind and its fields. With NAME, that preset's fields as JSON, "
                                   "a file to edit and pass as --workload FILE.")
    p.add_argument("name", nargs="?", metavar="NAME", help="one preset, printed in full")
    return p


def _fields_text(fields: dict, width: int = 88) -> str:
    text = ", ".join(f"{k}={_value(v)}" for k, v in fields.items())
    return text if len(text) <= width else text[:width - 3] + "..."


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def run(args) -> int:
    from reports.planning.catalog import names, preset, presets
    if args.name:
        found = preset(args.name)
        if found is None:
            raise UsageError(f"no preset {args.name!r}: choose from {', '.join(names())}")
        print(json.dumps({"kind": found.kind, **found.fields}, indent=2))
        print(f"# {found.name}: priced by 'commscale {found.verb} RUN --workload {found.name}'; save the JSON above "
              f"as a file and pass --workload FILE to change it")
        return EXIT_OK
    rows = presets()
    w = max(len(p.name) for p in rows)
    for verb, what in (("crossover", "one collective per step (crossover)"),
                       ("plan", "a training step, tp/pp/dp/ep (plan)")):
        print(f"# {what}")
        print(f"  {'name':<{w}}  {'kind':<16}  {'collective':<12}  fields")
        for p in (r for r in rows if r.verb == verb):
            coll = p.collective if verb == "crossover" else "per kind"
            print(f"  {p.name:<{w}}  {p.kind:<16}  {coll:<12}  {_fields_text(p.fields)}")
    print("# 'commscale workloads NAME' prints one preset in full; docs/plan.md and docs/model.md say what each "
          "field means")
    return EXIT_OK

"""Render sbatch scripts from templates/: a pure function of a `JobPlan`, no I/O but
reading the templates, so golden files pin the output.

Quoting: every value in the script body is quoted with `shlex.quote`. `#SBATCH` lines
are read by sbatch, not the shell: values go in double quotes there (sbatch keeps `;`,
`$(...)`, spaces and `#` inside them literally), and the characters sbatch cannot carry
inside double quotes (`"`, `\\`, control characters) are refused by `check_directive`.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

TEMPLATES = Path(__file__).with_name("templates")

#: launcher -> (template, tasks per node is one per rank); a new launcher is one entry here
#: and one launch_<name>.sh.
LAUNCHERS = {
    "tasks": ("launch_tasks.sh", True),
    "torchrun": ("launch_torchrun.sh", False),
    "srun-mpi": ("launch_srun_mpi.sh", True),
    "mpiexec": ("launch_mpiexec.sh", True),
}
MPI_PLUGINS = ("pmi2", "pmix")
_BAD_DIRECTIVE_RE = re.compile(r'["\\\x00-\x1f\x7f]')
_PLAIN_RE = re.compile(r"[\w.:@,+/=-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class JobPlan:
    launcher: str
    """A key of LAUNCHERS."""
    nodes: tuple[int, ...]
    """Node counts to measure, ascending."""
    job_per_count: bool = False
    """One job per node count (and a dependent report job) instead of one job on the
    largest count that measures the smaller ones through subgroups."""
    ranks_per_node: int
    gpus_per_node: int
    partition: str | None = None
    time: str | None = None
    account: str | None = None
    constraint: str | None = None
    exclusive: bool = False
    signal_s: int = 120
    """Seconds before the time limit when Slurm sends SIGUSR1 to the ranks; 0: none."""
    job_name: str = "commscale"
    out: str
    """Absolute output directory (runs, Slurm logs, report)."""
    python: str
    """Absolute path of the Python that has commscale installed on the compute nodes."""
    run_args: tuple[str, ...] = ()
    """`commscale run` flags, without --nodes and --out (validated by the caller)."""
    mpi: str = "pmi2"
    mpiexec: str = "mpiexec"
    port: int = 29500
    """torchrun's rendezvous port on the first node."""


def check_directive(flag: str, value: str) -> str:
    """A value sbatch can read back exactly from a double-quoted #SBATCH line."""
    if not value or _BAD_DIRECTIVE_RE.search(value):
        raise ValueError(f"{flag} {value!r} cannot go into an #SBATCH line (empty, or a quote, backslash or "
                         f"control character): choose a value without them")
    return value


def _directive_value(flag: str, value: str) -> str:
    check_directive(flag, value)
    return value if _PLAIN_RE.fullmatch(value) else f'"{value}"'


def _run_args_lines(argv) -> str:
    """One flag (and its value) per line, each word shell-quoted."""
    lines, current = [], []
    for word in argv:
        if word.startswith("-") and current:
            lines.append(current)
            current = []
        current.append(shlex.quote(word))
    if current:
        lines.append(current)
    return "\n".join("    " + " ".join(words) for words in lines)


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text()


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    leftover = re.search(r"\{\{\w+\}\}", text)
    if leftover:
        raise KeyError(f"template placeholder {leftover.group(0)} has no value")
    return text


def _directives(plan: JobPlan, job_name: str, nodes: int, tasks_per_node: int, sweep: bool) -> str:
    """#SBATCH lines; a sweep job (not the report job) also gets the GPUs and the signal."""
    pairs = [("--job-name", job_name), ("--nodes", str(nodes)), ("--ntasks-per-node", str(tasks_per_node))]
    if sweep and plan.gpus_per_node:
        pairs.append(("--gpus-per-node", str(plan.gpus_per_node)))
    for flag in ("partition", "time", "account", "constraint"):
        value = getattr(plan, flag)
        if value is not None:
            pairs.append((f"--{flag}", value))
    lines = [f"#SBATCH {flag}={_directive_value(flag, value)}" for flag, value in pairs]
    if plan.exclusive:
        lines.append("#SBATCH --exclusive")
    if sweep and plan.signal_s:
        lines.append(f"#SBATCH --signal=USR1@{plan.signal_s}")
    lines.append(f"#SBATCH --output={_directive_value('--out', f'{plan.out}/slurm-%j.out')}")
    return "\n".join(lines)


def _commscale(plan: JobPlan) -> str:
    return f"{shlex.quote(plan.python)} -m benchmarks"


def _sweep_script(plan: JobPlan, nodes: int, run_name: str, nodes_expr: str, after: str, title: str,
                  job_name: str) -> str:
    template, per_rank = LAUNCHERS[plan.launcher]
    launch = _fill(_template(template), {
        "python": shlex.quote(plan.python),
        "ranks_per_node": str(plan.ranks_per_node),
        "port": str(plan.port),
        "mpi": plan.mpi,
        "mpiexec": shlex.quote(plan.mpiexec),
    }).rstrip("\n")
    return _fill(_template("job.sbatch"), {
        "title": title,
        "directives": _directives(plan, job_name, nodes, plan.ranks_per_node if per_rank else 1, sweep=True),
        "out": shlex.quote(plan.out),
        "run_name": run_name,
        "commscale": _commscale(plan),
        "nodes": nodes_expr,
        "run_args": _run_args_lines(plan.run_args),
        "launch": launch,
        "after": _template(after).rstrip("\n"),
    })


def render(plan: JobPlan) -> dict[str, str]:
    """File name -> script text. One job: {'commscale.sbatch'}. One job per count:
    {'commscale-n<K>.sbatch' for each K, 'report.sbatch'} (submit the report job with
    --dependency=afterany on the others)."""
    if plan.launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {plan.launcher!r}: choose from {', '.join(LAUNCHERS)}")
    if plan.mpi not in MPI_PLUGINS:
        raise ValueError(f"unknown PMI plugin {plan.mpi!r}: choose from {', '.join(MPI_PLUGINS)}")
    nodes = sorted(set(plan.nodes))
    launch_text = f"{plan.launcher} launch, {plan.ranks_per_node} rank(s) per node"
    if not plan.job_per_count:
        smaller = ",".join(str(k) for k in nodes[:-1])
        nodes_expr = f'"{smaller},$SLURM_JOB_NUM_NODES"' if smaller else '"$SLURM_JOB_NUM_NODES"'
        title = f"commscale sweep over {','.join(map(str, nodes))} node(s) in one allocation ({launch_text})"
        return {"commscale.sbatch": _sweep_script(plan, nodes[-1], "run", nodes_expr, "after_fit_report.sh",
                                                  title, plan.job_name)}
    files = {}
    for k in nodes:
        title = f"commscale sweep on {k} node(s), one of {len(nodes)} jobs ({launch_text})"
        files[f"commscale-n{k}.sbatch"] = _sweep_script(plan, k, "n$SLURM_JOB_NUM_NODES", '"$SLURM_JOB_NUM_NODES"',
                                                        "after_dependent_report.sh", title, f"{plan.job_name}-n{k}")
    files["report.sbatch"] = _fill(_template("report.sbatch"), {
        "title": f"commscale fit and report of the sweeps on {','.join(map(str, nodes))} node(s)",
        "directives": _directives(plan, f"{plan.job_name}-report", 1, 1, sweep=False),
        "out": shlex.quote(plan.out),
        "commscale": _commscale(plan),
    })
    return files

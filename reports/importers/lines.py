"""Log text as clean lines: what the tool printed, without what carried it.

Real logs arrive wrapped: Open MPI's `--tag-output` (`[1,0]<stdout>:`), `srun -l`
(`0: `), MPICH/Intel MPI `-prepend-rank` (`[0] `), Ray/SkyPilot (`(head, rank=0, pid=1) `),
`kubectl logs --timestamps` (ISO times) and `--prefix` (`[pod/x/y] `), docker compose
(`name  | `), markdown quotes (`> `) and indentation, CRLF. `clean` strips them (several
may stack) and drops markdown fences; what is left is each line as the tool wrote it.
"""
from __future__ import annotations

import re

PREFIXES = tuple(re.compile(p) for p in (
    r"^\s+",                                                      # indentation
    r"^\((?=[^)]*(?:pid|rank|ip)=)[^)]*\)\s*",                    # Ray / SkyPilot
    r"^\[\d+,\d+\]<std(?:out|err)>:\s?",                          # Open MPI --tag-output
    r"^\[\d+\]\s",                                                # MPICH / Intel MPI -prepend-rank, -l
    r"^\d+:\s",                                                   # srun -l / --label
    r"^\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?\s",  # kubectl --timestamps
    r"^\[pod/[^\]]+\]\s",                                         # kubectl logs --prefix
    r"^[\w.-]+\s+\|\s",                                           # docker compose
    r"^>\s?",                                                     # markdown quote
    r"^\[[A-Z][A-Z_]*\](?::\s*|\s+)",                              # a fork's tag ([STAT]: rows)
))
FENCE = re.compile(r"^\s*(```|~~~)")
TAG_ANYWHERE = re.compile(r"\[\d+,\d+\]<std(?:out|err)>:")
"""Open MPI's tag again inside a line, where a rank's output was flushed in pieces"""
HEADER_AFTER_JUNK = re.compile(r"#\s*(?:Rank\s+\d|nThread\s|Collective test|size\s+count|bytes\s+N\s|\(B\)|Using devices|"
                               r"nccl-tests version|OSU |Size\s|Datatype:|Out of bounds|Avg bus)")
"""A tool's header line behind a prefix no rule knows (a debug build's `run(), common.cu:967, `)"""


def strip_prefixes(line: str) -> str:
    line = line.replace("\ufeff", "").rstrip("\r\n")
    for _ in range(6):  # prefixes stack: indentation, then a launcher's tag, then ...
        before = line
        for pattern in PREFIXES:
            line = pattern.sub("", line, count=1)
        if line == before:
            break
    line = TAG_ANYWHERE.sub(" ", line)
    if not line.startswith("#"):
        m = HEADER_AFTER_JUNK.search(line)
        if m:
            line = line[m.start():]
    return line.rstrip()


def clean(text: str) -> list[tuple[int, str]]:
    """(line number in the file, cleaned text) for every line that is not a fence."""
    return [(n, strip_prefixes(raw)) for n, raw in enumerate(text.splitlines(), 1) if not FENCE.match(raw)]


def commands(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(line number, command) for the shell command lines in the log (a `$ ` prompt or a
    launcher), continuations joined."""
    out, pending, start, sbatch = [], "", 0, []
    for line_no, line in lines:
        m = re.match(r"#SBATCH\s+(.*?)\s*(?:#.*)?$", line)
        if m:  # a job script's directives, shown with the log: srun inherits them
            sbatch.append((line_no, m.group(1)))
            continue
        text = re.sub(r"^(?:\[[^\]]*\]\s*)?[\w@.:~/-]*\$\s+", "", line) if "$ " in line[:80] else line
        if pending:
            text = pending + " " + text
        elif line.startswith('{"resources"'):  # a Flux jobspec
            out.append((line_no, line))
            continue
        elif not (line.lstrip().startswith("$ ") or re.search(r"\$\s+\S", line[:80]) or LAUNCHER.search(text)
                  or BINARY.match(text)):
            continue
        else:
            start = line_no
        if text.endswith("\\"):
            pending = text[:-1].rstrip()
            continue
        pending = ""
        out.append((start, " ".join(text.split())))
    if sbatch:
        out.append((sbatch[0][0], "#SBATCH " + " ".join(arg for _, arg in sbatch)))
    return sorted(out)


BINARY = re.compile(r"^\S*/?(?:\w+_perf(?:_mpi)?|osu_\w+)\s")
"""A benchmark binary at the start of a line: a command shown without a prompt"""
LAUNCHER = re.compile(r"(?:^|[\s/])(?:mpirun|mpiexec|mpiexec\.hydra|orterun|prterun|srun|mpirun_rsh|aprun|jsrun|flux)\s")


def commands_for(cmds: list[tuple[int, str]], first_line: int, only_run: bool) -> list[str]:
    """The commands that may have started a run beginning at `first_line`: the ones before
    it, nearest first; for the only run in a file, then any."""
    before = [c for n, c in reversed(cmds) if n < first_line]
    return before + ([c for n, c in cmds if n >= first_line] if only_run else [])

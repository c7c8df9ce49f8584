"""Facts a log states about one run, and how sure it is of each.

A fact is firm when the tool printed it (a Rank line, NCCL's `nranks`, the count column,
the busbw/algbw ratio) and soft when only a launcher's command line asked for it (`mpirun
-np 16`: the request, not necessarily what ran). `settle` turns the evidence and the
user's flag into one value, an error naming both sides of a contradiction, or None with
a reason (the fact is recorded as unknown and the user told which flag settles it).
"""
from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass, field

from .kinds import BINARIES, WORDS, Kind


class ImportFailure(ValueError):
    """The file cannot be imported; the message names file, line and the fix."""


@dataclass
class Facts:
    firm: list = field(default_factory=list)
    """(value, where the log says it)"""
    soft: list = field(default_factory=list)
    at_least: int = 0
    at_least_why: str = ""
    unknown_why: str = ""


def settle(name: str, flag_name: str, facts: Facts, flag, path) -> tuple[int | None, str, str | None]:
    """(value or None, where it came from, why it is unknown). Raises ImportFailure on a
    contradiction: between two things the log says, or between the log and the flag."""
    firm = {}
    for value, why in facts.firm:
        firm[value] = f"{firm[value]}, {why}" if value in firm else why
    if len(firm) > 1:
        said = "; ".join(f"{why} says {v}" for v, why in firm.items())
        if flag in firm:  # the user settles it
            return flag, f"{flag_name} (where the log contradicts itself: {said})", None
        raise ImportFailure(f"{path}: the log contradicts itself about {name}: {said}: check the file "
                            f"(two runs pasted together? a Rank line edited by hand?) and pass {flag_name} "
                            f"with the right one")
    if flag is not None:
        if firm and flag not in firm:
            (value, why), = firm.items()
            raise ImportFailure(f"{path}: {flag_name} {flag} contradicts the log: {why} says {value}: "
                                f"drop {flag_name} or check the file")
        if flag < facts.at_least:
            raise ImportFailure(f"{path}: {flag_name} {flag} contradicts the log: {facts.at_least_why} "
                                f"(at least {facts.at_least}): drop {flag_name} or check the file")
        return flag, f"{flag_name}", None
    if firm:
        (value, why), = firm.items()
        return value, why, None
    soft = [(v, why) for v, why in facts.soft if v >= facts.at_least]
    if soft:
        return soft[0][0], soft[0][1], None
    return None, "", facts.unknown_why or "the log does not say"


def unknown_warning(ranks_why, nodes_why, because=None, and_so=None) -> str | None:
    """The one warning for the counts left unknown (null): what, why, and the flags that
    settle them; None when both are known. `because` replaces the reasons; `and_so` names
    what an unknown rank count leaves unknown too."""
    unknown = [(what, why, flag) for what, why, flag in (("ranks", ranks_why, "--nranks N"),
                                                         ("nodes", nodes_why, "--nnodes N")) if why]
    if not unknown:
        return None
    tail = f", and so {and_so}" if and_so and ranks_why else ""
    return (f"{' and '.join(w for w, _, _ in unknown)} unknown ({because or '; '.join(y for _, y, _ in unknown)}): "
            f"recorded as null{tail}; pass {' '.join(f for _, _, f in unknown)}")


# --- the busbw/algbw ratio -----------------------------------------------------------

def half_unit(token: str) -> float:
    """Half the last printed digit: what rounding may have hidden."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals) * (10.0 ** int(exponent) if exponent else 1.0)


def ratio_bounds(pairs) -> tuple[float, float] | None:
    """The interval busbw/algbw lies in, given every (algbw token, busbw token) printed."""
    lo, hi, used = 0.0, math.inf, 0
    for alg, bus in pairs:
        try:
            a, b = float(alg), float(bus)
        except ValueError:
            continue
        ha, hb = half_unit(alg), half_unit(bus)
        if a - ha <= 0 or b <= 0 or a < 20 * ha:  # too few digits to say anything
            continue
        lo, hi, used = max(lo, (b - hb) / (a + ha)), min(hi, (b + hb) / (a - ha)), used + 1
    return (lo, hi) if used else None


def ranks_from_ratio(kind: Kind, bounds) -> tuple[bool, int, float]:
    """(consistent, lowest p, highest p) for this collective's factor. (True, 1, inf) when
    the ratio cannot tell."""
    if bounds is None:
        return True, 1, math.inf
    lo, hi = bounds[0] * (1 - 1e-9), bounds[1] * (1 + 1e-9)
    if kind.factor_name == "1":
        return lo <= 1.0 <= hi, 1, math.inf
    top = 2.0 if kind.factor_name == "2(p-1)/p" else 1.0  # factor -> top as p -> inf
    if hi < kind.factor(2) * (1 - 1e-9) or lo >= top:
        return False, 0, 0
    p_lo = max(2, math.ceil(top / (top - lo) - 1e-9)) if lo < top else math.inf
    p_hi = math.floor(top / (top - hi) + 1e-9) if hi < top else math.inf
    return p_lo <= p_hi, p_lo, p_hi


# --- launchers' command lines ----------------------------------------------------------

LAUNCHERS = {"mpirun", "mpiexec", "mpiexec.hydra", "orterun", "prterun", "srun", "mpirun_rsh", "aprun", "flux"}


def _opt(tokens, names):
    """The value of the first option in `names` (`-n 4`, `-n4`, `--ntasks=4`), as int."""
    for i, tok in enumerate(tokens):
        for name in names:
            value = None
            if tok == name and i + 1 < len(tokens):
                value = tokens[i + 1]
            elif name.startswith("--") and tok.startswith(name + "="):
                value = tok[len(name) + 1:]
            elif len(name) == 2 and tok.startswith(name) and tok[2:].isdigit():
                value = tok[2:]
            if value is not None and value.isdigit():
                return int(value)
    return None


def jobspec_facts(text: str) -> dict:
    """A Flux jobspec (JSON) printed in the log: nodes x slots x tasks per slot."""
    try:
        doc = json.loads(text)
        node = next(r for r in doc["resources"] if r.get("type") == "node")
        slot = next(r for r in node.get("with", []) if r.get("type") == "slot")
        count = doc["tasks"][0]["count"]
        per = count.get("per_slot")
        ranks = count.get("total") or (node["count"] * slot["count"] * per if per else None)
        return {k: v for k, v in (("nranks", ranks), ("nnodes", node["count"])) if isinstance(v, int) and v > 0}
    except (ValueError, KeyError, TypeError, IndexError, StopIteration, AttributeError):
        return {}


def _nccl_tests_args(tokens) -> int | None:
    """GPUs one nccl-tests process drives (-g x -t), when the command runs an nccl-tests binary."""
    at = next((i for i, t in enumerate(tokens) if t.rsplit("/", 1)[-1].removesuffix("_mpi") in BINARIES), None)
    if at is None:
        return None
    args = tokens[at + 1:]
    return (_opt(args, ("-g", "--ngpus")) or 1) * (_opt(args, ("-t", "--nthreads")) or 1)


def launcher_facts(command: str) -> dict:
    """What a launcher (or a Flux jobspec, or a bare nccl-tests command: one process) was
    asked for: {'nranks': n, 'nnodes': n}, either may be missing."""
    if command.startswith("{"):
        return jobspec_facts(command)
    if command.startswith("#SBATCH "):
        command = "srun " + command[len("#SBATCH "):]
    try:
        tokens = shlex.split(command, comments=False)
    except ValueError:
        tokens = command.split()
    per_process = _nccl_tests_args(tokens)
    starts = [i for i, t in enumerate(tokens) if t.rsplit("/", 1)[-1] in LAUNCHERS]
    if not starts:  # ./build/sendrecv_perf -g 8: one process on one node
        return {"nranks": per_process, "nnodes": 1} if per_process else {}
    name, args = tokens[starts[0]].rsplit("/", 1)[-1], tokens[starts[0] + 1:]
    out = {}
    if name in ("srun", "flux"):  # flux run|submit|mpi: the same -N, -n, --tasks-per-node
        nodes, tasks = _opt(args, ("-N", "--nodes")), _opt(args, ("-n", "--ntasks"))
        per_node = _opt(args, ("--ntasks-per-node", "--tasks-per-node"))
        if tasks is None and nodes and per_node:
            tasks = nodes * per_node
        out = {"nranks": tasks, "nnodes": nodes}
    elif name == "aprun":
        out = {"nranks": _opt(args, ("-n",))}
    else:
        n = _opt(args, ("-np", "-n", "--np", "-c"))
        ppn = _opt(args, ("-npernode", "--npernode", "-ppn", "--ppn", "-perhost", "-N"))
        ppn = 1 if not ppn and ("-pernode" in args or "--pernode" in args) else ppn
        m = re.search(r"ppr:(\d+):node", command)
        ppn = int(m.group(1)) if m and not ppn else ppn
        out = {"nranks": n}
        if n and ppn and n % ppn == 0:
            out["nnodes"] = n // ppn
        if name == "mpirun_rsh" and n:  # mpirun_rsh -np 2 hostA hostA prog
            i = args.index(str(n)) + 1 if str(n) in args else len(args)
            hosts = [t for t in args[i:i + n] if re.fullmatch(r"[A-Za-z][\w.-]*", t)]
            if len(hosts) == n:
                out["nnodes"] = len(set(hosts))
    if out.get("nranks") and per_process:
        out["nranks"] *= per_process
    return {k: v for k, v in out.items() if v}


def said_by(soft: dict) -> str:
    command = soft["command"]
    if command.startswith("{"):
        return "the Flux jobspec in the log"
    return f"the job script's directives ({command[:60]})" if command.startswith("#SBATCH") else \
        f"the command line ({command[:60]})"


def from_commands(commands) -> dict:
    for command in commands:
        facts = launcher_facts(command)
        if facts:
            return {**facts, "command": command}
    return {}


def kinds_named(text: str) -> set:
    """Collectives a file names by binary (all_reduce_perf, alltoall_perf_mpi)."""
    found = set()
    for m in re.finditer(r"\b(\w+_perf)(?:_mpi)?\b", text):
        if m.group(1) in BINARIES:
            found.add(BINARIES[m.group(1)])
    return found


def kinds_worded(text: str) -> set:
    """Collectives a file names in words (`-t all_gather`, 'AllReduce')."""
    return {WORDS[w.lower()] for w in re.findall(r"(?<![\w-])(" + "|".join(WORDS) + r")(?![\w-])", text,
                                                 flags=re.IGNORECASE)}


def describe(kinds) -> str:
    return " or ".join(sorted(kinds))


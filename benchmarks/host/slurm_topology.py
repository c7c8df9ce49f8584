"""Which switch or block each host sits under, as Slurm's topology says (`scontrol show
topology`): the lowest switch that lists a host (its leaf switch: the rack) or the block
(an NVLink domain such as a GB200 NVL72 rack) is the host's domain (collectives/domains.py).

What Slurm prints, one entry a line:

- topology/tree (every version; 22.05 prints upper switches with the nodes below them):
  `SwitchName=s0 Level=0 LinkSpeed=1 Nodes=n[1-2]`,
  `SwitchName=top Level=1 LinkSpeed=1 Nodes=n[1-4] Switches=s[0-1]`;
- topology/block (23.11 and later): `BlockName=b1 BlockIndex=0 Nodes=n[1-18]`, with
  ` BlockSize=18` from 24.05, and `AggregatedBlock=b[1-2] BlockIndex=2 Nodes=... BlockSize=36`
  for the larger blocks Slurm builds from base blocks (these sit one level above);
- topology/none (the default): nothing on stdout, exit status 0, and on stderr
  `scontrol: error: No topology information available`.

Lines that are not an entry (a shell prompt copied with the output, blank lines) are skipped.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess

SCONTROL_TIMEOUT_S = 10.0
"""How long `scontrol show topology` may take: without a reachable configuration scontrol
retries for 60 s, which a rank should not wait through."""

REASON_CHARS = 200
"""A reason is one line of at most about this many characters (scontrol's stderr, shortened)."""

_ENTRY_KINDS = {"SwitchName": ("switch", None), "BlockName": ("block", 0), "AggregatedBlock": ("block", 1)}
"""The key that starts an entry -> (kind, level; None: the entry's own Level=)."""

_BRACKET = re.compile(r"\[([^\[\]]*)\]")


def _split_top_level(text: str) -> list[str]:
    """`text` split at the commas outside brackets; ValueError on unbalanced brackets."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
            if depth > 1:
                raise ValueError(f"hostlist {text!r}: brackets inside brackets")
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"hostlist {text!r}: ']' without '['")
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise ValueError(f"hostlist {text!r}: '[' without ']'")
    items.append(text[start:])
    return items


def _expand_ranges(ranges: str, item: str) -> list[str]:
    """The numbers of one bracket group ('1-3,5' or '001-003'), zero padded to the width of
    each range's low end, as Slurm does; ValueError on anything else."""
    numbers = []
    for part in ranges.split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"hostlist item {item!r}: [{ranges}] holds {part!r}, not a number or a range a-b")
        high = high if dash else low
        if int(high) < int(low):
            raise ValueError(f"hostlist item {item!r}: range {part!r} runs backwards")
        numbers += [f"{i:0{len(low)}d}" for i in range(int(low), int(high) + 1)]
    return numbers


def expand_hostlist(text: str) -> list[str]:
    """Slurm's hostlist syntax expanded, without asking Slurm: `n[1-3,5]` -> n1 n2 n3 n5,
    `gpu[001-003]` keeps the padding, `a1,b[1-2]` mixes plain names and ranges, and
    `r[1-2]n[1-2]` -> r1n1 r1n2 r2n1 r2n2. An empty text is no host; bad syntax (unbalanced
    or nested brackets, an empty name, a range that is not numbers) raises ValueError."""
    text = text.strip()
    if not text:
        return []
    hosts = []
    for item in _split_top_level(text):
        if not item or any(c.isspace() for c in item):
            raise ValueError(f"hostlist {text!r}: an empty name or a space between commas")
        pieces = _BRACKET.split(item)  # literal, ranges, literal, ranges, ..., literal
        if any(c in "[]" for c in "".join(pieces[::2])):
            raise ValueError(f"hostlist item {item!r}: a bracket without its pair")
        choices = [[p] if i % 2 == 0 else _expand_ranges(p, item) for i, p in enumerate(pieces)]
        hosts += ["".join(parts) for parts in itertools.product(*choices)]
    return hosts


def _parse_entry(fields: dict, line: str) -> dict:
    """One entry from a line's key=value fields (the first key says its kind)."""
    key = next(iter(fields))
    if not fields[key]:
        raise ValueError(f"scontrol show topology line {line!r}: {key}= names nothing")
    kind, level = _ENTRY_KINDS[key]
    if level is None:
        try:
            level = int(fields.get("Level", "0"))
        except ValueError:
            raise ValueError(f"scontrol show topology line {line!r}: Level is not an integer") from None
    return {"name": fields[key], "kind": kind, "level": level,
            "nodes": expand_hostlist(fields.get("Nodes", "")),
            "switches": expand_hostlist(fields.get("Switches", ""))}


def parse_topology(text: str) -> list[dict]:
    """The entries of `scontrol show topology` output, in order: one dict per switch or block
    with name, kind ("switch" or "block"), level (a switch's Level=; a block 0, an aggregated
    block 1), nodes (expanded host names, [] if none) and switches (child switch names
    expanded, [] if none). Lines that do not start with SwitchName=, BlockName= or
    AggregatedBlock= are skipped; a bad hostlist or Level raises ValueError."""
    entries = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].split("=", 1)[0] not in _ENTRY_KINDS or "=" not in words[0]:
            continue
        fields = dict(word.split("=", 1) for word in words if "=" in word)
        entries.append(_parse_entry(fields, line.strip()))
    return entries


def host_domains(text: str, hosts: list[str]) -> dict[str, str]:
    """Each host of `hosts` -> the name of the lowest-level entry whose Nodes list it (its
    leaf switch, or its base block rather than an aggregated one; at equal level the first
    listed). A host given with a domain (gpu1.cluster) that Slurm lists by its short name
    (gpu1) is found by that. Hosts Slurm does not list are absent from the result."""
    return _domains_of(parse_topology(text), hosts)


def _domains_of(entries: list[dict], hosts: list[str]) -> dict[str, str]:
    """host_domains on entries already parsed."""
    lowest = {}  # Slurm node name -> (level, entry name)
    for entry in entries:
        for node in entry["nodes"]:
            if node not in lowest or entry["level"] < lowest[node][0]:
                lowest[node] = (entry["level"], entry["name"])
    found = {}
    for host in hosts:
        node = host if host in lowest else host.split(".", 1)[0]
        if node in lowest:
            found[host] = lowest[node][1]
    return found


def _one_line(text: str) -> str:
    """`text` (scontrol's stderr) as one shortened line for a reason."""
    line = " | ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return line if len(line) <= REASON_CHARS else line[:REASON_CHARS - 3] + "..."


def _run_scontrol(env) -> tuple[subprocess.CompletedProcess | None, str | None]:
    """(`scontrol show topology`'s result, None), or (None, why it could not be run)."""
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    scontrol = shutil.which("scontrol", path=path)
    if scontrol is None:
        return None, "scontrol is not on PATH: this is not a Slurm node, or Slurm's commands are not loaded"
    try:
        result = subprocess.run([scontrol, "show", "topology"], env=env, capture_output=True, text=True,
                                timeout=SCONTROL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"scontrol show topology gave no answer within {SCONTROL_TIMEOUT_S:g} s"
    except OSError as exc:
        return None, f"scontrol show topology could not be started: {exc.strerror or exc}"
    if result.returncode != 0:
        return None, f"scontrol show topology failed (exit {result.returncode}): {_one_line(result.stderr)}"
    return result, None


def read_slurm_domains(hosts: list[str], env=None) -> tuple[dict | None, str | None]:
    """slurm_domains without the domains' sizes."""
    mapping, _, why = slurm_domains(hosts, env)
    return mapping, why


def slurm_domains(hosts: list[str], env=None) -> tuple[dict | None, dict | None, str | None]:
    """(host -> domain, domain -> the nodes its switch or block lists in all, None) or
    (None, None, why): Ask Slurm which switch or block each host sits under: (host -> domain for every host,
    None), or (None, a one-line reason) when scontrol is missing, fails or times out, when no
    topology is configured (Slurm's default topology/none), or when some hosts are not in
    it. `env` is scontrol's environment (SLURM_CONF, PATH; None: this process's). Never raises
    for those: a run without Slurm's topology goes on without domains."""
    result, why = _run_scontrol(env)
    if why:
        return None, None, why
    try:
        entries = parse_topology(result.stdout)
    except ValueError as exc:
        return None, None, f"scontrol show topology printed what this cannot read: {_one_line(str(exc))}"
    if not entries:
        said = f" (scontrol: {_one_line(result.stderr)})" if result.stderr.strip() else ""
        return None, None, (f"no Slurm topology is configured (TopologyPlugin topology/none, or topology.conf "
                            f"lists no switch or block){said}")
    mapping = _domains_of(entries, hosts)
    missing = [h for h in dict.fromkeys(hosts) if h not in mapping]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        return None, None, f"host(s) {shown} not in Slurm's topology (no switch or block lists them)"
    sizes = {e["name"]: len(e["nodes"]) for e in entries if e["name"] in set(mapping.values())}
    return mapping, sizes, None

"""nccl-tests stdout, every layout it has printed, as runs of rows plus what the log says.
The formats in detail: docs/methods.md (`reports/importers/nccl_text.py`); the user's view: docs/reports.md (import)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .lines import clean

RANK = re.compile(r"^#\s*Rank\s+(\d+)\s+(?:Group\s+\d+\s+)?(?:Pid\s+\d+\s+)?on\s+(\S+)\s+device\s+\d+\s+\[[^\]]*\]\s*(.*)$")
HEADER = re.compile(r"^#?\s*(size|bytes)\s+(count|N)\s+type\b(.*)$")  # '#' lost in some docs' rendering
UNITS = re.compile(r"^#?\s*\(B\)")
ELIDED = re.compile(r"^(\.{3,}|…)\s*$")
STARTING = re.compile(r"^#\s*Collective test starting:\s*(\S+)")
CONCLUDED = re.compile(r"^#\s*Collective test concluded:\s*(\S+)")
NTHREAD = re.compile(r"^#\s*nThread\s+\d+")
TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d)$")
NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$", re.IGNORECASE)


@dataclass
class Row:
    line_no: int
    size: int
    count: int
    dtype: str
    op: str | None
    root: int | None
    placements: list
    """(in_place, time token, algbw token, busbw token, wrong token)"""


@dataclass
class Segment:
    first_line: int = 0
    last_line: int = 0
    rows: list = field(default_factory=list)
    ranks: dict = field(default_factory=dict)
    """rank index -> (host, device name)"""
    ranks_cut: bool = False
    """`...` right after the last Rank line: more ranks ran than are shown"""
    elided_rows: bool = False
    named: list = field(default_factory=list)
    columns: list | None = None
    time_unit: str | None = None
    settings: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    info_nranks: set = field(default_factory=set)
    info_nnodes: set = field(default_factory=set)
    nccl_env: dict = field(default_factory=dict)
    concluded: bool = False


def _is_number(tok: str) -> bool:
    return bool(NUMBER.match(tok))


def _row(line_no: int, tokens: list, seg: Segment) -> Row | None:
    size, count, dtype, rest = int(tokens[0]), int(tokens[1]), tokens[2], tokens[3:]
    while rest and TIMESTAMP.match(rest[-1]):
        rest.pop()  # -T timestamps
    cols = seg.columns
    op = None
    if rest and not _is_number(rest[0]) and rest[0] != "N/A":
        op = rest.pop(0)
    width = 8 if cols and "i_min" in cols else 4
    root = None
    has_root = ("root" in cols) if cols else len(rest) % width == 1
    if has_root and rest and re.fullmatch(r"-?\d+", rest[0]):
        root = int(rest.pop(0))
    if not rest or len(rest) % width or len(rest) // width > 2:
        return None
    placements = []
    groups = [rest[i:i + width] for i in range(0, len(rest), width)]
    for i, g in enumerate(groups):
        if not all(_is_number(t) for t in g[:3]) or not (_is_number(g[3]) or g[3] == "N/A"):
            return None
        placements.append((i == 1, g[0], g[1], g[2], g[3]))
    return Row(line_no, size, count, dtype, op, root, placements)


def _settings(line: str) -> dict:
    out = {}
    for key, value in re.findall(r"([A-Za-z][A-Za-z ]*?):?\s+(-?\d+(?:\(\w+\))?)", line.lstrip("# ")):
        out[key.strip().replace(" ", "_")] = value
    return out


def version_from_code(code: int) -> str:
    if code >= 20900:  # NCCL_VERSION_CODE = major*10000 + minor*100 + patch since 2.9
        return f"{code // 10000}.{code // 100 % 100}.{code % 100}"
    return f"{code // 1000}.{code // 100 % 10}.{code % 100}"


def segments(text: str) -> tuple[list[Segment], list[tuple[int, str]]]:
    """The runs in a file (one per `# Collective test starting`, `# nThread` line, table
    header or Rank line that follows rows, or rows whose sizes start again), and the
    cleaned lines."""
    lines = clean(text)
    split = _Splitter()
    for line_no, line in lines:
        stripped = line.strip()
        if stripped:
            split.read(line_no, stripped)
    split.segs[-1].last_line = lines[-1][0] if lines else 0
    return [s for s in split.segs if s.rows], lines


class _Splitter:
    """segments() line by line: the segments so far (the last one open) and whether the
    last line that counted was a Rank line (a `...` after it cuts the ranks, not rows)."""

    def __init__(self):
        self.segs = [Segment(first_line=1)]
        self.after_rank = False

    def read(self, line_no: int, stripped: str) -> None:
        """One non-blank line: a marker of nccl-tests' layout, else facts and maybe a row."""
        for pattern, handle in ((STARTING, self._starting), (CONCLUDED, self._concluded),
                                (NTHREAD, self._nthread), (RANK, self._rank), (ELIDED, self._elided),
                                (HEADER, self._header), (UNITS, self._units)):
            m = pattern.match(stripped)
            if m:
                handle(line_no, m, stripped)
                return
        _facts_in(stripped, self.segs[-1])
        if stripped.startswith("#"):
            self.after_rank = False
            return
        tokens = stripped.split()
        if len(tokens) >= 7 and tokens[0].isdigit() and tokens[1].isdigit() and re.fullmatch(r"[A-Za-z]\w*", tokens[2]):
            self._table_row(line_no, tokens)

    def _fresh(self, line_no: int, *after) -> Segment:
        """A new segment when the current one already has any of `after` (or rows)."""
        seg = self.segs[-1]
        if seg.rows or seg.concluded or any(getattr(seg, name) for name in after):
            seg.last_line = line_no - 1
            self.segs.append(Segment(first_line=line_no))
        return self.segs[-1]

    def _starting(self, line_no, m, stripped) -> None:
        self._fresh(line_no, "settings", "named").named.append(m.group(1))
        self.after_rank = False

    def _concluded(self, line_no, m, stripped) -> None:
        seg = self.segs[-1]
        seg.named.append(m.group(1))
        seg.concluded = True

    def _nthread(self, line_no, m, stripped) -> None:
        self._fresh(line_no, "settings").settings = _settings(stripped)
        self.after_rank = False

    def _rank(self, line_no, m, stripped) -> None:
        seg = self._fresh(line_no)
        seg.ranks[int(m.group(1))] = (m.group(2), m.group(3).strip())
        seg.ranks_cut = False
        self.after_rank = True

    def _elided(self, line_no, m, stripped) -> None:
        seg = self.segs[-1]
        if self.after_rank:
            seg.ranks_cut = True
        elif seg.rows:
            seg.elided_rows = True

    def _header(self, line_no, m, stripped) -> None:
        seg = self._fresh(line_no)
        seg.columns = stripped.lstrip("#").split()
        if seg.columns[0] == "bytes":
            seg.time_unit = "ms"  # the 2017 layout printed milliseconds
        self.after_rank = False

    def _units(self, line_no, m, stripped) -> None:
        self.segs[-1].time_unit = "ms" if "(ms)" in stripped else "us"

    def _table_row(self, line_no: int, tokens: list) -> None:
        """A line shaped as a result row (two integers and a type) that parses as one."""
        seg = self.segs[-1]
        row = _row(line_no, tokens, seg)
        if row is None:
            return
        last = seg.rows[-1] if seg.rows else None
        if last and 0 < last.size > row.size and (row.dtype, row.op) == (last.dtype, last.op):
            # sizes fall back with the same type and op: another table pasted on (a grep of
            # several runs, two outputs back to back), in the same layout
            seg = self._fresh(line_no)
            seg.columns, seg.time_unit = self.segs[-2].columns, self.segs[-2].time_unit
        seg.rows.append(row)
        self.after_rank = False


def _facts_in(line: str, seg: Segment) -> None:
    """Versions, NCCL's own rank and node counts, NCCL_* settings: wherever they appear."""
    m = re.search(r"#\s*nccl-tests version (\S+)(?: nccl-headers=(\d+) nccl-library=(\d+))?", line)
    if m:
        seg.versions["nccl_tests"] = m.group(1)
        if m.group(3):
            seg.versions.setdefault("nccl", version_from_code(int(m.group(3))))
        return
    m = re.search(r"NCCL version (\d+\.\d+\.\d+\S*)", line)
    if m:
        seg.versions["nccl"] = m.group(1)
    if "NCCL INFO" in line or "nRanks" in line or "NCCL_TESTS" in line:  # also alltoallv's summary: nranks=16
        m = re.search(r"\bn[Rr]anks[=\s]\s*(\d+)", line)
        if m:
            seg.info_nranks.add(int(m.group(1)))
        m = re.search(r"\bnNodes\s+(\d+)", line)
        if m:
            seg.info_nnodes.add(int(m.group(1)))
    for name, value in re.findall(r"\b(NCCL_[A-Z0-9_]+)=(\S+)", line):
        seg.nccl_env[name] = value
    m = re.search(r"NCCL INFO (NCCL_[A-Z0-9_]+) set by environment to (\S+)", line)
    if m:
        seg.nccl_env[m.group(1)] = m.group(2)

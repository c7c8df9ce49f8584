"""The one formatter of numbers, sizes, intervals and counts, for the printed tables and
the report alike. Missing values (None, NaN) print as "-" everywhere. docs/reports.md
says how each is written."""
from __future__ import annotations

import math

from collectives.sizes import format_size

MISSING = "-"


def missing(x) -> bool:
    """None or NaN (pandas' missing values are NaN floats)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x, digits: int = 3) -> str:
    """`digits` significant digits; inf as "inf"; missing as "-"."""
    if missing(x):
        return MISSING
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def fixed(x, decimals: int) -> str:
    """`decimals` places after the point (R^2 0.998, 12.3%); missing as "-"."""
    return MISSING if missing(x) else f"{x:.{decimals}f}"


def percent(fraction, decimals: int = 1) -> str:
    """A fraction as a percentage (0.477 -> 47.7%); missing as "-"."""
    return MISSING if missing(fraction) else f"{fraction:.{decimals}%}"


def pct(x, decimals: int = 1) -> str:
    """A value already in percent (a MAPE, a held-out error): 66.8%; missing as "-". The
    report writes every error this way, in its sentences and its tables alike."""
    return MISSING if missing(x) else f"{x:.{decimals}f}%"


def size(n) -> str:
    """Bytes in binary units (1 KiB, 16 MiB); missing as "-"."""
    return MISSING if missing(n) else format_size(int(n))


def interval(ci, digits: int = 3, compact: bool = False, open_high: str = "inf") -> str:
    """[lo, hi] at `digits` significant digits; a missing high end is `open_high` ("inf",
    "unbounded"); no interval at all is "-". `compact`: no space after the comma, for
    fixed-width tables."""
    if not ci or (missing(ci[0]) and missing(ci[1])):
        return MISSING
    high = open_high if missing(ci[1]) else num(ci[1], digits)
    return f"[{num(ci[0], digits)},{'' if compact else ' '}{high}]"


def cell(v) -> str:
    """A table cell: floats at 4 significant digits, other values as they are."""
    if missing(v):
        return MISSING
    return num(v, 4) if isinstance(v, float) else str(v)


def count(n: int, noun: str) -> str:
    """"1 node", "4 nodes"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

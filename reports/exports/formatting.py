"""How numbers are written into the exported files: fixed notation a YAML 1.1 reader takes
as a number, intervals in their comments, byte sizes in their notes. Part of each file's
format, not presentation (the verbs' tables and the report use reports/present/format.py,
which the exports sit below). docs/exports.md."""
from __future__ import annotations

import math


def num(x: float) -> str:
    """x in fixed notation with 9 significant digits (a YAML 1.1 reader takes 1e-05 for a string)."""
    if x == 0:
        return "0.0"
    digits = max(1, 8 - math.floor(math.log10(abs(x))))
    text = f"{x:.{digits}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def format_ci(ci, factor: float = 1.0) -> str:
    lo, hi = ci if ci else (None, None)
    if lo is None and hi is None:
        return "[-]"
    return f"[{'-' if lo is None else f'{lo * factor:.4g}'}, {'inf' if hi is None else f'{hi * factor:.4g}'}]"


def format_bytes(n) -> str:
    from collectives.sizes import format_size
    return format_size(n) if n is not None else "?"

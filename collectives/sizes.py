"""Byte sizes: parsing `8`, `64K`, `1M`, `1G` and printing them in binary units.

Suffixes are binary, as in nccl-tests (`-b 1M` is 1,048,576 bytes). Only an integer
followed by an optional K, M, G or T (case-insensitive, optional trailing `B` or `iB`) is
accepted; anything else raises ValueError naming the bad text.
"""
from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Return the number of bytes in `text` (`64K` -> 65536)."""
    match = _SIZE_RE.match(str(text))
    if match is None:
        raise ValueError(f"malformed size {text!r}: use an integer with an optional K, M, G or T suffix, e.g. 8, 64K, 1M")
    digits, unit, _ = match.groups()
    return int(digits) * _UNITS[unit.upper()]


def format_size(size_bytes: int) -> str:
    """Binary-unit text for a byte count: 1024 -> '1 KiB', 1536 -> '1.5 KiB', 8 -> '8 B'."""
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            break
        value /= 1024
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def size_series(min_bytes: int, max_bytes: int, step_factor: float) -> list[int]:
    """Sizes from min to max (inclusive) multiplying by `step_factor`, as nccl-tests -b/-e/-f.

    A size that would repeat (factor close to 1 at small sizes) advances by one byte so the
    series always terminates.
    """
    sizes = []
    size = min_bytes
    while size <= max_bytes:
        sizes.append(size)
        nxt = int(size * step_factor)
        size = nxt if nxt > size else size + 1
    return sizes

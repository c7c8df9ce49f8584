"""Element types a sweep can use, with the names nccl-tests prints and their sizes."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DType:
    name: str
    """Canonical name, used in records (`float32`)."""
    itemsize: int
    """Bytes per element."""
    is_float: bool
    """Floating point (the check compares values after conversion to float64)."""


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("float32", 4, True),
        DType("float64", 8, True),
        DType("float16", 2, True),
        DType("bfloat16", 2, True),
        DType("int32", 4, False),
        DType("int8", 1, False),
    )
}

_ALIASES = {
    "float": "float32", "fp32": "float32", "f32": "float32",
    "double": "float64", "fp64": "float64", "f64": "float64",
    "half": "float16", "fp16": "float16", "f16": "float16",
    "bf16": "bfloat16",
    "int": "int32", "i32": "int32",
    "char": "int8", "i8": "int8",
}


def get_dtype(name: str) -> DType:
    """Look up a dtype by canonical name or alias; unknown names raise KeyError."""
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in DTYPES:
        raise KeyError(f"unknown dtype {name!r}: choose from {', '.join(DTYPES)}")
    return DTYPES[key]

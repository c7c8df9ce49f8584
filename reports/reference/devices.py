"""A device name as a log or NVML prints it -> its vendor and generation, the unit the
reference set compares on ("same GPU generation": an H100 and an H200 are both Hopper)."""
from __future__ import annotations

import re
from dataclasses import dataclass

# (pattern on the upper-cased name, vendor, generation), first match wins: the longer
# names before the ones they contain (GB300 before B300 before B30, GH200 before H200).
_GENERATIONS = (
    (r"GB300|B300", "NVIDIA", "Blackwell Ultra"),
    (r"GB200|B200|B100|RTX PRO 6000 BLACKWELL", "NVIDIA", "Blackwell"),
    (r"GH200|H100|H200|H800|H20\b", "NVIDIA", "Hopper"),
    (r"L40S|L40\b|L4\b|RTX 40\d\d|RTX 6000 ADA", "NVIDIA", "Ada Lovelace"),
    (r"A100|A800|A30\b|A40\b|A10G?\b|RTX 30\d\d|RTX A\d000", "NVIDIA", "Ampere"),
    (r"V100|TITAN V", "NVIDIA", "Volta"),
    (r"T4\b|RTX 20\d\d", "NVIDIA", "Turing"),
    (r"P100|P40\b", "NVIDIA", "Pascal"),
    (r"MI35\dX?", "AMD", "CDNA 4"),
    (r"MI30\dX?|MI325X?", "AMD", "CDNA 3"),
    (r"MI2\d\dX?", "AMD", "CDNA 2"),
    (r"MI100", "AMD", "CDNA"),
    (r"GAUDI ?3", "Intel", "Gaudi 3"),
    (r"GAUDI ?2", "Intel", "Gaudi 2"),
)


@dataclass(frozen=True, slots=True)
class Device:
    name: str | None
    """As stated (a log's Rank lines, NVML, the source), or None when nothing says."""
    vendor: str | None
    generation: str | None
    """'Hopper', 'Ampere', ..., 'CPU' for runs on host memory, None when unknown."""

    @property
    def label(self) -> str:
        if self.generation == "CPU":
            return self.name or "CPU"
        return f"{self.name} ({self.generation})" if self.name and self.generation else (self.name or "unknown")


def device_name(meta: dict) -> str | None:
    """The GPU model a run's meta names: an import's `gpu` (the first where a log names
    several), a measured run's NVML names; None where neither says."""
    gpu = meta.get("gpu")
    if isinstance(gpu, list):
        gpu = gpu[0] if gpu else None
    if gpu:
        return str(gpu)
    names = (meta.get("versions") or {}).get("gpus") or []
    names = [n if isinstance(n, str) else (n or {}).get("name") for n in names]
    return next((n for n in names if n), None)


def classify(name: str | None, memory: str = "device") -> Device:
    """The device a run used: `memory` 'host' (buffers in CPU memory) is the CPU class
    whatever the machine's GPUs; an unrecognised GPU name keeps its name, generation None."""
    if memory == "host":
        return Device(name or "CPU", None, "CPU")
    if not name:
        return Device(None, None, None)
    upper = name.upper()
    for pattern, vendor, generation in _GENERATIONS:
        if re.search(pattern, upper):
            return Device(name, vendor, generation)
    return Device(name, None, None)

"""model.json's measured network as input files of planning tools: ASTRA-sim, SimAI, Calculon.

Pure conversion: the functions take the model.json dict (reports/model/store.py) and
return an Export (the target's text, a side document written as FILE + SIDE_SUFFIX, a
summary line); `commscale export` (benchmarks/cli/export.py) reads and writes the files.
One module per target (astra_sim.py, simai.py, calculon.py, each with the function of its
name) over the shared network of dimensions (network.py). What each target gets, the
units and the readers checked: docs/exports.md."""
from __future__ import annotations

from pathlib import Path

from collectives.registry import COLLECTIVES

from . import astra_sim, calculon, simai
from .network import ExportError
from .output import SIDE_SUFFIX, Export
from reports.model.store import ModelFileError, read_document

__all__ = ["TARGETS", "SIDE_SUFFIX", "EXPORTERS", "ExportError", "export", "read_model"]
TARGETS = ("astra-sim", "simai", "calculon")
EXPORTERS = {"astra-sim": astra_sim.astra_sim, "simai": simai.simai, "calculon": calculon.calculon}
"""--to's name -> the function of the module named after the tool (the package's attributes
astra_sim, simai and calculon are those modules)."""


def read_model(path) -> tuple[dict, Path]:
    """(model.json's document, its path) from a run directory holding model.json or the file."""
    try:
        return read_document(path)
    except ModelFileError as exc:
        raise ExportError(str(exc)) from None


def export(model: dict, target: str, collective="all_reduce", backend=None, dtype=None, nodes=None) -> Export:
    if target not in EXPORTERS:
        raise ExportError(f"unknown target {target!r}: choose --to from {', '.join(TARGETS)}")
    if collective not in COLLECTIVES:
        raise ExportError(f"unknown collective {collective!r}: choose --collective from {', '.join(COLLECTIVES)}")
    return EXPORTERS[target](model, collective, backend, dtype, nodes)

"""model.json's measured network as input files of planning tools: ASTRA-sim, SimAI, Calculon.

Pure conversion: the functions take the model.json dict (reports/model/store.py) and
return an Export (the target's text, a side document written as FILE + SIDE_SUFFIX, a
summary line); `commscale export` (benchmarks/cli/export.py) reads and writes the files.
One module per target (astra_sim.py, simai.py, calculon.py, each with the function of its
name) over the shared network of dimensions (network.py). What each target gets, the
units and the readers checked: docs/exports.md."""
from __future__ import annotations

import json
from pathlib import Path

from collectives.registry import COLLECTIVES

from . import astra_sim, calculon, simai
from .network import ExportError
from .output import SIDE_SUFFIX, Export

__all__ = ["TARGETS", "SIDE_SUFFIX", "EXPORTERS", "ExportError", "export", "read_model"]
TARGETS = ("astra-sim", "simai", "calculon")
EXPORTERS = {"astra-sim": astra_sim.astra_sim, "simai": simai.simai, "calculon": calculon.calculon}
"""--to's name -> the function of the module named after the tool (the package's attributes
astra_sim, simai and calculon are those modules)."""


def read_model(path) -> tuple[dict, Path]:
    """(model.json's dict, its path) from a run directory holding model.json or the file."""
    path = Path(path)
    file = path / "model.json" if path.is_dir() else path
    if not file.is_file():
        raise ExportError(f"{str(path)!r} holds no model.json: run 'commscale fit {path}' first")
    try:
        model = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{str(file)!r} is not a readable model.json ({exc}): write it again with "
                          f"'commscale fit {file.parent}'") from None
    if not isinstance(model, dict) or model.get("schema_version") != 1 or "fits" not in model:
        raise ExportError(f"{str(file)!r} is not a model.json of schema_version 1: write it again with "
                          f"'commscale fit {file.parent}'")
    return model, file


def export(model: dict, target: str, collective="all_reduce", backend=None, dtype=None, nodes=None) -> Export:
    if target not in EXPORTERS:
        raise ExportError(f"unknown target {target!r}: choose --to from {', '.join(TARGETS)}")
    if collective not in COLLECTIVES:
        raise ExportError(f"unknown collective {collective!r}: choose --collective from {', '.join(COLLECTIVES)}")
    return EXPORTERS[target](model, collective, backend, dtype, nodes)

"""Every workload preset, one name set for `crossover` and `plan`: the one-collective
workloads the crossover prices (workloads.PRESETS) and the training steps the plan prices
(llm.TRAINING_PRESETS), each with the verb that takes it and its fields. `commscale
workloads` lists them; each verb, given the other's preset, names the verb that takes it."""
from __future__ import annotations

from dataclasses import dataclass

from .llm import TRAINING_PRESETS
from .workloads import KINDS, PRESETS


STEP_FIELDS_FIRST = ("layers", "hidden", "heads", "experts", "top_k", "tp", "pp", "ep", "global_batch", "seq", "dtype")
"""A training step's fields that tell presets apart, listed first."""


@dataclass(frozen=True)
class Preset:
    name: str
    verb: str
    """'crossover' (one collective) or 'plan' (a training step)"""
    kind: str
    collective: str
    """the collective the crossover prices; 'per kind' for a training step"""
    fields: dict
    """the preset's own fields (a training step's defaults are llm.LLM's)"""


def presets() -> list[Preset]:
    """Every preset, the crossover's first, in the order they are defined."""
    one = [Preset(name, "crossover", d["kind"], KINDS[d["kind"]][0], {k: v for k, v in d.items() if k != "kind"})
           for name, d in PRESETS.items()]
    step = [Preset(name, "plan", "llm", "per kind (tp, ep, pp, dp)", _step_fields(d))
            for name, d in TRAINING_PRESETS.items()]
    return one + step


def _step_fields(d: dict) -> dict:
    first = {k: d[k] for k in STEP_FIELDS_FIRST if k in d}
    return {**first, **{k: v for k, v in d.items() if k not in first and k != "kind"}}


def preset(name: str) -> Preset | None:
    return next((p for p in presets() if p.name == name), None)


def names(verb: str | None = None) -> list[str]:
    return [p.name for p in presets() if verb in (None, p.verb)]

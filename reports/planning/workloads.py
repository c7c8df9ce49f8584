"""Workloads for the crossover: what one training step computes and communicates per GPU.
The method: docs/methods.md (`reports/planning/workloads.py`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .files import SpecError, read_spec
from .llm import TRAINING_PRESETS

KINDS = {
    "data_parallel": ("all_reduce", ("params", "bytes_per_param", "global_tokens"), 2 / 3),
    "moe_all_to_all": ("all_to_all", ("tokens", "hidden", "top_k", "bytes_per_element", "layers", "flops_per_token"), 0.0),
    "tensor_parallel": ("all_reduce", ("tokens", "hidden", "layers", "bytes_per_element", "flops_per_token"), 0.0),
}

PRESETS = {
    "dryrun-small": {"kind": "data_parallel", "params": 10e6, "bytes_per_param": 4, "global_tokens": 65536,
                     "dtype": "float32"},
    "gpt2-small-dp": {"kind": "data_parallel", "params": 124e6, "bytes_per_param": 2, "global_tokens": 524288},
    "llama-7b-dp": {"kind": "data_parallel", "params": 6.74e9, "bytes_per_param": 2, "global_tokens": 4194304},
    "mixtral-8x7b-ep": {"kind": "moe_all_to_all", "tokens": 4194304, "hidden": 4096, "top_k": 2,
                        "bytes_per_element": 2, "layers": 32, "flops_per_token": 6 * 12.9e9},
    "llama-70b-tp": {"kind": "tensor_parallel", "tokens": 8192, "hidden": 8192, "layers": 80,
                     "bytes_per_element": 2, "flops_per_token": 6 * 70e9},
}


class WorkloadError(SpecError):
    """A workload that cannot be used; the message names the problem and the fix."""


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str
    fields: dict
    scaling: str
    dtype: str
    overlap: float

    @property
    def collective(self) -> str:
        return KINDS[self.kind][0]

    def step(self, nnodes: int, gpus_per_node: int) -> tuple[float, int, float]:
        """(FLOPs per GPU, messages per step, bytes per message) at this scale."""
        f, p = self.fields, nnodes * gpus_per_node
        grow = nnodes if self.scaling == "weak" else 1
        if self.kind == "data_parallel":
            return 6 * f["params"] * f["global_tokens"] * grow / p, 1, f["params"] * f["bytes_per_param"]
        if self.kind == "moe_all_to_all":
            t = f["tokens"] * grow / p
            return t * f["flops_per_token"], 4 * int(f["layers"]), t * f["top_k"] * f["hidden"] * f["bytes_per_element"]
        return (f["tokens"] * f["flops_per_token"] / p, 4 * int(f["layers"]),
                f["tokens"] * f["hidden"] * f["bytes_per_element"])


def _number(value):
    """PyYAML (YAML 1.1) reads 1e6 and 1.0e6 as strings: take them as the numbers meant."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def load_workload(spec: str, overrides: dict | None = None) -> Workload:
    """A preset name, a kind (data_parallel or data-parallel, ...: its fields all from
    `overrides`), or a JSON/YAML file, with command-line overrides (None values ignored)."""
    kind_named = spec.strip().lower().replace("-", "_")
    if spec in PRESETS:
        data, name = dict(PRESETS[spec]), spec
    elif spec in TRAINING_PRESETS:
        data, name = {"kind": "llm"}, spec
    elif kind_named in KINDS and not Path(spec).is_file():
        data, name = {"kind": kind_named}, kind_named
    else:
        path = Path(spec)
        if not path.is_file():
            raise WorkloadError(f"workload {spec!r} is neither a preset ({', '.join(PRESETS)}), a kind "
                                f"({', '.join(KINDS)}) nor a file: name one ('commscale workloads' lists them), "
                                f"or a JSON/YAML file")
        try:
            data, name = read_spec(path), path.stem
        except SpecError as exc:
            raise WorkloadError(str(exc)) from None
        if not isinstance(data, dict):
            raise WorkloadError(f"{path} must hold one mapping of workload fields: see docs/model.md (workloads)")
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    kind = data.get("kind")
    if kind == "llm":
        raise WorkloadError(f"workload {name} is a training step (kind llm), priced per communication by "
                            f"commscale plan: run commscale plan RUN --workload {spec}")
    if kind not in KINDS:
        raise WorkloadError(f"workload kind {kind!r} is unknown: choose from {', '.join(KINDS)}")
    fields = {}
    for key in KINDS[kind][1]:
        value = _number(data.get(key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise WorkloadError(f"workload {name}: {key} must be a positive number, got {value!r}: set it "
                                f"(--{key.replace('_', '-')}, or {key} in the file)")
        fields[key] = float(value)
    known = {"kind", "name", "scaling", "dtype", "overlap", *KINDS[kind][1]}
    unknown = sorted(set(data) - known)
    if unknown:
        raise WorkloadError(f"workload {name}: unknown field(s) {', '.join(unknown)} for kind {kind}: "
                            f"use {', '.join(sorted(known))}")
    scaling = data.get("scaling", "strong")
    if scaling not in ("strong", "weak") or (kind == "tensor_parallel" and scaling == "weak"):
        raise WorkloadError(f"workload {name}: scaling {scaling!r}: use strong"
                            f"{'' if kind == 'tensor_parallel' else ' or weak'}")
    overlap = _number(data.get("overlap", KINDS[kind][2]))
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not 0 <= overlap <= 1:
        raise WorkloadError(f"workload {name}: overlap {overlap!r} must be a fraction from 0 to 1: e.g. 0.5")
    return Workload(str(data.get("name", name)), kind, fields, scaling, str(data.get("dtype", "bfloat16")),
                    float(overlap))

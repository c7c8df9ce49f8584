"""A training step of a transformer language model under tensor, pipeline, data and expert
parallelism: what one GPU computes and communicates (workload kind `llm`).
The method: docs/methods.md (`reports/planning/llm.py`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from .files import SpecError, read_spec

KINDS_ORDER = ("tp", "ep", "pp", "dp")
"""Communication kinds, innermost first."""
DEFAULT_OVERLAP = {"tp": 0.0, "ep": 0.0, "pp": 0.0, "dp": 1.0}
RECOMPUTE = ("none", "selective", "full")

_LLAMA3 = {"kind": "llm", "vocab": 128256, "seq": 8192, "gated_mlp": True, "sequence_parallel": True, "zero": 1,
           "recompute": "selective"}
TRAINING_PRESETS = {
    # Llama 3 shapes: "The Llama 3 Herd of Models" (Meta, 2024), Table 3; layouts after its Table 4
    "llama3-8b": {**_LLAMA3, "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 8, "ffn": 14336,
                  "tp": 1, "pp": 1, "global_batch": 512, "sequence_parallel": False},
    "llama3-70b": {**_LLAMA3, "layers": 80, "hidden": 8192, "heads": 64, "kv_heads": 8, "ffn": 28672,
                   "tp": 8, "pp": 4, "global_batch": 512},
    "llama3-405b": {**_LLAMA3, "layers": 126, "hidden": 16384, "heads": 128, "kv_heads": 8, "ffn": 53248,
                    "tp": 8, "pp": 16, "global_batch": 2048},
    # Mixtral 8x7B: Jiang et al. 2024, "Mixtral of Experts", Table 1
    "mixtral-8x7b": {"kind": "llm", "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 8, "ffn": 14336,
                     "gated_mlp": True, "experts": 8, "top_k": 2, "vocab": 32000, "seq": 4096, "tp": 2, "pp": 1,
                     "ep": 8, "global_batch": 1024, "sequence_parallel": True, "zero": 1, "recompute": "selective"},
    # small enough for a dry run on CPU ranks (float32, as gloo runs it)
    "dryrun-llm": {"kind": "llm", "layers": 4, "hidden": 512, "heads": 8, "seq": 512, "vocab": 8000, "tp": 2,
                   "pp": 2, "global_batch": 32, "dtype": "float32", "act_bytes": 4, "grad_bytes": 4,
                   "param_bytes": 4},
}


class TrainingError(SpecError):
    """A workload that cannot be used; the message names the problem and the fix."""


@dataclass(frozen=True)
class LLM:
    name: str
    layers: int
    hidden: int
    heads: int
    seq: int
    vocab: int
    global_batch: int
    kv_heads: int | None = None
    ffn: int | None = None
    gated_mlp: bool = False
    experts: int = 1
    top_k: int = 1
    tied_embeddings: bool = False
    tp: int = 1
    pp: int = 1
    ep: int = 1
    micro_batch: int = 1
    interleave: int = 1
    sequence_parallel: bool = False
    zero: int = 0
    recompute: str = "none"
    act_bytes: float = 2
    grad_bytes: float = 2
    param_bytes: float = 2
    overlap: dict = field(default_factory=lambda: dict(DEFAULT_OVERLAP))
    dtype: str = "bfloat16"
    kind: str = "llm"

    # -- the model's shape ------------------------------------------------------------
    @property
    def kv_dim(self) -> float:
        return self.hidden * (self.kv_heads or self.heads) / self.heads

    @property
    def ffn_width(self) -> int:
        return self.ffn or 4 * self.hidden

    @property
    def mlp_mats(self) -> int:
        return 3 if self.gated_mlp else 2

    def attention_params(self) -> float:
        h = self.hidden
        return h * (h + 2 * self.kv_dim) + h * h

    def expert_params(self) -> float:
        """One expert's MLP in one layer."""
        return self.mlp_mats * self.hidden * self.ffn_width

    def params(self) -> dict:
        """Parameter counts: dense (attention, embeddings, the MLP when not a mixture), experts."""
        moe = self.experts > 1
        per_layer_dense = self.attention_params() + (0 if moe else self.expert_params())
        per_layer_dense += self.hidden * self.experts if moe else 0  # the router
        embed = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        experts = self.layers * self.experts * self.expert_params() if moe else 0.0
        dense = self.layers * per_layer_dense + embed
        return {"dense": dense, "experts": experts, "total": dense + experts}

    # -- FLOPs ------------------------------------------------------------------------
    def layer_forward_flops_per_token(self) -> float:
        matmul = 2 * (self.attention_params() + self.expert_params() * self.top_k)
        return matmul + 4 * self.seq * self.hidden

    def step_flops(self) -> dict:
        """The whole job's FLOPs per step: `model` (3 passes) and `hardware` (with recomputation)."""
        tokens = self.global_batch * self.seq
        layer, logits = self.layers * self.layer_forward_flops_per_token(), 2 * self.hidden * self.vocab
        model = 3 * tokens * (layer + logits)
        extra = {"none": 0.0, "full": layer,
                 "selective": self.layers * 4 * self.seq * self.hidden}[self.recompute]
        return {"model": model, "hardware": model + tokens * extra}


def megatron_eq3_flops(batch: float, seq: float, layers: float, hidden: float, vocab: float) -> float:
    """Narayanan et al. (SC'21) eq. 3: FLOPs per step of a GPT model with full recomputation."""
    return 96 * batch * seq * layers * hidden ** 2 * (1 + seq / (6 * hidden) + vocab / (16 * layers * hidden))


@dataclass(frozen=True)
class Layout:
    """The parallel layout at one scale."""
    nnodes: int
    gpus_per_node: int
    dp: int
    microbatches: int
    problem: str | None = None
    """Why this scale cannot run this layout (None: it can)."""

    @property
    def ranks(self) -> int:
        return self.nnodes * self.gpus_per_node


def layout_at(w: LLM, nnodes: int, gpus_per_node: int) -> Layout:
    p = nnodes * gpus_per_node
    if p % (w.tp * w.pp):
        return Layout(nnodes, gpus_per_node, 0, 0, f"{p} GPUs are not a multiple of tp x pp = {w.tp * w.pp}")
    dp = p // (w.tp * w.pp)
    if dp % w.ep:
        return Layout(nnodes, gpus_per_node, dp, 0, f"dp {dp} is not a multiple of ep {w.ep}")
    per = dp * w.micro_batch
    if w.global_batch % per:
        why = "smaller than" if w.global_batch < per else "not a multiple of"
        return Layout(nnodes, gpus_per_node, dp, 0,
                      f"global batch {w.global_batch} is {why} dp {dp} x micro-batch {w.micro_batch}")
    return Layout(nnodes, gpus_per_node, dp, w.global_batch // per)


@dataclass(frozen=True)
class Comm:
    """One communication of a step: `count` calls of `collective` on `size_bytes` (nccl-tests'
    size) over a group of `group` ranks spaced `stride` ranks apart."""
    kind: str
    collective: str
    size_bytes: float
    count: float
    group: int
    stride: int


def group_shape(group: int, stride: int, gpus_per_node: int) -> tuple[int, int]:
    """(nodes, ranks per node) of a group of `group` ranks `stride` apart, ranks filling nodes in order."""
    if group * stride <= gpus_per_node:
        return 1, group
    per_node = max(1, gpus_per_node // stride)
    return math.ceil(group / per_node), min(per_node, group)


def communications(w: LLM, lay: Layout) -> list[Comm]:
    """Every communication of one GPU's step (the module docstring), in KINDS_ORDER."""
    m, act = lay.microbatches, w.micro_batch * w.seq * w.hidden * w.act_bytes
    stage_layers, out = w.layers / w.pp, []
    recompute = w.recompute == "full"
    if w.tp > 1:
        n = (6 if recompute else 4) * stage_layers * m
        if w.sequence_parallel:
            out += [Comm("tp", "reduce_scatter", act, n, w.tp, 1), Comm("tp", "all_gather", act, n, w.tp, 1)]
        else:
            out.append(Comm("tp", "all_reduce", act, n, w.tp, 1))
    if w.ep > 1 and w.experts > 1:
        tokens = w.micro_batch * w.seq / (w.tp if w.sequence_parallel else 1)
        out.append(Comm("ep", "all_to_all", tokens * w.top_k * w.hidden * w.act_bytes,
                        (6 if recompute else 4) * stage_layers * m, w.ep, w.tp))
    if w.pp > 1:
        out.append(Comm("pp", "sendrecv", act / w.tp, 2 * m * w.interleave, 2, w.tp * lay.dp))
    if lay.dp > 1:
        out += _data_parallel(w, lay)
    return out


def _data_parallel(w: LLM, lay: Layout) -> list[Comm]:
    p = w.params()
    shards = [(p["dense"] / (w.tp * w.pp), lay.dp)]
    if p["experts"]:
        shards.append((p["experts"] / (w.tp * w.pp * w.ep), lay.dp // w.ep))
    out = []
    for params, group in shards:
        if group < 2:
            continue
        grads, weights = params * w.grad_bytes, params * w.param_bytes
        if w.zero == 0:
            out.append(Comm("dp", "all_reduce", grads, 1, group, w.tp))
        elif w.zero in (1, 2):
            out += [Comm("dp", "reduce_scatter", grads, 1, group, w.tp),
                    Comm("dp", "all_gather", weights, 1, group, w.tp)]
        else:
            m = lay.microbatches
            out += [Comm("dp", "all_gather", weights, 2 * m, group, w.tp),
                    Comm("dp", "reduce_scatter", grads, m, group, w.tp)]
    return out


def bubble(w: LLM, lay: Layout) -> float:
    """The pipeline's idle fraction of its busy time: (pp - 1) / (interleave x m)."""
    return (w.pp - 1) / (w.interleave * lay.microbatches) if w.pp > 1 else 0.0


def window_fraction(w: LLM, kind: str, lay: Layout) -> float:
    """The share of a GPU's step compute a communication of this kind can hide under."""
    if kind == "dp" and w.zero < 3:
        return 1 / lay.microbatches
    return 1.0


# -- loading ---------------------------------------------------------------------------
_INTS = ("layers", "hidden", "heads", "seq", "vocab", "global_batch", "kv_heads", "ffn", "experts", "top_k", "tp",
         "pp", "ep", "micro_batch", "interleave", "zero")
_FLOATS = ("act_bytes", "grad_bytes", "param_bytes")
_BOOLS = ("gated_mlp", "tied_embeddings", "sequence_parallel")
REQUIRED = ("layers", "hidden", "heads", "seq", "vocab", "global_batch")


def _whole(name: str, key: str, value, minimum=1):
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < minimum:
        raise TrainingError(f"workload {name}: {key} must be a whole number >= {minimum}, got {value!r}: "
                            f"fix {key} in the file or --set {key}=N")
    return int(value)


def _overlap(name: str, value) -> dict:
    if value is None:
        return dict(DEFAULT_OVERLAP)
    if not isinstance(value, dict) or set(value) - set(DEFAULT_OVERLAP):
        raise TrainingError(f"workload {name}: overlap must map some of {', '.join(DEFAULT_OVERLAP)} to fractions, "
                            f"got {value!r}: e.g. {{\"dp\": 1, \"tp\": 0.5}}")
    out = dict(DEFAULT_OVERLAP)
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise TrainingError(f"workload {name}: overlap {k} = {v!r} must be a fraction from 0 to 1: e.g. 0.5")
        out[k] = float(v)
    return out


def training_from_dict(data: dict, name: str) -> LLM:
    """An LLM workload from its fields, checked; errors name the field and the fix."""
    data = dict(data)
    if data.get("kind", "llm") != "llm":
        raise TrainingError(f"workload {name} is of kind {data.get('kind')!r}, not llm: use commscale crossover for it")
    known = {f.name for f in fields(LLM)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrainingError(f"workload {name}: unknown field(s) {', '.join(unknown)}: use {', '.join(sorted(known))}")
    missing = [k for k in REQUIRED if data.get(k) is None]
    if missing:
        raise TrainingError(f"workload {name}: {', '.join(missing)} missing: set them in the file or with --set KEY=N")
    kw = {"name": str(data.get("name", name)), "dtype": str(data.get("dtype", "bfloat16"))}
    for k in _INTS:
        if data.get(k) is not None:
            kw[k] = _whole(name, k, data[k], 0 if k == "zero" else 1)
    for k in _FLOATS:
        if data.get(k) is not None:
            v = data[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise TrainingError(f"workload {name}: {k} must be a positive number, got {v!r}: e.g. 2 for bf16")
            kw[k] = float(v)
    for k in _BOOLS:
        if data.get(k) is not None:
            if not isinstance(data[k], bool):
                raise TrainingError(f"workload {name}: {k} must be true or false, got {data[k]!r}")
            kw[k] = data[k]
    kw["recompute"] = str(data.get("recompute", "none"))
    kw["overlap"] = _overlap(name, data.get("overlap"))
    w = LLM(**kw)
    _check(w)
    return w


def _check(w: LLM) -> None:
    if w.recompute not in RECOMPUTE:
        raise TrainingError(f"workload {w.name}: recompute {w.recompute!r}: use one of {', '.join(RECOMPUTE)}")
    if w.zero > 3:
        raise TrainingError(f"workload {w.name}: zero {w.zero}: use 0 (all-reduce), 1, 2 or 3 (FSDP)")
    if w.kv_heads and w.heads % w.kv_heads:
        raise TrainingError(f"workload {w.name}: heads {w.heads} is not a multiple of kv_heads {w.kv_heads}")
    if w.layers < w.pp * w.interleave:
        raise TrainingError(f"workload {w.name}: {w.layers} layers cannot fill pp {w.pp} x interleave {w.interleave} "
                            f"model chunks: lower pp or interleave")
    if w.top_k > w.experts:
        raise TrainingError(f"workload {w.name}: top_k {w.top_k} exceeds experts {w.experts}")
    if w.ep > 1 and w.experts % w.ep:
        raise TrainingError(f"workload {w.name}: experts {w.experts} do not split over ep {w.ep}: make ep divide them")


def _parse_value(text: str):
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text.strip()


def parse_sets(pairs) -> dict:
    """--set KEY=VALUE pairs as workload fields (overlap.dp=0.5 sets one overlap)."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise TrainingError(f"--set {pair!r} is not KEY=VALUE: e.g. --set tp=4")
        key = key.strip()
        if key.startswith("overlap."):
            out.setdefault("overlap", {})[key.split(".", 1)[1]] = _parse_value(value)
        else:
            out[key] = _parse_value(value)
    return out


def load_training(spec: str, sets: dict | None = None) -> LLM:
    """A preset name or a JSON/YAML file of kind llm, with `sets` (parse_sets) over its fields."""
    if spec in TRAINING_PRESETS:
        data, name = dict(TRAINING_PRESETS[spec]), spec
    else:
        path = Path(spec)
        if not path.is_file():
            raise TrainingError(f"workload {spec!r} is neither a training preset ({', '.join(TRAINING_PRESETS)}) "
                                f"nor a file: name one ('commscale workloads' lists them), or a JSON/YAML file "
                                f"with \"kind\": \"llm\"")
        try:
            data = read_spec(path)
        except SpecError as exc:
            raise TrainingError(str(exc)) from None
        if not isinstance(data, dict):
            raise TrainingError(f"{path} must hold one mapping of workload fields: see docs/plan.md (the workload)")
        name = path.stem
    sets = dict(sets or {})
    if "overlap" in sets:
        sets["overlap"] = {**(data.get("overlap") or {}), **sets["overlap"]}
    data.update(sets)
    return training_from_dict(data, name)

"""The training-step model (reports/planning/llm.py, reports/planning/training_plan.py) against published runs.

benchmarks/published/training_runs.json holds large-model training runs as their papers
report them (configuration and achieved TFLOP/s per GPU, each number with its source) and
the rates of the machines they ran on. For every run whose layout the model covers
(no context parallelism) and whose machine's network is stated, the model is fed the
published rates in place of measurements:

- compute: the GPU's dense BF16/FP16 peak (a GEMM never reaches it: the model's
  predictions are upper bounds on compute);
- communication (reports/planning/stated_rates.py): inside a node the all-reduce busbw NCCL's maintainers
  state for that node (230 GB/s DGX A100, 370 GB/s H100 ring), across nodes the per-GPU
  network rate (DGX A100: 192 GB/s measured per node over 8 NICs, 24 per GPU; H100 RoCE:
  the 400 Gb/s line rate, 50 GB/s per GPU), no latency.

Where a source leaves a setting out the script assumes one and prints it (`assumed`):
Megatron-LM SC'21 ran DDP after the pipeline flush with fp16 gradients (dp overlap 0,
grad_bytes 2), full recomputation where its Table 2 does not say; Llama 3's micro-batch is
1, its model chunks 1, its FSDP is ZeRO-2 (reduce-scatter the gradients, all-gather the
parameters once a step). Predicted TFLOP/s per GPU use the source's own convention
(hardware FLOPs with recomputation for SC'21, as its eq. 3; model FLOPs for Llama 3 MFU).

    python -m benchmarks.selfbench.published_training       # docs/guide.md's table
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from reports.planning.training_plan import Priced, plan_row
from reports.planning.stated_rates import rates_model
from reports.planning.llm import training_from_dict

DATA = Path(__file__).resolve().parents[1] / "published" / "training_runs.json"
COLLECTIVES = ("all_reduce", "reduce_scatter", "all_gather", "sendrecv", "all_to_all")
INTRA_RING_GBPS = {"selene_dgx_a100_80gb": 230.0, "meta_grand_teton_h100_roce": 370.0}
"""All-reduce busbw inside a node, ring (NCCL maintainers' figures, in the data file's busbw notes)."""


def machine(hw: dict, hw_id: str) -> dict | None:
    """The rates fed to the model, or None where the source does not state the network."""
    if hw_id not in INTRA_RING_GBPS or not hw.get("network_gbps_per_gpu_per_direction"):
        return None
    per_gpu = hw.get("busbw_allreduce_internode_dgx_a100_8x200g")
    per_gpu = per_gpu / hw["gpus_per_node"] if per_gpu else hw["network_gbps_per_gpu_per_direction"]
    return {"peak_tflops": hw["peak_tflops_bf16"], "gpus_per_node": hw["gpus_per_node"],
            "intra_gbps": INTRA_RING_GBPS[hw_id], "net_gbps_per_gpu": per_gpu}


def workload(run: dict) -> tuple[dict, list[str]]:
    """The llm workload of a published run, and what had to be assumed."""
    assumed = []
    fields = {k: run[k] for k in ("layers", "hidden", "heads", "seq", "vocab", "tp", "pp")}
    fields.update(kv_heads=run.get("kv_heads"), ffn=run.get("ffn"), gated_mlp=bool(run.get("gated_mlp")),
                  global_batch=run["global_batch_sequences"])
    if run.get("micro_batch") is None:
        assumed.append("micro-batch 1")
    fields["micro_batch"] = run.get("micro_batch") or 1
    if run.get("interleave_chunks") is None and run["pp"] > 1:
        assumed.append("1 model chunk")
    fields["interleave"] = run.get("interleave_chunks") or 1
    if run.get("recompute") is None:
        assumed.append("full recomputation")
    fields["recompute"] = run.get("recompute") or "full"
    if run["source"] == "narayanan2021":
        fields.update(zero=0, grad_bytes=2, overlap={"dp": 0.0})
    else:
        fields.update(zero=2, sequence_parallel=True)
        assumed.append("ZeRO-2, sequence parallel")
    return fields, assumed


def check(run: dict, hw: dict) -> dict:
    fields, assumed = workload(run)
    w = training_from_dict(fields, run["row"])
    priced = {c: Priced(c, rates_model(c, hw["intra_gbps"], hw["net_gbps_per_gpu"]), 1.0, None) for c in COLLECTIVES}
    G = hw["gpus_per_node"]
    row = plan_row(w, run["gpus"] // G, G, priced, hw["peak_tflops"], hw["peak_tflops"], 0)
    if not row.fits:
        raise ValueError(f"{run['row']}: {row.problem}")
    # SC'21 counts the recomputation (eq. 3: the plan's tflops_per_gpu); Llama 3 model FLOPs (MFU x peak)
    predicted = row.tflops_per_gpu if run["source"] == "narayanan2021" else row.mfu * hw["peak_tflops"]
    compute_only = predicted * row.step_ms / row.compute_ms
    comm = {k: v.exposed_ms / row.step_ms for k, v in row.kinds.items()}
    return {"source": run["source"], "row": run["row"], "gpus": run["gpus"], "layout": f"{w.tp}/{w.pp}/{row.dp}",
            "m": row.microbatches, "published": run["published_tflops_per_gpu"], "predicted": predicted,
            "compute_only": compute_only, "error_pct": (predicted / run["published_tflops_per_gpu"] - 1) * 100,
            "bubble": row.bubble / (1 + row.bubble), "exposed": comm, "assumed": assumed}


def table(data: dict) -> tuple[list[dict], list[str]]:
    rows, skipped = [], []
    for run in data["runs"]:
        hw = machine(data["hardware"][run["hardware"]], run["hardware"])
        if run.get("cp", 1) != 1:
            skipped.append(f"{run['source']} {run['row']}: context parallelism (cp {run['cp']}) is not in the model")
        elif hw is None:
            skipped.append(f"{run['source']} {run['row']}: the source does not state the network")
        else:
            rows.append(check(run, hw))
    return rows, skipped


def calibrate(rows: list[dict]) -> dict:
    """Per source, the median of published / predicted: the one factor the model leaves out
    (GEMMs below peak, the kernels that are not GEMMs); each row's error after it."""
    factors = {}
    for source in dict.fromkeys(r["source"] for r in rows):
        factors[source] = statistics.median(r["published"] / r["predicted"] for r in rows if r["source"] == source)
    for r in rows:
        r["calibrated_error_pct"] = (r["predicted"] * factors[r["source"]] / r["published"] - 1) * 100
    return factors


def format_table(rows: list[dict], skipped: list[str]) -> str:
    factors = calibrate(rows)
    lines = [f"{'source':<14} {'run':<26} {'GPUs':>6} {'t/p/d':>9} {'m':>4} {'published':>9} {'predicted':>9} "
             f"{'error':>7} {'x median':>8} {'no comm':>7} {'bubble':>6} {'exposed tp/pp/dp':>16}  assumed"]
    for r in rows:
        exp = "/".join(f"{r['exposed'].get(k, 0) * 100:.0f}" for k in ("tp", "pp", "dp"))
        lines.append(f"{r['source']:<14} {r['row'][:26]:<26} {r['gpus']:>6} {r['layout']:>9} {r['m']:>4} "
                     f"{r['published']:>9.4g} {r['predicted']:>9.4g} {r['error_pct']:>+6.0f}% "
                     f"{r['calibrated_error_pct']:>+7.1f}% {r['compute_only']:>7.4g} "
                     f"{r['bubble'] * 100:>5.1f}% {exp + ' %':>16}  {', '.join(r['assumed']) or '-'}")
    for source, factor in factors.items():
        mine = [r for r in rows if r["source"] == source]
        ratio = [r["published"] / r["predicted"] for r in mine]
        worst = max(abs(r["calibrated_error_pct"]) for r in mine)
        lines.append(f"# {source}: published / predicted median {factor:.3f}, range {min(ratio):.3f} to "
                     f"{max(ratio):.3f} over {len(ratio)} runs; after that one factor the largest error is "
                     f"{worst:.1f}%")
    lines += [f"# not checked: {s}" for s in skipped]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DATA), help="the published runs [benchmarks/published/training_runs.json]")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    data = json.loads(Path(args.data).read_text(encoding="utf-8"))
    rows, skipped = table(data)
    print(format_table(rows, skipped))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

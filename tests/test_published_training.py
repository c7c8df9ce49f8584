"""The training-step model against published runs (benchmarks/published/training_runs.json,
numbers kept as their sources print them) and the README's table made by
benchmarks/selfbench/published_training.py."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks.selfbench import published_training as pt

ROOT = Path(__file__).resolve().parent.parent
DATA = json.loads(pt.DATA.read_text(encoding="utf-8"))


def test_every_run_and_machine_names_its_source():
    for run in DATA["runs"]:
        source = DATA["sources"][run["source"]]
        assert source["url"].startswith("https://") and source.get("where")
        assert run["hardware"] in DATA["hardware"]
        assert run["tp"] * run["pp"] * run.get("cp", 1) * run["dp"] == run["gpus"], run["row"]
    for hw in DATA["hardware"].values():
        assert hw["sources"] and all(s["url"].startswith("https://") for s in hw["sources"])


def test_at_least_six_rows_from_two_sources_and_each_is_sane():
    rows, skipped = pt.table(DATA)
    assert len(rows) >= 6 and len({r["source"] for r in rows}) >= 2
    for r in rows:
        # communication and the bubble only ever slow a step below its compute-only rate
        assert 0 < r["predicted"] <= r["compute_only"] * (1 + 1e-12)
        assert r["published"] > 0
    assert all(": " in s for s in skipped)


def test_the_sc21_rows_follow_eq3():
    """SC'21's TFLOP/s count the recomputation (eq. 3): with no communication and no bubble
    the prediction is the peak exactly."""
    run = next(r for r in DATA["runs"] if r["source"] == "narayanan2021" and r["row"] == "1.7B")
    fields, _ = pt.workload(run)
    from reports.planning.llm import megatron_eq3_flops, training_from_dict
    w = training_from_dict(fields, "1.7B")
    assert w.step_flops()["hardware"] == pytest.approx(
        megatron_eq3_flops(run["global_batch_sequences"], run["seq"], run["layers"], run["hidden"], run["vocab"]))
    row = next(r for r in pt.table(DATA)[0] if r["row"] == "1.7B")
    assert row["compute_only"] == pytest.approx(DATA["hardware"][run["hardware"]]["peak_tflops_bf16"])


def test_the_readme_table_is_what_the_script_prints_now(capsys):
    readme = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- published-training:begin -->\n```\n(.*?)\n```\n<!-- published-training:end -->",
                      readme, re.S).group(1)
    assert pt.main([]) == 0
    assert block == capsys.readouterr().out.rstrip("\n")

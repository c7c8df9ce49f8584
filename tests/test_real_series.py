"""The real node-count series (tests/fixtures/real/series) and the README's table made from
them by benchmarks/selfbench/real_series.py."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks.selfbench import real_series

ROOT = Path(__file__).resolve().parent.parent
SERIES = json.loads(real_series.MANIFEST.read_text(encoding="utf-8"))
SOURCES = (real_series.MANIFEST.parent / "SOURCES.md").read_text(encoding="utf-8") + "\n".join(
    p.read_text(encoding="utf-8") for p in real_series.REAL.glob("SOURCES*.md"))


@pytest.mark.parametrize("entry", SERIES, ids=[e["id"] for e in SERIES])
def test_each_series_is_sourced_and_imports_at_several_scales(entry):
    for item in entry["files"]:
        assert (real_series.REAL / item["path"]).is_file()
        assert Path(item["path"]).name in SOURCES or entry["id"] in SOURCES
    df = real_series.load_series(entry)
    assert df["nranks"].notna().all() and df["nranks"].nunique() >= 2
    assert set(df["collective"]) == {entry["collective"]}


def test_the_readme_table_is_what_the_script_prints_now():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- real-series:begin -->\n(.*?)\n<!-- real-series:end -->", readme, re.S).group(1)
    rows = real_series.run()
    assert block == f"{real_series.table(rows)}\n\n{real_series.summary(rows)}"
    assert len(rows) >= 2 * len(SERIES) - 10  # nccl-tests logs give in- and out-of-place rows


def test_the_largest_scale_takes_no_part_in_its_own_prediction():
    """Tripling every time at the predicted scale changes what was measured there, never
    what was predicted (the fit, its family, cuts and tiers come from the smaller scales)."""
    entry = next(e for e in SERIES if e["id"] == "nccl-abci-v100-allreduce")
    df = real_series.load_series(entry)
    before = real_series.predict_largest(entry, df)
    top = df["nranks"] == df["nranks"].max()
    slowed = df.copy()
    for col in ("time_us_mean", "time_us_median"):
        slowed.loc[top, col] = slowed.loc[top, col] * 3
    slowed.loc[top, "busbw_gbps"] = slowed.loc[top, "busbw_gbps"] / 3
    after = real_series.predict_largest(entry, slowed)
    for b, a in zip(before, after):
        assert a["predicted_busbw_gbps"] == pytest.approx(b["predicted_busbw_gbps"], rel=1e-12)
        assert a["predicted_busbw_ci"] == pytest.approx(b["predicted_busbw_ci"], rel=1e-12)
        assert a["measured_busbw_gbps"] == pytest.approx(b["measured_busbw_gbps"] / 3)
        assert a["error_pct"] != pytest.approx(b["error_pct"])


def test_a_one_node_fit_predicting_two_nodes_says_flat_and_errs_honestly():
    """Snellius: 1 node (NVLink) predicting 2 nodes (InfiniBand). The flat fit knows no
    network; the row must still be there, with its large error, not dropped."""
    entry = next(e for e in SERIES if e["id"] == "nccl-snellius-h100-allreduce")
    rows = real_series.predict_largest(entry, real_series.load_series(entry))
    assert {r["model"] for r in rows} == {"flat"}
    assert all(r["error_pct"] > 50 for r in rows)

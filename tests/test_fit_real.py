"""The model on real logs (tests/fixtures/real): at one rank count the cost families cannot
be told apart, so none is claimed and the bandwidth is in busbw units; where a log's
largest size is bandwidth-bound, the busbw asymptote is within 0.97..1.3 of its busbw there."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from collectives.records import FIELDS, make_record
from conftest import commscale_here
from reports.model.fit import fit_frame
from reports.importers import parse
from test_import_real import REAL, REAL_LOGS, _fmt


def _single_rank_count_runs():
    for name, flags, _, _ in REAL_LOGS:
        for i, run in enumerate(parse(REAL / name, _fmt(name), dict(flags))):
            df = pd.DataFrame([make_record(run_id="r", timestamp="t", **p) for p in run["points"]], columns=list(FIELDS))
            ok = df[(df["status"] == "ok") & (df["size_bytes"].fillna(0) > 0) & (df["nranks"].fillna(0) >= 2)]
            if ok["nranks"].nunique() == 1 and ok["size_bytes"].nunique() >= 6 and run["collective"] in (
                    "all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce", "sendrecv"):
                yield f"{name[:50]}-{i}", df


CASES = list(_single_rank_count_runs())


def test_there_are_enough_single_rank_count_logs():
    assert len(CASES) >= 60


@pytest.mark.parametrize("label,df", CASES, ids=[c[0] for c in CASES])
def test_one_rank_count_claims_no_family_and_gives_busbw_units(label, df):
    for fit in fit_frame(df, 50):
        for regime in fit.regimes:
            assert not regime.identified
            # the family whose B(p) is the busbw factor: its bandwidth is the busbw asymptote
            p = regime.nranks[0]
            assert regime.family.data(p) == pytest.approx(regime.factor(p))
            if regime.theta[1] > 0:
                assert regime.busbw_asymptote() == pytest.approx(1e-3 / regime.theta[1])
        assert fit.heldout_mape_pct is None


def _log_top(df: pd.DataFrame):
    """From the log's own numbers, for one key: (busbw at the largest size, whether that size
    is bandwidth-bound). Bandwidth-bound: the latency share there, (q - 1) / (r - 1) from the
    last two sizes (r their ratio, q their busbw ratio; exact for T = a + b n), is at most
    20%, and the busbw there is at least 97% of the log's peak (not a fall at the end)."""
    ok = df[(df["status"] == "ok") & (df["size_bytes"].fillna(0) > 0)].groupby("size_bytes")["busbw_gbps"].mean()
    (n1, b1), (n2, b2) = ok.iloc[-2:].items()
    share = (b2 / b1 - 1) / (n2 / n1 - 1)
    return b2, bool(share <= 0.2 and b2 >= 0.97 * ok.max())


def _keys():
    for label, df in CASES:
        for place, part in df.groupby("in_place"):
            top, bound = _log_top(part)
            reason = ASYMPTOTE_MISSES.get(f"{label}-{'in' if place else 'out'}")
            if bound:
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(part, top, id=f"{label}-{'in' if place else 'out'}", marks=marks)


# Bandwidth-bound at the largest size by the rule above, yet outside the band (strict: the
# test fails once they pass, so the list stays true).
ASYMPTOTE_MISSES = {
    "osu_reduce+reduce_scatter_multi_host_8ranks_1nodes-1-out":
        "1.50: the top regime (128 KiB..1 MiB, 4 sizes) holds two slow points, 256 KiB slower than 512 KiB",
    "osu_alltoall_heldout3-02_cuda-srun-prompt__eth-csc-0-out":
        "1.33: busbw still rises 1.6x from 4 to 8 MiB (latency share 18% by the rule, 23% by the fit)",
}


@pytest.mark.parametrize("df,top_busbw", list(_keys()))
def test_busbw_asymptote_is_near_the_logs_busbw_where_its_largest_size_is_bandwidth_bound(df, top_busbw):
    fits = fit_frame(df, 50)
    assert len(fits) == 1
    regime = fits[0].regimes[-1]
    assert not regime.identified
    assert 0.97 <= regime.busbw_asymptote() / top_busbw <= 1.3
    assert regime.asymptote_reached


def test_most_logs_are_bandwidth_bound_at_their_largest_size():
    assert len(list(_keys())) >= 90


def test_fit_marks_an_asymptote_the_log_never_reached(tmp_path):
    """OSU to 1 MiB on 2 GPUs (MVAPICH2-GDR): from 32 KiB up the time is 460-630 us, mostly
    fixed cost, so the top regime's asymptote extrapolates far past the data; an nccl-tests
    log to 4 GiB reaches its asymptote (its lower regimes' do not: they are latency-bound).
    """
    for name, fmt, reached in (
            ("osu_allreduce_cuda_1node_2gpus_v5.9_mvapich2-gdr2.3.7_interleaved-warnings__OSU-Nowlab-MPI4DL.txt", "osu",
             False),
            ("all_reduce_16xA100_2nodes_CRLF-no-rank-lines-old-error-col__NVIDIA-deepops.txt", "nccl-tests", True)):
        run = tmp_path / fmt
        flags = dict(next(f for n, f, _, _ in REAL_LOGS if n == name))
        extra = [x for k, v in flags.items() for x in (f"--{k}", str(v))]
        assert commscale_here("import", REAL / name, "--format", fmt, "--out", run, *extra).returncode == 0
        result = commscale_here("fit", run, "--out", run, "--bootstrap", "50")
        assert result.returncode == 0, result.stderr
        fits = json.loads((run / "model.json").read_text())["fits"]
        top = max(fits, key=lambda e: e["size_bytes_max"] if not e["in_place"] else 0)
        assert top["busbw_asymptote_reached"] is reached
        if not reached:
            assert "# * asymptote not reached" in result.stdout

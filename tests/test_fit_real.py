"""The model on real logs (tests/fixtures/real): at one rank count the cost families cannot
be told apart, so none is claimed and the bandwidth is in busbw units."""
from __future__ import annotations

import pandas as pd
import pytest

from collectives.records import FIELDS, make_record
from reports.fit import fit_frame
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
